package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
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
func (c *typeCount) Refold(pw uuid.UUID, h []events.Envelope) error {
	c.Refolds = append(c.Refolds, pw)
	return nil
}

func runHost(t *testing.T, s *engine.Store, p engine.Projection) (*engine.Host, func()) {
	t.Helper()
	h := s.NewHost("test-v1", p, engine.HostOptions{})
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
	stop() // writes a checkpoint at 6

	// A correction while the host is down: the restarted host restores the
	// checkpoint, applies only event 7 and refolds its pathway.
	hist := must(s.Load(ctx, pw))
	if _, err := s.Execute(ctx, cmd(pw, hospital, t0, &events.Correction{Annuls: hist[2].ID, Reason: "sent in error"})); err != nil {
		t.Fatal(err)
	}
	restored := newTypeCount()
	h3, stop3 := runHost(t, s, restored)
	defer stop3()
	waitApplied(t, h3, 7)
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
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
