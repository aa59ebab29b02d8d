package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

func reasonCodes(h engine.Health) []string {
	var out []string
	for _, r := range h.Reasons {
		out = append(out, r.Code)
	}
	return out
}

// waitHealth samples the monitor until cond holds.
func waitHealth(t *testing.T, m *engine.Monitor, what string, cond func(engine.Health) bool) engine.Health {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		h := m.Health()
		if cond(h) {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %s %v %+v; not in 15s", what, h.Status, reasonCodes(h), h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The monitor tells live from degraded and says why: a quarantined
// message, dead letters rising, a reactor that does not move, a disk
// nearly full; and stopped when a projection stops.
func TestMonitor(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := s.Log().NewHost("monitor-v1", newHistories(), engine.HostOptions{Watch: 20 * time.Millisecond})
	hctx, stopHost := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(hctx) }()
	<-h.Ready()
	m := s.NewMonitor([]*engine.Host{h}, engine.MonitorOptions{
		Reactors: []string{"monitor-reactor"}, Every: 20 * time.Millisecond, ReactorStallAfter: 300 * time.Millisecond,
		DeadLetterRising: 3, DiskLowBytes: 1,
	})
	go m.Run(ctx)
	waitHealth(t, m, "at start", func(h engine.Health) bool { return h.Status == engine.HealthLive && h.Ready })

	t.Run("quarantined", func(t *testing.T) {
		publishRaw(t, s, "stafet.ev.aarhus.garbage", []byte("garbage"), 0)
		got := waitHealth(t, m, "quarantined", func(h engine.Health) bool { return slices.Contains(reasonCodes(h), engine.ReasonQuarantined) })
		if got.Status != engine.HealthDegraded || !got.Ready || len(got.Reasons[0].Seqs) != 1 {
			t.Errorf("got %s ready %v %+v; want degraded, ready, naming the sequence", got.Status, got.Ready, got.Reasons)
		}
	})
	t.Run("dead letters rising", func(t *testing.T) {
		for i := range 3 {
			if err := s.Inbox().PutDeadLetter(ctx, engine.DeadLetter{RawSeq: uint64(100 + i), System: "hl7v2", Code: "unknown-trigger", Reason: "x", At: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		got := waitHealth(t, m, "dead letters", func(h engine.Health) bool { return slices.Contains(reasonCodes(h), engine.ReasonDeadLetters) })
		want := []engine.DeadLetterCount{{Channel: "hl7v2", Code: "unknown-trigger", Count: 3}}
		if got.DeadLetters.Total != 3 || got.DeadLetters.Recent != 3 || !slices.Equal(got.DeadLetters.ByChannel, want) {
			t.Errorf("dead letters: got %+v; want 3, all recent, %v", got.DeadLetters, want)
		}
	})
	t.Run("reactor stalled", func(t *testing.T) {
		go s.Reactors().React(ctx, "monitor-reactor", func(context.Context, events.Envelope) error {
			return errors.New("this handler always fails")
		}, engine.ReactOptions{})
		admitted(t, s)
		got := waitHealth(t, m, "reactor", func(h engine.Health) bool { return slices.Contains(reasonCodes(h), engine.ReasonReactorStalled) })
		if r := got.Reactors[0]; r.Lag == 0 || r.StalledSeconds < 0.3 {
			t.Errorf("reactor: got %+v; want events waiting and stalled", r)
		}
	})
	t.Run("disk nearly full", func(t *testing.T) {
		m2 := s.NewMonitor(nil, engine.MonitorOptions{Every: 20 * time.Millisecond, DiskLowRatio: 0.99999})
		mctx, stop := context.WithCancel(ctx)
		defer stop()
		go m2.Run(mctx)
		got := waitHealth(t, m2, "disk", func(h engine.Health) bool { return h.Disk != nil })
		if !slices.Contains(reasonCodes(got), engine.ReasonDiskNearlyFull) || got.Disk.TotalBytes == 0 || got.Disk.Where != "data directory" {
			t.Errorf("disk: got %+v %v; want nearly full of the data directory", got.Disk, reasonCodes(got))
		}
	})
	t.Run("stopped", func(t *testing.T) {
		stopHost()
		<-done
		got := waitHealth(t, m, "stopped", func(h engine.Health) bool { return h.Status == engine.HealthStopped })
		if got.Ready || !slices.Contains(reasonCodes(got), engine.ReasonProjectionStopped) {
			t.Errorf("stopped: got ready %v %v; want not ready, projection-stopped", got.Ready, reasonCodes(got))
		}
	})
}
