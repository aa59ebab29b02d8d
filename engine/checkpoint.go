package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Checkpoints anchor the log (docs/security.md#verification): every few
// minutes stafetd signs, with a key that is not in NATS, a hash over the
// whole log up to a sequence. They are kept in STAFET_CHECKPOINTS, which
// denies delete and purge, and each names the hash of the one before, so
// they form a chain of their own. The first, the genesis, records where
// the message chain began and the fingerprint of the pseudonym secret.
//
// The log hash folds every message, in log order, with its sequence:
//
//	log(0) = 32 zero bytes
//	log(s) = SHA-256(log(previous message) | s as 8 bytes, big-endian | c(s))
//
// where c(s) is the message's link (chain.go), or, for a message stored
// before the chain began, its digest. A checkpoint's log hash therefore
// covers every byte of every message up to it, and a missing or inserted
// message changes it.
const (
	CheckpointStream  = "STAFET_CHECKPOINTS"
	checkpointSubject = "stafet.checkpoint"
	// HeaderSignature holds a checkpoint's Ed25519 signature of its
	// stored bytes, in standard base64.
	HeaderSignature = "Stafet-Signature"
)

// Checkpoint is a signed statement: the log through sequence To hashes
// to Log.
type Checkpoint struct {
	Version int `json:"v"`
	// N numbers the checkpoints from 0, the genesis.
	N uint64 `json:"n"`
	// To is the last sequence covered: every message from the first.
	To uint64 `json:"to"`
	// Log is the log hash through To, in unpadded base64url.
	Log string `json:"log"`
	// Prev is the SHA-256 of the previous checkpoint's stored bytes, in
	// unpadded base64url; empty for the genesis.
	Prev string `json:"prev,omitempty"`
	// ChainedFrom (the genesis) is the first sequence from which every
	// message carries the chain; earlier ones are unchained.
	ChainedFrom uint64 `json:"chained_from,omitempty"`
	// Pseudonyms (the genesis) is the fingerprint of the pseudonym secret
	// the log is written with.
	Pseudonyms string `json:"pseudonyms,omitempty"`
	// Unauthentic lists the messages since the previous checkpoint whose
	// chain MAC did not match when this one was signed (at most
	// maxUnauthentic; UnauthenticCount counts them all): every reader
	// quarantines them.
	Unauthentic      []uint64  `json:"unauthentic,omitempty"`
	UnauthenticCount int       `json:"unauthentic_count,omitempty"`
	At               time.Time `json:"at"`
	// Key is the signer's public key (PublicKeyText).
	Key string `json:"key"`

	// Seq is the checkpoint's own sequence in STAFET_CHECKPOINTS; data
	// the bytes signed. Neither is part of the record.
	Seq       uint64 `json:"-"`
	data, sig []byte
}

const maxUnauthentic = 1000

// logHash folds a message into the log hash.
func logHash(sum *[32]byte, seq uint64, c [32]byte) {
	var b [32 + 8 + 32]byte
	copy(b[:32], sum[:])
	binary.BigEndian.PutUint64(b[32:40], seq)
	copy(b[40:], c[:])
	*sum = sha256.Sum256(b[:])
}

// chainValue is what a message adds to the log hash: its link, or its
// digest if it is unchained.
func (c *chainer) chainValue(subject string, h nats.Header, data []byte) [32]byte {
	if f, ok, err := parseChain(h); ok && err == nil {
		return f.link
	}
	prev, _ := prevOf(h)
	return c.digest(subject, prev, data)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// setupChain creates the checkpoint stream and reads the genesis, writing
// it at first start; it refuses a pseudonym secret other than the log's.
func (s *Log) setupChain(ctx context.Context, vault *Vault) error {
	var err error
	s.checkpoints, err = createOrUpdateStream(ctx, s.js, jetstream.StreamConfig{
		Name: CheckpointStream, Description: "signed checkpoints of the event log",
		Subjects: []string{checkpointSubject}, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		Retention: jetstream.LimitsPolicy, DenyDelete: true, DenyPurge: true,
	})
	if err != nil {
		return err
	}
	s.chainers = newChainers(vault.chainKey, s.cfg.ChainVersion)
	g, err := s.genesis(ctx)
	if errors.Is(err, errNoCheckpoint) {
		g, err = s.writeGenesis(ctx, vault)
	}
	if err != nil {
		return err
	}
	if fp := vault.pseudo.Fingerprint(); g.Pseudonyms != fp {
		return fmt.Errorf("engine: the pseudonym secret (fingerprint %s) is not the one this log was written with (%s): a start with it would give every patient a second pseudonym; restore the secret the log was written with", fp, g.Pseudonyms)
	}
	s.chainFrom = g.ChainedFrom
	return nil
}

var errNoCheckpoint = errors.New("engine: no checkpoint")

// genesis reads the first checkpoint.
func (s *Log) genesis(ctx context.Context) (Checkpoint, error) {
	info, err := s.checkpoints.Info(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("engine: checkpoints: %w", err)
	}
	if info.State.Msgs == 0 {
		return Checkpoint{}, errNoCheckpoint
	}
	m, err := s.checkpoints.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("engine: checkpoints: %w", err)
	}
	return s.readCheckpoint(m)
}

// writeGenesis writes the first checkpoint: the chain begins after the
// log's last message, and the log is written with this pseudonym secret.
// An earlier release's log is checked against the secret first.
func (s *Log) writeGenesis(ctx context.Context, vault *Vault) (Checkpoint, error) {
	last, err := s.LastSeq(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if last > 0 {
		if err := s.checkLegacySecret(ctx, vault, last); err != nil {
			return Checkpoint{}, err
		}
		s.log.Warn("the log was written by an earlier release: its messages are unchained; the chain begins after them, and the first checkpoint covers them as they are", "unchained", last)
	}
	g := Checkpoint{ChainedFrom: last + 1, Pseudonyms: vault.pseudo.Fingerprint()}
	stored, err := s.signAndStore(ctx, g, nil)
	if isWrongLastSeq(err) {
		// Another instance wrote it first.
		return s.genesis(ctx)
	}
	return stored, err
}

// checkLegacySecret opens the first identities sealed in a log written
// before checkpoints existed and checks that the secret gives the
// pseudonyms they were stored under: a start with another secret is what
// the fingerprint stops from then on.
func (s *Log) checkLegacySecret(ctx context.Context, vault *Vault, last uint64) error {
	const enough = 5
	checked := 0
	err := s.scanLog(ctx, 1, last, func(seq uint64, subject string, _ nats.Header, data []byte) error {
		evs, err := s.codec.DecodeCommit(data)
		if err != nil {
			return nil
		}
		for _, e := range evs {
			o, ok := e.Payload.(*events.PathwayOpened)
			if !ok || o.Identity == nil {
				continue
			}
			id, err := vault.Open(ctx, o.Patient, o.Identity)
			if err != nil {
				continue // shredded, or a key this release cannot read
			}
			ref, err := vault.Patient(id)
			if err != nil {
				continue
			}
			if ref != o.Patient {
				return fmt.Errorf("engine: the pseudonym secret is not the one this log was written with: the identity sealed at seq %d has another pseudonym under it; restore the secret the log was written with", seq)
			}
			if checked++; checked == enough {
				return errStopScan
			}
		}
		return nil
	})
	if errors.Is(err, errStopScan) || err == nil && checked > 0 {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Warn("could not check the pseudonym secret against the log: no readable identity in it; its fingerprint is recorded from now on")
	return nil
}

var errStopScan = errors.New("stop")

// readCheckpoint parses a stored checkpoint and checks its signature
// against the signing key and the trusted ones.
func (s *Log) readCheckpoint(m *jetstream.RawStreamMsg) (Checkpoint, error) {
	c, err := ParseCheckpoint(m.Data, m.Header)
	if err != nil {
		return c, err
	}
	c.Seq = m.Sequence
	if err := c.Verify(s.trusted()); err != nil {
		return c, fmt.Errorf("engine: checkpoint %d: %w; if the signing key was rotated, trust the old public key (Config.TrustedKeys)", c.N, err)
	}
	return c, nil
}

// trusted are the public keys whose checkpoints this store accepts.
func (s *Log) trusted() []ed25519.PublicKey {
	return append([]ed25519.PublicKey{s.cfg.SigningKey.Public().(ed25519.PublicKey)}, s.cfg.TrustedKeys...)
}

// ParseCheckpoint reads a stored checkpoint, without checking its
// signature (Checkpoint.Verify does).
func ParseCheckpoint(data []byte, h nats.Header) (Checkpoint, error) {
	var c Checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return c, fmt.Errorf("engine: checkpoint: %w", err)
	}
	if c.Version != 1 {
		return c, fmt.Errorf("engine: checkpoint version %d: want 1", c.Version)
	}
	c.data = data
	sig, err := base64.StdEncoding.DecodeString(headerValue(h, HeaderSignature))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return c, errors.New("engine: checkpoint: no signature")
	}
	c.sig = sig
	return c, nil
}

// ErrBadSignature is returned for a checkpoint whose signature does not
// verify under any trusted key.
var ErrBadSignature = errors.New("engine: checkpoint signature does not verify under any trusted key")

// Verify checks the checkpoint's signature against keys: one of them
// must have signed its bytes, and it must name that key.
func (c Checkpoint) Verify(keys []ed25519.PublicKey) error {
	for _, k := range keys {
		if PublicKeyText(k) == c.Key && ed25519.Verify(k, c.data, c.sig) {
			return nil
		}
	}
	return ErrBadSignature
}

// Hash is the checkpoint's own hash, which the next one names (Prev).
func (c Checkpoint) Hash() string {
	sum := sha256.Sum256(c.data)
	return b64(sum[:])
}

// signAndStore signs c as the successor of prev (nil: c is the genesis)
// and stores it, if the checkpoint stream still ends at prev.
func (s *Log) signAndStore(ctx context.Context, c Checkpoint, prev *Checkpoint) (Checkpoint, error) {
	c.Version = 1
	c.At = time.Now().UTC().Truncate(time.Millisecond)
	c.Key = PublicKeyText(s.cfg.SigningKey.Public().(ed25519.PublicKey))
	expect := uint64(0)
	if prev != nil {
		c.N, c.Prev, expect = prev.N+1, prev.Hash(), prev.Seq
	} else {
		c.Log = b64(make([]byte, 32))
	}
	data, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	c.data, c.sig = data, ed25519.Sign(s.cfg.SigningKey, data)
	m := nats.NewMsg(checkpointSubject)
	m.Data = data
	m.Header.Set(HeaderSignature, base64.StdEncoding.EncodeToString(c.sig))
	ack, err := s.publish(ctx, m, expectSeq(expect))
	if err != nil {
		return c, err
	}
	c.Seq = ack.Sequence
	return c, nil
}

// lastCheckpoint returns the newest checkpoint, its signature checked.
func (s *Log) lastCheckpoint(ctx context.Context) (Checkpoint, error) {
	m, err := s.checkpoints.GetLastMsgForSubject(ctx, checkpointSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Checkpoint{}, errNoCheckpoint
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("engine: checkpoints: %w", err)
	}
	return s.readCheckpoint(m)
}

// Checkpoint signs the log up to its last sequence, if anything was
// appended since the newest checkpoint, and returns the newest
// checkpoint. Each message is checked against its chain MAC first; those
// that fail are listed in the checkpoint (Unauthentic), not left out:
// the checkpoint anchors the log as it is.
func (s *Log) Checkpoint(ctx context.Context) (Checkpoint, error) {
	prev, err := s.lastCheckpoint(ctx)
	if err != nil {
		return prev, err
	}
	to, err := s.LastSeq(ctx)
	if err != nil || to <= prev.To {
		return prev, err
	}
	// Sign only what is on disk.
	if err := s.commitThrough(ctx, to); err != nil {
		return prev, err
	}
	sum, err := decodeLink(prev.Log)
	if err != nil {
		return prev, fmt.Errorf("engine: checkpoint %d: %w", prev.N, err)
	}
	next := Checkpoint{To: to}
	c := newChainer(s.chainers.key)
	err = s.scanLog(ctx, prev.To+1, to, func(seq uint64, subject string, h nats.Header, data []byte) error {
		if c.check(seq, s.chainFrom, subject, stampOf(h), data) != nil {
			if next.UnauthenticCount++; len(next.Unauthentic) < maxUnauthentic {
				next.Unauthentic = append(next.Unauthentic, seq)
			}
		}
		logHash(&sum, seq, c.chainValue(subject, h, data))
		return nil
	})
	if err != nil {
		return prev, err
	}
	next.Log = b64(sum[:])
	if next.UnauthenticCount > 0 {
		s.log.Error("messages on the log that stafetd did not store (chain MAC); listed in the checkpoint and quarantined", "count", next.UnauthenticCount, "first_seq", next.Unauthentic[0])
	}
	stored, err := s.signAndStore(ctx, next, &prev)
	if isWrongLastSeq(err) {
		// Another instance signed meanwhile: its checkpoint stands.
		return s.lastCheckpoint(ctx)
	}
	return stored, err
}

func decodeLink(s string) ([32]byte, error) {
	var l [32]byte
	n, err := base64.RawURLEncoding.Decode(l[:], []byte(s))
	if err != nil || n != 32 || len(s) != 43 {
		return l, errors.New("malformed log hash")
	}
	return l, nil
}

// RunCheckpoints signs the log every Config.CheckpointEvery until ctx
// ends, and once more then. With several instances each signs when it is
// due; the checkpoint stream's expected sequence lets one of them write
// each checkpoint.
func (s *Log) RunCheckpoints(ctx context.Context) error {
	t := time.NewTicker(s.cfg.CheckpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.checkpointAtStop()
			return nil
		case <-t.C:
			if _, err := s.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("checkpoint failed; tries again at the next interval", "err", err)
			}
		}
	}
}

// stopCheckpointWait bounds the checkpoint at shutdown. It signs what
// was appended since the last one, which takes milliseconds; nothing is
// lost without it (the next checkpoint, any instance's, signs the same
// messages), so a stop does not wait long for it.
const stopCheckpointWait = 5 * time.Second

// checkpointAtStop signs the log once more as stafetd stops, for at most
// stopCheckpointWait, and says what stays unsigned if it cannot.
func (s *Log) checkpointAtStop() {
	ctx, cancel := context.WithTimeout(context.Background(), stopCheckpointWait)
	defer cancel()
	start := time.Now()
	last, err := s.Checkpoint(ctx)
	if err == nil {
		return
	}
	// On failure Checkpoint returns the newest checkpoint it read, if any.
	attrs := []any{"err", err, "after", time.Since(start).Round(time.Millisecond)}
	if last.Key != "" {
		attrs = append(attrs, "signed_through", last.To)
	}
	s.log.Warn("checkpoint at shutdown skipped: the messages after the last checkpoint are signed by the next one (any instance's)", attrs...)
}

// scanLog reads the event stream from from to to in order, without
// acks, and calls fn for every message, never after it returns.
//
// It reads with the log's own reader (pull.go), not jetstream's ordered
// consumer. On a cluster, the pull request sent as soon as a consumer is
// created can reach a server that does not know of the consumer yet
// (about one consumer in a hundred on another node, more under load):
// that server answers "no responders". The ordered consumer's Messages
// ignores the answer and starts again only after two missed heartbeats,
// 10 s; the log's reader starts a new consumer at once. Those 10 s were
// the whole of the checkpoint's time at shutdown, and a stop that
// waited them came 10 s late (CI: TestFaultDeadlineWhileDown).
func (s *Log) scanLog(ctx context.Context, from, to uint64, fn func(seq uint64, subject string, h nats.Header, data []byte) error) error {
	if to < from {
		return nil
	}
	// mu is held while fn runs, so that once scanLog has set over no
	// call of fn is running or will run.
	var mu sync.Mutex
	over := false
	done := make(chan error, 1)
	finish := func(err error) {
		over = true
		done <- err
	}
	// The scan ends at to, not when the consumer says nothing is
	// pending: on a cluster a consumer of one replica may sit on a
	// replica that has not stored to yet, and a checkpoint that stopped
	// there would sign less than it claims (stafet verify, which reads
	// the leader, would then report a tampered log). The event stream
	// denies deletes, so to comes.
	stop, errc, err := s.readRange(ctx, from, func(m *nats.Msg, seq, _ uint64) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case over:
		case seq > to:
			finish(nil)
		default:
			if err := fn(seq, m.Subject, m.Header, m.Data); err != nil {
				finish(err)
			} else if seq == to {
				finish(nil)
			}
		}
	})
	if err != nil {
		return err
	}
	defer stop()
	select {
	case err = <-done:
	case err = <-errc:
	case <-ctx.Done():
		err = ctx.Err()
	}
	mu.Lock()
	over = true
	mu.Unlock()
	return err
}

// scanStream reads any stream on filter from from to to in order with
// one ordered consumer, without acks, and calls fn for every message.
// After an unanswered first pull request it waits the ordered
// consumer's 10 s (scanLog); its users (stafet verify, an erasure's
// search of the inbox) are not on a stop's path.
func scanStream(ctx context.Context, st jetstream.Stream, filter string, from, to uint64, fn func(seq uint64, subject string, h nats.Header, data []byte) error) error {
	if to < from {
		return nil
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(from, 1),
		FilterSubjects: []string{filter},
	})
	if err != nil {
		return fmt.Errorf("engine: scan: %w", err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(replayPull))
	if err != nil {
		return fmt.Errorf("engine: scan: %w", err)
	}
	defer it.Stop()
	defer context.AfterFunc(ctx, it.Stop)()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("engine: scan: %w", err)
		}
		seq, pending, ok := ackPosition(m.Reply())
		if !ok {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("engine: scan: %w", err)
			}
			seq, pending = md.Sequence.Stream, md.NumPending
		}
		if seq > to {
			return nil
		}
		if err := fn(seq, m.Subject(), m.Headers(), m.Data()); err != nil {
			return err
		}
		if seq == to || pending == 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
