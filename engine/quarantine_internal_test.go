package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// folded keeps each pathway's folded event types, refolding as the real
// projections do.
type folded map[uuid.UUID][]events.Type

func (f folded) Apply(e events.Envelope) error {
	if (events.Annulments{}).Folded(&e) {
		f[e.Pathway] = append(f[e.Pathway], e.Type)
	}
	return nil
}

func (f folded) Refold(pw uuid.UUID, _, after []events.Envelope) error {
	a := events.AnnulmentsOf(after)
	f[pw] = nil
	for i := range after {
		if a.Folded(&after[i]) {
			f[pw] = append(f[pw], after[i].Type)
		}
	}
	return nil
}

func (f folded) Snapshot() ([]byte, error) { return json.Marshal(f) }
func (f folded) Restore(b []byte) error {
	clear(f)
	return json.Unmarshal(b, &f)
}

// An event of a schema version this build does not know (written by a
// newer one) is quarantined as unknown-type; after an upgrade that reads
// it, the operator takes it in and every host folds it in at its place,
// as a replay by the new build does straight away.
func TestQuarantineTakeInAfterUpgrade(t *testing.T) {
	ctx := context.Background()
	s, ref := openLog(t, Config{})
	pw := events.NewID()
	res, err := s.Execute(ctx, events.Command{Pathway: pw, Actor: events.Actor{Org: "kommune:0751"}, OccurredAt: time.Now(),
		Payloads: []events.Payload{&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}}})
	if err != nil {
		t.Fatal(err)
	}
	died := events.Envelope{ID: events.NewID(), Pathway: pw, Type: events.TypePatientDied, Schema: 1, OccurredAt: time.Now().UTC(), Payload: &events.PatientDied{}}
	b, err := s.codec.Encode(&died)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(Subject("aarhus", pw))
	m.Data = []byte(strings.Replace(string(b), `"schema":1`, `"schema":2`, 1))
	first, err := s.getMsg(ctx, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Chain(m, 1, LinkOf(first.Header))
	ack, err := s.js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	future := ack.Sequence

	run := func(name string, p folded) (*Host, func()) {
		h := s.NewHost(name, p, HostOptions{})
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- h.Run(hctx) }()
		<-h.Ready()
		return h, func() { cancel(); <-done }
	}
	old := folded{}
	h, stop := run("takein-v1", old)
	q, err := h.Quarantined(future)
	if err != nil || q.Reason != events.QuarantineUnknownType {
		t.Fatalf("got %+v, %v; want seq %d quarantined as unknown-type", q, err, future)
	}
	// An old build told to take it in cannot: it says so and keeps it out.
	seq, err := s.ResolveQuarantine(ctx, q, events.TakeIn, "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Applied() >= seq })
	if q, _ := h.Quarantined(future); q.Resolution == nil || !q.Resolution.Unread || !q.Open() {
		t.Errorf("old build after take-in: got %+v; want it decided but unread, still open", q)
	}
	stop()

	// The upgrade: a codec that reads version 2, and a restart.
	up := events.NewCodec()
	up.Upcast(events.TypePatientDied, 1, func(b json.RawMessage) (json.RawMessage, error) { return b, nil })
	s.codec = up
	upgraded := folded{}
	h, stop = run("takein-v1", upgraded)
	defer stop()
	if q, _ := h.Quarantined(future); !q.Open() {
		t.Fatalf("restored: got %+v; want still open until decided again", q)
	}
	seq, err = s.ResolveQuarantine(ctx, q, events.TakeIn, "read by 1.1 after the upgrade")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return h.Applied() >= seq })
	q, _ = h.Quarantined(future)
	if q.Open() || q.Resolution.Decision != events.TakeIn || q.Resolution.Seq != seq {
		t.Errorf("upgraded build after take-in: got %+v; want it taken in by seq %d", q, seq)
	}
	want := []events.Type{events.TypePathwayOpened, events.TypePatientDied}
	h.Read(func(Projection) {
		if got := upgraded[pw]; !slices.Equal(got, want) {
			t.Errorf("taken in: pathway folds %v; want %v", got, want)
		}
	})
	// A replay by the new build from scratch folds it at its place and
	// ends the same.
	fresh := folded{}
	_, stopFresh := run("takein-fresh-v1", fresh)
	defer stopFresh()
	if got := fresh[pw]; !slices.Equal(got, want) {
		t.Errorf("fresh replay: pathway folds %v; want %v", got, want)
	}
	if res.LastSeq != 1 {
		t.Errorf("opening at seq %d; want 1", res.LastSeq)
	}
}

// openLog opens a store of its own with cfg (in a directory of the
// test's) and returns its log and a patient's reference.
func openLog(t *testing.T, cfg Config) (*Log, events.PatientRef) {
	t.Helper()
	cfg.DataDir = t.TempDir()
	st, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ref, err := st.Vault().Ref("0102030405")
	if err != nil {
		t.Fatal(err)
	}
	return st.Log(), ref
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
	}
}

func TestRedactSubject(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a pathway's subject", "stafet.ev.aarhus.01957f2a-6c00-7000-8000-000000000001", "stafet.ev.aarhus.01957f2a-6c00-7000-8000-000000000001"},
		{"garbage", "stafet.ev.aarhus.garbage", "stafet.ev.aarhus.garbage"},
		{"a CPR number in a token", "stafet.ev.x2509479989y.z", "stafet.ev.….z"},
		{"short numbers", "stafet.ev.x.1234", "stafet.ev.x.1234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactSubject(tt.in); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

// BenchmarkReadStored measures what readStored adds to a replay's decode:
// validating every event, so that one that fails is quarantined rather
// than folded, and checking its chain MAC (chain.go), so that one that
// stafetd did not store is quarantined too.
func BenchmarkReadStored(b *testing.B) {
	c := events.NewCodec()
	pw, ref := events.NewID(), events.PatientRef("p0123456789abcdef0123456789abcdef")
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	src := events.Source{System: "hl7v2", Org: "sor:6620000000001", MessageID: "MSG0001"}
	env := func(p events.Payload) events.Envelope {
		return events.Envelope{ID: events.NewID(), Pathway: pw, Type: p.Type(), Schema: 1, OccurredAt: at, RecordedAt: at, Source: src, Actor: events.Actor{Org: "sor:6620000000001"}, Payload: p}
	}
	var msgs [][]byte
	for _, evs := range [][]events.Envelope{
		{env(&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}), env(&events.PatientAdmitted{Hospital: "sor:6620000000001", Class: events.Inpatient})},
		{env(&events.HandoffOffered{Offer: "o1", From: "sor:6620000000001", To: "kommune:0751", What: events.HomeCare, Deadline: at.Add(time.Hour)})},
		{env(&events.PatientDischarged{Hospital: "sor:6620000000001", Destination: events.DestHomeWithServices, To: "kommune:0751"})},
	} {
		m, err := c.EncodeCommit(evs)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	dec := c.NewDecoder()
	never := func() time.Time { return time.Time{} }
	b.Run("decode", func(b *testing.B) {
		var dst []events.Envelope
		for i := 0; i < b.N; i++ {
			var err error
			if dst, err = dec.DecodeCommit(dst[:0], msgs[i%len(msgs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	subject := Subject("aarhus", pw)
	sealer := newChainer(bytes.Repeat([]byte{7}, 32))
	headers := make([]nats.Header, len(msgs))
	var after Link
	for i, d := range msgs {
		m := &nats.Msg{Subject: subject, Data: d}
		after = sealer.seal(m, uint64(i), after, 2)
		headers[i] = m.Header
	}
	for _, tt := range []struct {
		name    string
		r       storedReader
		headers []nats.Header
	}{
		{"readStored", storedReader{chain: newChainer(nil), from: 1 << 62}, make([]nats.Header, len(msgs))},
		{"readStored+chain", storedReader{chain: newChainer(sealer.key), from: 1}, headers},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var dst []events.Envelope
			for i := 0; i < b.N; i++ {
				dst = tt.r.readStored(dec.DecodeCommit, dst[:0], uint64(i+1), subject, stampOf(tt.headers[i%len(msgs)]), msgs[i%len(msgs)], never)
			}
		})
	}
	// The chain check alone: what the chain adds to every message read,
	// for the version stafetd writes and the one it wrote until 2026-12
	// (chain.go).
	v1 := make([]nats.Header, len(msgs))
	after = Link{}
	for i, d := range msgs {
		m := &nats.Msg{Subject: subject, Data: d}
		after = sealV1(sealer.key, m, uint64(i), after)
		v1[i] = m.Header
	}
	for _, tt := range []struct {
		name    string
		headers []nats.Header
	}{{"check", headers}, {"check-v1", v1}} {
		b.Run(tt.name, func(b *testing.B) {
			c := newChainer(sealer.key)
			for i := 0; i < b.N; i++ {
				if err := c.check(uint64(i+1), 1, subject, stampOf(tt.headers[i%len(msgs)]), msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// An idempotency index write NATS refuses is counted, said in the health
// report, retried until it is stored, and keeps the stop from claiming a
// whole index.
func TestIndexWriteFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	store, err := Open(ctx, Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := store.Log()
	ref, err := store.Vault().Ref("0102030405")
	if err != nil {
		t.Fatal(err)
	}
	m := store.NewMonitor(nil, MonitorOptions{})
	pendingSaid := func() bool {
		for _, r := range m.Health().Reasons {
			if r.Code == ReasonIndexPending {
				return true
			}
		}
		return false
	}
	kv, err := s.js.Stream(ctx, "KV_"+IdemBucket)
	if err != nil {
		t.Fatal(err)
	}
	taking := kv.CachedInfo().Config
	update := func(cfg jetstream.StreamConfig) {
		t.Helper()
		if _, err := s.js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	refusing := taking
	refusing.Subjects = []string{"$KV." + IdemBucket + ".none"}
	update(refusing) // no stream answers an index write
	src := events.Source{System: "hl7v2", Org: "sor:6620000000001", MessageID: "M1"}
	res, err := s.Execute(ctx, events.Command{Pathway: events.NewID(), Actor: events.Actor{Org: "sor:6620000000001"}, Source: src, OccurredAt: time.Now(),
		Payloads: []events.Payload{&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.IndexWritesPending() == 1 })
	if !pendingSaid() {
		t.Errorf("health reasons %+v; want %s", m.Health().Reasons, ReasonIndexPending)
	}
	if n := s.stats.IndexWriteFailures.Load(); n < 1 {
		t.Errorf("failures counted: %d; want at least 1", n)
	}
	s.markIndexedOnStop(ctx)
	if got := s.indexedThrough(ctx); got >= res.LastSeq {
		t.Errorf("watermark %d with a write pending; want below seq %d", got, res.LastSeq)
	}

	update(taking) // NATS takes writes again
	waitFor(t, func() bool { return s.IndexWritesPending() == 0 })
	if pendingSaid() {
		t.Errorf("health still says %s after the retry stored it", ReasonIndexPending)
	}
	dup, found, err := s.lookupDuplicate(ctx, src.Key())
	if err != nil || !found || dup.FirstSeq != res.FirstSeq {
		t.Errorf("index after the retry: got %+v, %v, %v; want seq %d", dup, found, err, res.FirstSeq)
	}
}
