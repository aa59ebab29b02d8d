package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// typeCount is a small snapshotting projection: events per type, and the
// pathways whose history it was asked to refold.
type typeCount struct {
	Counts  map[events.Type]int `json:"counts"`
	Refolds []uuid.UUID         `json:"refolds,omitempty"`
}

func newTypeCount() *typeCount { return &typeCount{Counts: map[events.Type]int{}} }

func (c *typeCount) Apply(e events.Envelope) error { c.Counts[e.Type]++; return nil }
func (c *typeCount) Snapshot() ([]byte, error)     { return json.Marshal(c) }
func (c *typeCount) Restore(b []byte) error        { *c = typeCount{}; return json.Unmarshal(b, c) }
func (c *typeCount) Refold(pw uuid.UUID, _, h []events.Envelope) error {
	if len(h) == 0 || h[len(h)-1].Type != events.TypeCorrection {
		return errors.New("refold: the history must end with the Correction just applied")
	}
	c.Refolds = append(c.Refolds, pw)
	return nil
}

func runHost(t *testing.T, s *engine.Store, p engine.Projection) (*engine.Host, func()) {
	t.Helper()
	h := s.Log().NewHost("test-v1", p, engine.HostOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := h.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("host: %v", err)
		}
	}()
	select {
	case <-h.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("host not ready in 10s")
	}
	return h, func() { cancel(); wg.Wait() }
}

func waitApplied(t *testing.T, h *engine.Host, seq uint64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.Applied() < seq; {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d; want %d", h.Applied(), seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHostFollowsCheckpointsAndRestores(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, engine.Config{DataDir: dir})
	ctx := context.Background()
	admitted(t, s) // 3 events before the host starts
	tc := newTypeCount()
	h, stop := runHost(t, s, tc)
	if h.Applied() != 3 {
		t.Errorf("ready at %d; want 3", h.Applied())
	}
	pw := admitted(t, s) // 3 more, live
	waitApplied(t, h, 6)
	h.Read(func(p engine.Projection) {
		if got := p.(*typeCount).Counts[events.TypePatientAdmitted]; got != 2 {
			t.Errorf("admissions: got %d; want 2", got)
		}
	})
	if lag, _ := h.Lag(ctx); lag != 0 {
		t.Errorf("lag %d; want 0", lag)
	}
	if st := h.Status(); st.CheckpointSeq != 0 || st.CheckpointBytes != 0 {
		t.Errorf("before any checkpoint: checkpoint at %d, %d bytes; want none", st.CheckpointSeq, st.CheckpointBytes)
	}
	stop() // writes a checkpoint at 6

	// A correction while the host is down: the restarted host restores the
	// checkpoint, applies only event 7 and refolds its pathway.
	hist := must(s.Log().Load(ctx, pw))
	if _, err := s.Log().Execute(ctx, cmd(pw, hospital, t0, &events.Correction{Annuls: hist[2].ID, Reason: "sent in error"})); err != nil {
		t.Fatal(err)
	}
	restored := newTypeCount()
	h3, stop3 := runHost(t, s, restored)
	defer stop3()
	waitApplied(t, h3, 7)
	if st := h3.Status(); st.CheckpointSeq != 6 || st.CheckpointBytes == 0 {
		t.Errorf("restored checkpoint at %d, %d bytes; want 6, its size", st.CheckpointSeq, st.CheckpointBytes)
	}
	h3.Read(func(p engine.Projection) {
		c := p.(*typeCount)
		if c.Counts[events.TypePatientAdmitted] != 2 || c.Counts[events.TypeCorrection] != 1 {
			t.Errorf("after restore: got %v; want 2 admissions and 1 correction", c.Counts)
		}
		if len(c.Refolds) != 1 || c.Refolds[0] != pw {
			t.Errorf("refolds: got %v; want [%s]", c.Refolds, pw)
		}
	})

	t.Run("shadow rebuild", func(t *testing.T) {
		var progress []engine.ReplayStats
		rep, err := h3.Rebuild(ctx, newTypeCount(), func(st engine.ReplayStats) { progress = append(progress, st) })
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stats.Events != 7 || !rep.Same {
			t.Errorf("got %+v; want 7 events and the same state", rep)
		}
	})
	t.Run("a rebuild while the log grows", func(t *testing.T) {
		// The fresh projection's first event appends another and waits
		// until the serving projection has it: the rebuild catches up
		// past the end it set out for.
		grow := &growing{typeCount: newTypeCount(), first: func() {
			admitted(t, s)
			last := must(s.Log().LastSeq(ctx))
			waitApplied(t, h3, last)
		}}
		rep, err := h3.Rebuild(ctx, grow, nil)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stats.Done != h3.Applied() || rep.Stats.Done > rep.Stats.Total || !rep.Same {
			t.Errorf("got done %d of %d, same %v; want done = total = %d, the same state", rep.Stats.Done, rep.Stats.Total, rep.Same, h3.Applied())
		}
	})
}

// growing is a typeCount that runs first before its first event.
type growing struct {
	*typeCount
	first func()
	once  sync.Once
}

func (g *growing) Apply(e events.Envelope) error {
	g.once.Do(g.first)
	return g.typeCount.Apply(e)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// peer opens a second instance of a's deployment: a client of a's
// server, with a's keys and stafetd's NATS user.
func peer(t *testing.T, a *engine.Store) *engine.Store {
	t.Helper()
	return openStore(t, engine.Config{URL: a.NATS().ClientURL(), Secret: a.Config().Secret, KeyDir: a.Config().KeyDir, NkeyFile: engine.StafetdKeyFile(a.NATS().DataDir())})
}

// TestReactWorkers: with several workers, different pathways' events are
// handled at once, each pathway's in log order, every event once.
func TestReactWorkers(t *testing.T) {
	a := openStore(t, engine.Config{})
	for range 30 {
		admitted(t, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	last := map[uuid.UUID]uint64{}
	seen := map[uint64]int{}
	var outOfOrder []string
	var running, most atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- a.Reactors().React(ctx, "test-workers", func(_ context.Context, e events.Envelope) error {
			n := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(2 * time.Millisecond) // a write's round trip on a cluster
			mu.Lock()
			defer mu.Unlock()
			if e.Seq <= last[e.Pathway] {
				outOfOrder = append(outOfOrder, fmt.Sprintf("%s: %d after %d", e.Pathway, e.Seq, last[e.Pathway]))
			}
			last[e.Pathway] = e.Seq
			seen[e.Seq]++
			return nil
		}, engine.ReactOptions{Workers: 4})
	}()
	waitPending(t, a, "test-workers", 0)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 90 {
		t.Errorf("handled %d events; want 90", len(seen))
	}
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("event %d handled %d times; want once", seq, n)
		}
	}
	if len(outOfOrder) > 0 {
		t.Errorf("a pathway's events out of log order: %v", outOfOrder)
	}
	if most.Load() < 2 {
		t.Errorf("at most %d events handled at once; want the workers to overlap", most.Load())
	}
}

func TestReactSharesWorkAcrossInstances(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := peer(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := a.Reactors().Pending(ctx, "test-reactor"); !errors.Is(err, engine.ErrNoReactor) {
		t.Errorf("pending before the first React: got %v; want ErrNoReactor", err)
	}
	var mu sync.Mutex
	seen := map[uint64]int{}
	var wg sync.WaitGroup
	for _, s := range []*engine.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Reactors().React(ctx, "test-reactor", func(_ context.Context, e events.Envelope) error {
				mu.Lock()
				seen[e.Seq]++
				mu.Unlock()
				return nil
			}, engine.ReactOptions{})
		}()
	}
	for range 20 {
		admitted(t, a)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 60 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitPending(t, a, "test-reactor", 0)
	cancel()
	wg.Wait()
	if len(seen) != 60 {
		t.Errorf("handled %d events; want 60", len(seen))
	}
	// With no instance reacting, what is appended waits: three messages.
	admitted(t, a)
	waitPending(t, b, "test-reactor", 3)
	for seq, n := range seen {
		if n != 1 {
			t.Errorf("event %d handled %d times; want once", seq, n)
		}
	}
}

// deadlines is a Scheduler that always lists the same deadlines.
type deadlines []events.Deadline

func (d deadlines) Due(after, before time.Time) []events.Deadline { return d }

// waitPending waits until the reactor has n messages of the log pending.
func waitPending(t *testing.T, s *engine.Store, name string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Reactors().Pending(context.Background(), name)
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending: got %d, %v; want %d", got, err, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeadlinesElapseOnce(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := peer(t, a)
	pw := admitted(t, a)
	due := deadlines{{Pathway: pw, Ref: "o1", Rule: "offer-deadline", At: t0.Add(5 * time.Hour)}}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range []*engine.Store{a, b, a} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Reactors().RunDeadlines(ctx, due, 20*time.Millisecond) }()
	}
	wg.Wait()
	h := must(a.Log().Load(context.Background(), pw))
	n := 0
	for _, e := range h {
		if e.Type == events.TypeDeadlineElapsed {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d DeadlineElapsed; want 1", n)
	}
}

// A MedCom RE_ is one message holding a Correction and the corrected
// events: the refold after the Correction must see history up to it, not
// the events stored after it in the same message.
func TestHostRefoldsACorrectionInsideACommand(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	pw := admitted(t, s)
	h := must(s.Log().Load(ctx, pw))
	c := cmd(pw, hospital, t0.Add(time.Hour),
		&events.Correction{Annuls: h[1].ID, Reason: "RE_STIN"},
		&events.PatientAdmitted{Hospital: hospital, Class: events.AcuteAmbulant})
	if _, err := s.Log().Execute(ctx, c); err != nil {
		t.Fatal(err)
	}
	tc := newTypeCount()
	host, stop := runHost(t, s, tc)
	defer stop()
	waitApplied(t, host, 4)
	host.Read(func(p engine.Projection) {
		if got := p.(*typeCount); len(got.Refolds) != 1 || got.Counts[events.TypePatientAdmitted] != 2 {
			t.Errorf("got %+v; want one refold and both admissions applied", got)
		}
	})
}

// dischargePolicy offers home nursing on every discharge, and asks for
// an acceptance the rules refuse (nobody offered it), which RunPolicy
// must drop without stopping.
type dischargePolicy struct{}

func (dischargePolicy) Decide(state *events.Pathway, e events.Envelope) []events.Command {
	if e.Type != events.TypePatientDischarged || state.Admitted() {
		return nil
	}
	src := events.Source{System: "policy", MessageID: "nursing/" + e.ID.String()}
	return []events.Command{
		{Pathway: e.Pathway, Actor: events.Actor{Org: aarhus}, Source: src, OccurredAt: e.OccurredAt,
			Payloads: []events.Payload{&events.HandoffAccepted{Offer: "never-made", By: aarhus}}},
		{Pathway: e.Pathway, Actor: events.Actor{Org: hospital}, Source: src, OccurredAt: e.OccurredAt,
			Payloads: []events.Payload{&events.HandoffOffered{Offer: "nursing", From: hospital, To: aarhus, What: events.HomeNursing}}},
	}
}

// TestRunPolicy runs a policy on two instances: each discharge gets its
// offer once, and a command the rules refuse is dropped.
func TestRunPolicy(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := peer(t, a)
	pw := admitted(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, s := range []*engine.Store{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); s.Reactors().RunPolicy(ctx, "test-policy", dischargePolicy{}) }()
	}
	defer func() { cancel(); wg.Wait() }()
	if _, err := a.Log().Execute(context.Background(), cmd(pw, hospital, t0.Add(2*time.Hour), &events.PatientDischarged{Hospital: hospital, Destination: events.DestHome})); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := must(a.Log().Load(context.Background(), pw))
		offers, accepts := 0, 0
		for _, e := range h {
			switch e.Type {
			case events.TypeHandoffOffered:
				if e.Payload.(*events.HandoffOffered).Offer == "nursing" {
					offers++
				}
			case events.TypeHandoffAccepted:
				accepts++
			}
		}
		if offers == 1 && accepts == 0 {
			return
		}
		if offers > 1 || accepts > 0 || time.Now().After(deadline) {
			t.Fatalf("got %d offers of nursing and %d acceptances; want 1 and 0", offers, accepts)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
