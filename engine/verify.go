package engine

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Verification (docs/security.md#verification): anyone holding the log's
// bytes and the signing key's public half can check, without trusting
// stafetd, that every message matches its link, that each pathway's links
// run back to its first message without a gap or a fork, and that the
// log up to each checkpoint hashes to what the checkpoint signed.

// VerifyOptions say what Verify checks.
type VerifyOptions struct {
	// Pathway, if set, checks that pathway's messages and anchors them in
	// the checkpoints; the zero value checks every message.
	Pathway uuid.UUID
	// Keys are the public keys whose checkpoints count: the auditor's copy
	// of signing-key.pub (and earlier keys after a rotation).
	Keys []ed25519.PublicKey
	// Progress, if set, is called about every 100 000 messages.
	Progress func(VerifyReport)
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	// Messages read, and of those the ones checked against their links
	// (all, or the pathway's); Unchained were stored before the chain
	// began and are covered by the checkpoints only.
	Messages, Checked, Unchained uint64
	// ChainedFrom is where the chain began (the genesis checkpoint).
	ChainedFrom uint64
	// Checkpoints is how many checkpoints verified; AnchoredTo the last
	// sequence the newest of them covers. Messages after it are checked
	// against their links but not anchored yet.
	Checkpoints int
	AnchoredTo  uint64
	// MACs says whether the messages' MACs were checked too (only with
	// the deployment's chain key, Log.Verify).
	MACs bool
	// Mismatch is the first thing that does not match; nil if all does.
	Mismatch *Mismatch
}

// Mismatch names the first message (or checkpoint) that does not match.
type Mismatch struct {
	// Seq is the message's sequence in the event stream; for a
	// checkpoint, Checkpoint is set and Seq is the last sequence it
	// covers.
	Seq        uint64    `json:"seq"`
	Subject    string    `json:"subject,omitempty"`
	Pathway    uuid.UUID `json:"pathway,omitzero"`
	Checkpoint *uint64   `json:"checkpoint,omitempty"`
	Reason     string    `json:"reason"`
}

func (m *Mismatch) Error() string {
	if m.Checkpoint != nil {
		return fmt.Sprintf("checkpoint %d (through seq %d): %s", *m.Checkpoint, m.Seq, m.Reason)
	}
	return fmt.Sprintf("seq %d (%s): %s", m.Seq, m.Subject, m.Reason)
}

// Verify checks the log in js against its checkpoints (see above): the
// whole log, or one pathway. It reads the event and checkpoint streams
// and nothing else; an error means it could not read them, a mismatch is
// in the report.
func Verify(ctx context.Context, js jetstream.JetStream, opts VerifyOptions) (VerifyReport, error) {
	ev, err := js.Stream(ctx, EventStream)
	if err != nil {
		return VerifyReport{}, fmt.Errorf("engine: verify: %w", err)
	}
	cps, err := js.Stream(ctx, CheckpointStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return VerifyReport{Mismatch: &Mismatch{Reason: "the log has no checkpoints: nothing anchors it"}}, nil
	}
	if err != nil {
		return VerifyReport{}, fmt.Errorf("engine: verify: %w", err)
	}
	v := &verifier{events: ev, checkpoints: cps, opts: opts, chain: newChainer(nil)}
	return v.run(ctx)
}

// Verify is the package's Verify on this store's log, checking the
// messages' MACs too, with the store's signing key and trusted keys.
func (s *Log) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	if len(opts.Keys) == 0 {
		opts.Keys = s.trusted()
	}
	v := &verifier{events: s.stream, checkpoints: s.checkpoints, opts: opts, chain: newChainer(s.chainers.key)}
	return v.run(ctx)
}

type verifier struct {
	events, checkpoints jetstream.Stream
	opts                VerifyOptions
	chain               *chainer
	rep                 VerifyReport
	cps                 []Checkpoint
	// heads is each subject's last message so far, and its link.
	heads map[string]head
	// unauthentic are the messages checkpoints list as not stafetd's, by
	// the checkpoint that lists them.
	unauthentic map[uint64]uint64
}

type head struct {
	seq  uint64
	link Link
}

func (v *verifier) run(ctx context.Context) (VerifyReport, error) {
	v.rep.MACs = v.chain.mac != nil
	if err := v.readCheckpoints(ctx); err != nil || v.rep.Mismatch != nil {
		return v.rep, err
	}
	info, err := v.events.Info(ctx)
	if err != nil {
		return v.rep, fmt.Errorf("engine: verify: %w", err)
	}
	last := info.State.LastSeq
	v.heads = map[string]head{}
	var sum [32]byte
	next := 1 // the next checkpoint to meet (0 is the genesis, at 0)
	err = scanStream(ctx, v.events, EventSubjects, 1, last, func(seq uint64, subject string, h nats.Header, data []byte) error {
		v.rep.Messages++
		if n, ok := v.unauthentic[seq]; ok {
			_, pw, _ := SubjectPathway(subject)
			v.rep.Mismatch = &Mismatch{Seq: seq, Subject: subject, Pathway: pw,
				Reason: fmt.Sprintf("checkpoint %d lists it as not stored by stafetd: its chain MAC did not match when the checkpoint was signed", n)}
			return errStopScan
		}
		c, mm := v.message(seq, subject, h, data)
		if mm != nil {
			v.rep.Mismatch = mm
			return errStopScan
		}
		logHash(&sum, seq, c)
		for next < len(v.cps) && v.cps[next].To == seq {
			cp := v.cps[next]
			if b64(sum[:]) != cp.Log {
				n := cp.N
				v.rep.Mismatch = &Mismatch{Seq: seq, Checkpoint: &n, Reason: fmt.Sprintf("the log through seq %d does not hash to what the checkpoint signed: messages after the previous checkpoint (seq %d) were changed, left out or added, their links included", seq, v.cps[next-1].To)}
				return errStopScan
			}
			v.rep.Checkpoints++
			v.rep.AnchoredTo = seq
			next++
		}
		if v.opts.Progress != nil && v.rep.Messages%100_000 == 0 {
			v.opts.Progress(v.rep)
		}
		return nil
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	if err == nil && v.rep.Mismatch == nil && next < len(v.cps) {
		cp := v.cps[next]
		n := cp.N
		v.rep.Mismatch = &Mismatch{Seq: cp.To, Checkpoint: &n, Reason: fmt.Sprintf("the checkpoint covers the log through seq %d, but the log ends at %d: messages were removed", cp.To, last)}
	}
	if len(v.cps) > 0 && v.cps[0].N == 0 {
		v.rep.Checkpoints++ // the genesis, checked in readCheckpoints
	}
	return v.rep, err
}

// message checks one message and returns what it adds to the log hash.
func (v *verifier) message(seq uint64, subject string, h nats.Header, data []byte) ([32]byte, *Mismatch) {
	mm := func(why string) *Mismatch {
		m := &Mismatch{Seq: seq, Subject: subject, Reason: why}
		_, m.Pathway, _ = SubjectPathway(subject)
		return m
	}
	f, chained, err := parseChain(h)
	if err != nil {
		return [32]byte{}, mm(err.Error())
	}
	prev, _ := prevOf(h)
	if !chained {
		if seq >= v.rep.ChainedFrom {
			return [32]byte{}, mm("no chain header, but the chain began at seq " + fmt.Sprint(v.rep.ChainedFrom))
		}
		v.rep.Unchained++
		if v.mine(subject) {
			v.heads[subject] = head{seq: seq}
		}
		return v.chain.digest(subject, prev, data), nil
	}
	if !v.mine(subject) {
		return f.link, nil
	}
	v.rep.Checked++
	hd, seen := v.heads[subject]
	switch {
	case seen && prev != hd.seq:
		return f.link, mm(fmt.Sprintf("it follows seq %d, but its pathway's message before it is seq %d: a message was inserted, copied or left out", prev, hd.seq))
	case !seen && prev != 0:
		return f.link, mm(fmt.Sprintf("it follows seq %d, which is not on its pathway", prev))
	}
	d := v.chain.digest(subject, prev, data)
	if v.chain.link(hd.link, d) != f.link {
		return f.link, mm("its content does not match its link: a byte of it was changed")
	}
	if v.chain.mac != nil {
		if !v.chain.macMatches(f, subject, prev, data, &d) {
			return f.link, mm("its chain MAC does not match: not stored by this deployment's stafetd")
		}
	}
	v.heads[subject] = head{seq: seq, link: f.link}
	return f.link, nil
}

// mine reports whether the messages of subject are checked in full.
func (v *verifier) mine(subject string) bool {
	if v.opts.Pathway == uuid.Nil {
		return true
	}
	_, pw, ok := SubjectPathway(subject)
	return ok && pw == v.opts.Pathway
}

// readCheckpoints reads every checkpoint and checks their signatures and
// their own chain.
func (v *verifier) readCheckpoints(ctx context.Context) error {
	info, err := v.checkpoints.Info(ctx)
	if err != nil {
		return fmt.Errorf("engine: verify: %w", err)
	}
	if info.State.Msgs == 0 {
		v.rep.Mismatch = &Mismatch{Reason: "the log has no checkpoints: nothing anchors it"}
		return nil
	}
	var bad *Mismatch
	err = scanStream(ctx, v.checkpoints, checkpointSubject, info.State.FirstSeq, info.State.LastSeq, func(seq uint64, _ string, h nats.Header, data []byte) error {
		cp, err := ParseCheckpoint(data, h)
		n := uint64(len(v.cps))
		fail := func(why string) error {
			bad = &Mismatch{Seq: cp.To, Checkpoint: &n, Reason: why}
			return errStopScan
		}
		switch {
		case err != nil:
			return fail(err.Error())
		case cp.N != n:
			return fail(fmt.Sprintf("numbered %d: a checkpoint is missing or was added", cp.N))
		case cp.Verify(v.opts.Keys) != nil:
			return fail("its signature does not verify under the keys given")
		case n > 0 && cp.Prev != v.cps[n-1].Hash():
			return fail("it does not name the checkpoint before it")
		case n > 0 && cp.To < v.cps[n-1].To:
			return fail("it covers less of the log than the one before it")
		}
		cp.Seq = seq
		v.cps = append(v.cps, cp)
		for _, u := range cp.Unauthentic {
			if v.unauthentic == nil {
				v.unauthentic = map[uint64]uint64{}
			}
			v.unauthentic[u] = cp.N
		}
		return nil
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	if bad != nil {
		v.rep.Mismatch = bad
		return err
	}
	if err == nil {
		v.rep.ChainedFrom = v.cps[0].ChainedFrom
	}
	return err
}
