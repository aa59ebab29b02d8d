package engine_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// stafetdJS connects to a store's client port as stafetd itself, with
// the NKey in its data directory: what a local root user can do.
func stafetdJS(t *testing.T, s *engine.Store) jetstream.JetStream {
	t.Helper()
	nc := connectWith(t, s.NATS().ClientURL(), engine.StafetdKeyFile(s.NATS().DataDir()))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// lastOn returns the last stored message of a pathway's subject.
func lastOn(t *testing.T, js jetstream.JetStream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := js.Stream(context.Background(), engine.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pubKeys(s *engine.Store) []ed25519.PublicKey {
	return []ed25519.PublicKey{s.Config().SigningKey.Public().(ed25519.PublicKey)}
}

// TestChain: messages written with stafetd's own NATS credentials but not
// by stafetd are quarantined as unauthentic by every reader, and Verify
// names the first of them — with the chain key (Log.Verify) and, once a
// checkpoint is signed, without it (an auditor's Verify).
func TestChain(t *testing.T) {
	ctx := context.Background()
	forge := func(t *testing.T, s *engine.Store, js jetstream.JetStream, subject string, how string) uint64 {
		t.Helper()
		last := lastOn(t, js, subject)
		m := nats.NewMsg(subject)
		m.Data = bytes.Replace(last.Data, []byte(`"o1"`), []byte(`"o2"`), 1)
		if bytes.Equal(m.Data, last.Data) {
			t.Fatal("nothing to change")
		}
		switch how {
		case "copied headers":
			// The forger copies the last message's headers, and puts
			// its own after it.
			m.Header.Set(engine.HeaderPrev, last.Header.Get(engine.HeaderPrev))
			m.Header[engine.HeaderChain] = last.Header[engine.HeaderChain]
		case "recomputed link":
			// The forger knows the chain's algorithm but not its key: a
			// link that matches, a MAC that does not.
			forged := openStore(t, engine.Config{})
			forged.Log().Chain(m, last.Sequence, engine.LinkOf(last.Header))
		case "no chain":
			m.Header.Set(engine.HeaderPrev, "3")
		}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	tests := []struct {
		name, how string
		// auditor: whether an auditor (no chain key) sees it before a
		// checkpoint lists it.
		auditor string
	}{
		{"a changed byte, headers copied", "copied headers", "a message was inserted, copied or left out"},
		{"a changed byte, link recomputed", "recomputed link", ""},
		{"no chain header", "no chain", "no chain header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
			pw := admitted(t, s)
			if _, err := s.Log().Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
			js := stafetdJS(t, s)
			rep, err := engine.Verify(ctx, js, engine.VerifyOptions{Keys: pubKeys(s)})
			if err != nil || rep.Mismatch != nil || rep.Checked != 3 || rep.AnchoredTo != 3 || rep.Checkpoints != 2 {
				t.Fatalf("before: got %+v, %v; want 3 messages checked, anchored by 2 checkpoints through seq 3", rep, err)
			}
			subject := engine.Subject("aarhus", pw)
			seq := forge(t, s, js, subject, tt.how)

			// Every reader quarantines it.
			h, stop := runHost(t, s, newHistories())
			waitApplied(t, h, seq)
			stop()
			if q, err := h.Quarantined(seq); err != nil || q.Reason != events.QuarantineUnauthentic {
				t.Errorf("host: got %+v, %v; want seq %d quarantined as unauthentic", q, err, seq)
			}
			history := must(s.Log().Load(ctx, pw))
			if q, ok := engine.StandIn(&history[len(history)-1]); !ok || q.Reason != events.QuarantineUnauthentic {
				t.Errorf("load: got %+v; want the stand-in of an unauthentic message last", history[len(history)-1])
			}

			// Verify with the chain key names it.
			rep, err = s.Log().Verify(ctx, engine.VerifyOptions{})
			if err != nil || rep.Mismatch == nil || rep.Mismatch.Seq != seq || rep.Mismatch.Pathway != pw {
				t.Fatalf("Log.Verify: got %+v, %v; want seq %d named", rep.Mismatch, err, seq)
			}
			// An auditor without the key sees a broken link at once, a
			// well-forged one once stafetd has signed a checkpoint.
			rep, _ = engine.Verify(ctx, js, engine.VerifyOptions{Keys: pubKeys(s), Pathway: pw})
			if tt.auditor != "" {
				if rep.Mismatch == nil || rep.Mismatch.Seq != seq || !strings.Contains(rep.Mismatch.Reason, tt.auditor) {
					t.Errorf("auditor: got %+v; want seq %d named: %s", rep.Mismatch, seq, tt.auditor)
				}
			} else if rep.Mismatch != nil || rep.AnchoredTo != 3 {
				t.Errorf("auditor before the checkpoint: got %+v, anchored to %d; want no mismatch, anchored to 3", rep.Mismatch, rep.AnchoredTo)
			}
			cp, err := s.Log().Checkpoint(ctx)
			if err != nil || cp.UnauthenticCount != 1 || cp.Unauthentic[0] != seq {
				t.Fatalf("checkpoint: got %+v, %v; want seq %d listed unauthentic", cp, err, seq)
			}
			rep, _ = engine.Verify(ctx, js, engine.VerifyOptions{Keys: pubKeys(s)})
			if rep.Mismatch == nil || rep.Mismatch.Seq != seq {
				t.Errorf("auditor after the checkpoint: got %+v; want seq %d named", rep.Mismatch, seq)
			}
		})
	}
}

// TestCheckpoints: checkpoints chain and verify; one forged with another
// key breaks the chain, and stafetd does not sign after it.
func TestCheckpoints(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	a := admitted(t, s)
	first := must(s.Log().Checkpoint(ctx))
	again := must(s.Log().Checkpoint(ctx))
	if first.N != 1 || first.To != 3 || again.Seq != first.Seq {
		t.Errorf("got checkpoint %d to %d, then %d; want 1 to 3, and no new one with nothing appended", first.N, first.To, again.N)
	}
	b := admitted(t, s)
	second := must(s.Log().Checkpoint(ctx))
	if second.N != 2 || second.To != 6 || second.Prev != first.Hash() {
		t.Errorf("got checkpoint %d to %d naming %s; want 2 to 6 naming %s", second.N, second.To, second.Prev, first.Hash())
	}
	js := stafetdJS(t, s)
	for _, tt := range []struct {
		name string
		opts engine.VerifyOptions
		want uint64
	}{
		{"whole log", engine.VerifyOptions{Keys: pubKeys(s)}, 6},
		{"pathway a", engine.VerifyOptions{Keys: pubKeys(s), Pathway: a}, 3},
		{"pathway b", engine.VerifyOptions{Keys: pubKeys(s), Pathway: b}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := engine.Verify(ctx, js, tt.opts)
			if err != nil || rep.Mismatch != nil || rep.Checked != tt.want || rep.Checkpoints != 3 || rep.AnchoredTo != 6 {
				t.Errorf("got %+v, %v; want %d checked, 3 checkpoints, anchored to 6", rep, err, tt.want)
			}
		})
	}

	// A checkpoint signed with another key.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged := engine.Checkpoint{Version: 1, N: 3, To: 6, Log: second.Log, Prev: second.Hash(), At: time.Now(), Key: engine.PublicKeyText(other.Public().(ed25519.PublicKey))}
	data, _ := json.Marshal(forged)
	m := nats.NewMsg("stafet.checkpoint")
	m.Data = data
	m.Header.Set(engine.HeaderSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(other, data)))
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	rep, err := engine.Verify(ctx, js, engine.VerifyOptions{Keys: pubKeys(s)})
	if err != nil || rep.Mismatch == nil || rep.Mismatch.Checkpoint == nil || *rep.Mismatch.Checkpoint != 3 {
		t.Errorf("forged checkpoint: got %+v, %v; want checkpoint 3 named", rep.Mismatch, err)
	}
	admitted(t, s)
	if _, err := s.Log().Checkpoint(ctx); !errors.Is(err, engine.ErrBadSignature) {
		t.Errorf("checkpoint after a forged one: got %v; want %v", err, engine.ErrBadSignature)
	}
}

// TestPseudonymSecretFingerprint: a log refuses to open with another
// pseudonym secret than it was written with — one written before
// checkpoints existed too, by the identities sealed in it.
func TestPseudonymSecretFingerprint(t *testing.T) {
	ctx := context.Background()
	secretA, secretB := bytes.Repeat([]byte("a"), 32), bytes.Repeat([]byte("b"), 32)
	for _, legacy := range []bool{false, true} {
		name := map[bool]string{false: "with checkpoints", true: "written before checkpoints"}[legacy]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := must(engine.Open(ctx, engine.Config{DataDir: dir, Secret: secretA}))
			ref := must(s.Vault().Ref("0102030405"))
			sealed := must(s.Vault().Seal(ctx, ref, events.Identity{CPR: "0102030405", Name: "Test Testesen"}))
			pw := events.NewID()
			if _, err := s.Log().Execute(ctx, cmd(pw, hospital, t0, &events.PathwayOpened{Patient: ref, Identity: sealed, Cluster: "aarhus", Municipality: aarhus})); err != nil {
				t.Fatal(err)
			}
			if legacy {
				if err := natstest.JetStream(t, s.NATS().Conn()).DeleteStream(ctx, engine.CheckpointStream); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			if _, err := engine.Open(ctx, engine.Config{DataDir: dir, Secret: secretB}); err == nil || !strings.Contains(err.Error(), "not the one this log was written with") {
				t.Errorf("another secret: got %v; want a refusal", err)
			}
			s = must(engine.Open(ctx, engine.Config{DataDir: dir, Secret: secretA}))
			s.Close()
		})
	}
}

// filesHolding lists the files under dirs whose bytes contain any of
// needles.
func filesHolding(t *testing.T, needles [][]byte, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(b, n) {
					out = append(out, path)
					break
				}
			}
			return nil
		})
	}
	return out
}

func storedKey(t *testing.T, s *engine.Store, name string) []byte {
	t.Helper()
	st := must(natstest.JetStream(t, s.NATS().Conn()).Stream(context.Background(), engine.KeyStream))
	m, err := st.GetLastMsgForSubject(context.Background(), "stafet.key."+name)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

// TestKEKRotation: keys are stored wrapped; a rotation wraps them anew
// under the new KEK, the old wrapped bytes leave the disk, and the old
// KEK can go. A store given a KEK that wraps none of its keys refuses to
// open.
func TestKEKRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := must(engine.Open(ctx, engine.Config{DataDir: dir}))
	ref := must(s.Vault().Ref("0102030405"))
	id := events.Identity{CPR: "0102030405", Name: "Test Testesen"}
	sealed := must(s.Vault().Seal(ctx, ref, id))
	old := storedKey(t, s, string(ref))
	kekFile := filepath.Join(s.Config().KeyDir, "kek")
	oldKEK := must(os.ReadFile(kekFile))
	newID := must(engine.AddKEK(kekFile))
	rep := must(s.Vault().Rewrap(ctx))
	if rep.KEK != newID || rep.Keys != 3 || rep.Rewrapped != 3 {
		t.Errorf("rewrap: got %+v; want 3 keys (the patient's, raw, chain) rewrapped under %s", rep, newID)
	}
	if again := must(s.Vault().Rewrap(ctx)); again.Rewrapped != 0 || again.Keys != 3 {
		t.Errorf("second rewrap: got %+v; want 3 keys, none rewrapped", again)
	}
	s.Close()
	// The old KEK goes.
	lines := strings.Split(strings.TrimSpace(string(must(os.ReadFile(kekFile)))), "\n")
	if err := os.WriteFile(kekFile, []byte(strings.Join(lines[:2], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = must(engine.Open(ctx, engine.Config{DataDir: dir}))
	if got, err := s.Vault().Open(ctx, ref, sealed); err != nil || got != id {
		t.Errorf("after rotation: got %v, %v; want the identity", got.CPR == id.CPR, err)
	}
	s.Close()
	if files := filesHolding(t, [][]byte{old}, dir); len(files) > 0 {
		t.Errorf("the key wrapped under the old KEK is still in %v", files)
	}
	// A KEK that wraps none of the store's keys.
	if err := os.WriteFile(kekFile, oldKEK, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Open(ctx, engine.Config{DataDir: dir}); !errors.Is(err, engine.ErrUnknownKEK) {
		t.Errorf("the old KEK only: got %v; want %v", err, engine.ErrUnknownKEK)
	}
}

// TestLegacyKeyBucketMoved: the clear patient keys of an earlier
// release's bucket move into the key stream, wrapped, and their clear
// bytes leave the disk.
func TestLegacyKeyBucketMoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := must(engine.Open(ctx, engine.Config{DataDir: dir}))
	ref := must(s.Vault().Ref("0102030405"))
	key := must(events.NewPatientKey())
	kv := must(natstest.JetStream(t, s.NATS().Conn()).CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "stafet_patient_keys", Storage: jetstream.FileStorage}))
	if _, err := kv.Put(ctx, string(ref), key); err != nil {
		t.Fatal(err)
	}
	id := events.Identity{CPR: "0102030405", Name: "Test Testesen"}
	sealed := must(events.Seal(key, ref, id))
	s.Close()
	s = must(engine.Open(ctx, engine.Config{DataDir: dir}))
	if got, err := s.Vault().Open(ctx, ref, sealed); err != nil || got != id {
		t.Errorf("got %v, %v; want the identity sealed under the moved key", got.CPR == id.CPR, err)
	}
	if _, err := natstest.JetStream(t, s.NATS().Conn()).KeyValue(ctx, "stafet_patient_keys"); !errors.Is(err, jetstream.ErrBucketNotFound) {
		t.Errorf("legacy bucket: got %v; want it deleted", err)
	}
	s.Close()
	if files := filesHolding(t, [][]byte{key}, dir); len(files) > 0 {
		t.Errorf("the clear key is still in %v", files)
	}
}

// TestErase: erasing a patient destroys the key's stored bytes, makes the
// identity and every raw message naming the patient unreadable or gone —
// a dead letter's too — and leaves other patients and the log alone.
func TestErase(t *testing.T) {
	ctx := context.Background()
	s, in := setup(t)
	const cpr, other = "0102030405", "1112131415"
	admit := must(in.Receive(ctx, msg("m1", cpr+"|E1|admit")))
	noop := must(in.Receive(ctx, msg("m2", cpr+"|E1|noop")))
	_, err := in.Receive(ctx, msg("m3", cpr+"|E1|teleport"))
	var dl *engine.DeadLetterError
	if !errors.As(err, &dl) {
		t.Fatalf("got %v; want a dead letter", err)
	}
	unknown := dl.DeadLetter.RawSeq
	_, err = in.Receive(ctx, msg("m4", "not a message about "+cpr))
	if !errors.As(err, &dl) {
		t.Fatalf("got %v; want a dead letter", err)
	}
	unparsed := dl.DeadLetter.RawSeq
	keep := must(in.Receive(ctx, msg("m5", other+"|E2|admit")))
	ref := must(s.Vault().Ref(cpr))
	wrapped := storedKey(t, s, string(ref))
	before := must(s.Log().Load(ctx, admit.Pathway))

	er, err := s.Erase(ctx, ref, events.Identity{})
	if err != nil {
		t.Fatal(err)
	}
	if len(er.Pathways) != 1 || er.Pathways[0] != admit.Pathway || len(er.Patients) != 1 || len(er.DeadLetters) != 2 || len(er.Raw) != 2 {
		t.Errorf("got %+v; want the pathway, the patient, both dead letters and their raw messages erased", er)
	}
	o := opening(t, s, admit)
	if _, err := s.Vault().Open(ctx, o.Patient, o.Identity); !errors.Is(err, events.ErrShredded) {
		t.Errorf("identity: got %v; want %v", err, events.ErrShredded)
	}
	for _, seq := range []uint64{admit.RawSeq, noop.RawSeq} {
		if _, err := s.Inbox().Message(ctx, seq); !errors.Is(err, events.ErrShredded) {
			t.Errorf("raw %d: got %v; want %v", seq, err, events.ErrShredded)
		}
	}
	for _, seq := range []uint64{unknown, unparsed} {
		if _, err := s.Inbox().Message(ctx, seq); !errors.Is(err, engine.ErrNoRaw) {
			t.Errorf("dead letter's raw %d: got %v; want %v", seq, err, engine.ErrNoRaw)
		}
	}
	if dls := must(s.Inbox().DeadLetters(ctx)); len(dls) != 0 {
		t.Errorf("dead letters: got %+v; want none", dls)
	}
	if m, err := s.Inbox().Message(ctx, keep.RawSeq); err != nil || !bytes.Contains(m.Body, []byte(other)) {
		t.Errorf("other patient's raw: got %v; want it readable", err)
	}
	after := must(s.Log().Load(ctx, admit.Pathway))
	if len(after) != len(before) {
		t.Errorf("history: got %d events; want the %d before", len(after), len(before))
	}
	dir := s.NATS().DataDir()
	s.Close()
	if files := filesHolding(t, [][]byte{wrapped}, dir); len(files) > 0 {
		t.Errorf("the erased key's bytes are still in %v", files)
	}
}

// TestKeyReadsAcrossInstances: two instances of one deployment read each
// other's patient keys (on one replica by Direct Get, the stream's only
// copy), and an erasure by one is seen by the other's next message at
// once: it is sealed under a new key, readable, while what the erased
// key sealed is not.
func TestKeyReadsAcrossInstances(t *testing.T) {
	ctx := context.Background()
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := peer(t, a)
	dir := must(events.NewDirectory(nil))
	inA, inB := lineIntake{a.NewIntake(dir, nil)}, lineIntake{b.NewIntake(dir, nil)}
	st := must(natstest.JetStream(t, a.NATS().Conn()).Stream(ctx, engine.KeyStream))
	if !st.CachedInfo().Config.AllowDirect {
		t.Errorf("key stream of one replica: AllowDirect false; want true")
	}
	const cpr = "0102030405"
	must(inA.Receive(ctx, msg("k1", cpr+"|E1|admit")))
	before := must(inB.Receive(ctx, msg("k2", cpr+"|E1|noop")))
	if _, err := a.Inbox().Message(ctx, before.RawSeq); err != nil {
		t.Fatalf("raw sealed by b, read by a: %v", err)
	}
	if _, err := a.Erase(ctx, must(a.Vault().Ref(cpr)), events.Identity{}); err != nil {
		t.Fatal(err)
	}
	after := must(inB.Receive(ctx, msg("k3", cpr+"|E1|noop")))
	for _, s := range []*engine.Store{a, b} {
		// The patient's new key does not open it (an authentication
		// failure, not ErrShredded: the patient has a key again).
		if _, err := s.Inbox().Message(ctx, before.RawSeq); err == nil {
			t.Errorf("raw before the erasure: readable; want it unreadable")
		}
		if m, err := s.Inbox().Message(ctx, after.RawSeq); err != nil || !bytes.Contains(m.Body, []byte(cpr)) {
			t.Errorf("raw after the erasure: got %v; want it readable, sealed under a new key", err)
		}
	}
}
