package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// histories is a snapshotting projection that keeps each pathway's folded
// event types and refolds like the real ones: what a quarantine changes
// shows in it.
type histories struct {
	Paths map[uuid.UUID][]events.Type `json:"paths"`
}

func newHistories() *histories { return &histories{Paths: map[uuid.UUID][]events.Type{}} }

func (h *histories) Apply(e events.Envelope) error {
	if (events.Annulments{}).Folded(&e) {
		h.Paths[e.Pathway] = append(h.Paths[e.Pathway], e.Type)
	}
	return nil
}

func (h *histories) Refold(pw uuid.UUID, _, after []events.Envelope) error {
	a := events.AnnulmentsOf(after)
	h.Paths[pw] = nil
	for i := range after {
		if a.Folded(&after[i]) {
			h.Paths[pw] = append(h.Paths[pw], after[i].Type)
		}
	}
	return nil
}

func (h *histories) Snapshot() ([]byte, error) { return json.Marshal(h) }
func (h *histories) Restore(b []byte) error {
	*h = histories{}
	return json.Unmarshal(b, h)
}

// publishRaw stores a message on the event stream as another writer
// with the deployment's keys would (a newer release), bypassing the
// engine: chained after prev (0: a pathway's first).
func publishRaw(t *testing.T, s *engine.Store, subject string, data []byte, prev uint64) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	var after engine.Link
	if prev > 0 {
		st, err := natstest.JetStream(t, s.NATS().Conn()).Stream(context.Background(), engine.EventStream)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := st.GetMsg(context.Background(), prev)
		if err != nil {
			t.Fatal(err)
		}
		after = engine.LinkOf(pm.Header)
	}
	s.Log().Chain(m, prev, after)
	ack, err := natstest.JetStream(t, s.NATS().Conn()).PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// storedEvent is the stored form of one event of pathway pw, edited.
func storedEvent(t *testing.T, pw uuid.UUID, p events.Payload, edit func(string) string) []byte {
	t.Helper()
	e := events.Envelope{ID: events.NewID(), Pathway: pw, Type: p.Type(), Schema: 1, OccurredAt: t0.Add(3 * time.Hour), RecordedAt: time.Now().UTC(), Payload: p}
	b, err := events.NewCodec().Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(edit(string(b)))
}

func same(s string) string { return s }

// faults writes three messages the engine cannot take in after two
// pathways: garbage on a subject that names no pathway, an event of a
// type this build does not know on pathway a (linked, as a newer version
// would write it), and a Correction on a's subject naming b's admission,
// which makes the refold fail. It returns their sequences.
func faults(t *testing.T, s *engine.Store, a, b uuid.UUID) (garbage, future, failing uint64) {
	t.Helper()
	ctx := context.Background()
	hb := must(s.Log().Load(ctx, b))
	garbage = publishRaw(t, s, "stafet.ev.aarhus.garbage", []byte("not an event: Bruno Test Elmer 2509479989"), 0)
	last := must(s.Log().Load(ctx, a))
	future = publishRaw(t, s, engine.Subject("aarhus", a), storedEvent(t, a, &events.PatientDied{}, func(s string) string {
		return strings.Replace(s, `"PatientDied"`, `"PatientTeleported"`, 1)
	}), last[len(last)-1].Seq)
	failing = publishRaw(t, s, engine.Subject("aarhus", a), storedEvent(t, b, &events.Correction{Annuls: hb[1].ID, Reason: "forged"}, same), future)
	return garbage, future, failing
}

func TestQuarantine(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	a, b := admitted(t, s), admitted(t, s)
	garbage, future, failing := faults(t, s, a, b)
	// Intake goes on, on the pathway that holds the unreadable event too.
	res, err := s.Log().Execute(ctx, cmd(a, aarhus, t0.Add(4*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus}))
	if err != nil {
		t.Fatalf("accept on a pathway with a quarantined event: %v", err)
	}
	if _, err := s.Log().Execute(ctx, cmd(b, aarhus, t0.Add(4*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus})); err != nil {
		t.Fatal(err)
	}

	p := newHistories()
	h, stop := runHost(t, s, p)
	waitApplied(t, h, res.LastSeq+1)
	want := []struct {
		seq     uint64
		reason  events.QuarantineReason
		pathway uuid.UUID
	}{
		{garbage, events.QuarantineUndecodable, uuid.Nil},
		{future, events.QuarantineUnknownType, a},
		{failing, events.QuarantineProjectionFailed, a},
	}
	qs := h.Quarantine()
	if len(qs) != len(want) {
		t.Fatalf("got %d quarantined; want %d: %+v", len(qs), len(want), qs)
	}
	for i, w := range want {
		q := qs[i]
		if q.Seq != w.seq || q.Reason != w.reason || q.Pathway != w.pathway || !q.Open() {
			t.Errorf("quarantined[%d]: got seq %d %s pathway %s open %v; want seq %d %s pathway %s open", i, q.Seq, q.Reason, q.Pathway, q.Open(), w.seq, w.reason, w.pathway)
		}
		if !strings.HasPrefix(q.Hash, "sha256:") || q.At.IsZero() {
			t.Errorf("quarantined[%d]: got hash %q at %v; want a sha256 hash and the stored time", i, q.Hash, q.At)
		}
	}
	rec, _ := json.Marshal(qs)
	for _, body := range []string{"Bruno", "2509479989", "Teleported", "forged"} {
		if bytes.Contains(rec, []byte(body)) {
			t.Errorf("the quarantine holds %q from a message's body: %s", body, rec)
		}
	}
	st := h.Status()
	if st.State != engine.Live || st.Quarantined != 3 || st.Stale {
		t.Errorf("status: got %s, %d quarantined, stale %v; want live, 3, fresh", st.State, st.Quarantined, st.Stale)
	}
	h.Read(func(engine.Projection) {
		got := p.Paths[a]
		wantA := []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted, events.TypeHandoffOffered, events.TypeHandoffAccepted}
		if !equalTypes(got, wantA) {
			t.Errorf("pathway a folded %v; want %v (the quarantined ones skipped)", got, wantA)
		}
	})
	history := must(s.Log().Load(ctx, a))
	if q, ok := engine.StandIn(&history[3]); !ok || q.Seq != future {
		t.Errorf("Load: event 4 of a is %s; want the stand-in of seq %d", history[3].Type, future)
	}

	// A restart restores the quarantine with the checkpoint; a replay
	// from scratch, as a second instance does, quarantines the same and
	// ends byte for byte the same.
	stop()
	p2 := newHistories()
	h2, stop2 := runHost(t, s, p2)
	defer stop2()
	if got := h2.Quarantine(); !equalQuarantine(got, qs) {
		t.Errorf("after restart: got %+v; want %+v", got, qs)
	}
	fresh := newHistories()
	h3 := s.Log().NewHost("fresh-v1", fresh, engine.HostOptions{})
	ctx3, cancel3 := context.WithCancel(ctx)
	done3 := make(chan error, 1)
	go func() { done3 <- h3.Run(ctx3) }()
	waitApplied(t, h3, h2.Applied())
	if got := h3.Quarantine(); !equalQuarantine(got, qs) {
		t.Errorf("second instance: got %+v; want %+v", got, qs)
	}
	sameState(t, h2, h3)

	// The operator annuls the garbage: a decision in the log, applied by
	// every host at its place.
	seq, err := s.Log().ResolveQuarantine(ctx, qs[0], events.Annul, "a test message published by hand")
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, h2, seq)
	waitApplied(t, h3, seq)
	for _, h := range []*engine.Host{h2, h3} {
		q, err := h.Quarantined(garbage)
		if err != nil || q.Open() || q.Resolution.Decision != events.Annul || q.Resolution.Seq != seq {
			t.Errorf("after the annulment: got %+v (%v); want it resolved by seq %d", q, err, seq)
		}
		if st := h.Status(); st.Quarantined != 2 {
			t.Errorf("after the annulment: %d quarantined; want 2", st.Quarantined)
		}
	}
	// Annulling the event a newer version wrote: pathway a's fold skips
	// it for good, and the write side too.
	seq, err = s.Log().ResolveQuarantine(ctx, qs[1], events.Annul, "written by a build we rolled back")
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, h2, seq)
	waitApplied(t, h3, seq)
	sameState(t, h2, h3)
	if _, err := s.Log().Execute(ctx, cmd(a, aarhus, t0.Add(5*time.Hour), &events.ResponsibilityReleased{By: aarhus, What: events.HomeCare})); err != nil {
		t.Errorf("a command after the decision: %v", err)
	}
	cancel3()
	if err := <-done3; err != nil && !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
}

func equalTypes(a, b []events.Type) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalQuarantine(a, b []engine.Quarantine) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func sameState(t *testing.T, a, b *engine.Host) {
	t.Helper()
	snap := func(h *engine.Host) []byte {
		var out []byte
		h.Read(func(p engine.Projection) { out, _ = p.(engine.Snapshotter).Snapshot() })
		return out
	}
	if x, y := snap(a), snap(b); !bytes.Equal(x, y) {
		t.Errorf("states differ: %s against %s; want the same bytes", x, y)
	}
}

// blocking applies nothing while its gate is closed.
type blocking struct {
	mu   sync.Mutex
	gate chan struct{}
}

func (b *blocking) Apply(events.Envelope) error {
	b.mu.Lock()
	g := b.gate
	b.mu.Unlock()
	<-g
	return nil
}

func TestHostStatusStalled(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	p := &blocking{gate: make(chan struct{})}
	close(p.gate)
	h := s.Log().NewHost("stall-v1", p, engine.HostOptions{Watch: 20 * time.Millisecond, StallAfter: 300 * time.Millisecond, StaleAfter: 200 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	<-h.Ready()
	waitState(t, h, engine.Live)
	p.mu.Lock()
	p.gate = make(chan struct{})
	p.mu.Unlock()
	admitted(t, s) // the log grows; the projection does not move
	st := waitState(t, h, engine.Stalled)
	if !st.Stale || st.StalledFor < 300*time.Millisecond || st.LogEnd != 3 {
		t.Errorf("stalled: got %+v; want stale, stalled ≥ 300ms, log end 3", st)
	}
	close(p.gate)
	waitState(t, h, engine.Live)
	cancel()
	<-done
	if st := h.Status(); st.State != engine.Stopped {
		t.Errorf("after Run returned: got %s; want stopped", st.State)
	}
}

func waitState(t *testing.T, h *engine.Host, want engine.HostState) engine.HostStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := h.Status()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("host %s: got %+v; want %s", h.Name(), st, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReactSkipsQuarantined(t *testing.T) {
	s := openStore(t, engine.Config{})
	a, b := admitted(t, s), admitted(t, s)
	garbage, future, failing := faults(t, s, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var seen []uint64
	go s.Reactors().React(ctx, "skip-test", func(_ context.Context, e events.Envelope) error {
		mu.Lock()
		seen = append(seen, e.Seq)
		mu.Unlock()
		return nil
	}, engine.ReactOptions{})
	for deadline := time.Now().Add(10 * time.Second); ; {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n >= 7 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reactor handled %v; want 7 events", seen)
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, seq := range seen {
		if seq == garbage || seq == future {
			t.Errorf("reactor handled seq %d, which cannot be read; want it skipped", seq)
		}
	}
	if seen[len(seen)-1] != failing {
		t.Errorf("reactor's last event: seq %d; want %d (a projection's failure is the projection's)", seen[len(seen)-1], failing)
	}
}

// A busy log is never quite caught up with; a projection that keeps
// reaching the ends it read is live, not stale.
func TestHostFreshUnderLoad(t *testing.T) {
	s := openStore(t, engine.Config{Durability: engine.Bulk})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := s.Log().NewHost("busy-v1", newHistories(), engine.HostOptions{Watch: 20 * time.Millisecond, StaleAfter: 2 * time.Second})
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	<-h.Ready()
	waitState(t, h, engine.Live)
	stop := make(chan struct{})
	writers := make(chan struct{})
	go func() {
		defer close(writers)
		for {
			select {
			case <-stop:
				return
			default:
				admitted(t, s)
			}
		}
	}()
	stale := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if st := h.Status(); st.Stale {
			stale++
			t.Logf("stale: %+v", st)
		}
	}
	close(stop)
	<-writers
	if stale > 0 {
		t.Errorf("stale in %d of 30 samples while the log grew and the projection kept up; want none", stale)
	}
	cancel()
	<-done
}
