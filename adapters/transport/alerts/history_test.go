package alerts

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

func ev(pw uuid.UUID, seq uint64, p events.Payload) events.Envelope {
	return events.Envelope{ID: events.NewID(), Pathway: pw, Type: p.Type(), Seq: seq, Payload: p}
}

func seqs(h []events.Envelope) []uint64 {
	var out []uint64
	for _, e := range h {
		out = append(out, e.Seq)
	}
	return out
}

func TestHistories(t *testing.T) {
	opened := &events.PathwayOpened{Cluster: "aarhus"}
	other := &events.PatientDied{}
	a, b, c := events.NewID(), events.NewID(), events.NewID()

	h := newHistories(2)
	h.add(ev(a, 1, opened))
	h.add(ev(b, 2, other)) // b opened before the tail started: incomplete
	h.add(ev(a, 3, other))

	tests := []struct {
		name string
		pw   uuid.UUID
		seq  uint64
		want []uint64 // nil: not held
	}{
		{"a pathway seen from its opening", a, 3, []uint64{1, 3}},
		{"as it stood at an earlier event", a, 1, []uint64{1}},
		{"a pathway seen only in part", b, 2, nil},
		{"a pathway never seen", c, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := h.upTo(tt.pw, tt.seq, time.Millisecond)
			if ok != (tt.want != nil) || !equal(seqs(got), tt.want) {
				t.Errorf("got %v, %v; want %v", seqs(got), ok, tt.want)
			}
		})
	}

	t.Run("a load older than what the tail saw is not kept", func(t *testing.T) {
		h.loaded(b, []events.Envelope{ev(b, 1, opened)})
		if _, ok := h.upTo(b, 2, time.Millisecond); ok {
			t.Error("got a history; want none")
		}
	})
	t.Run("a load that covers what the tail saw completes the entry", func(t *testing.T) {
		h.loaded(b, []events.Envelope{ev(b, 0, opened), ev(b, 2, other)})
		h.add(ev(b, 4, other))
		got, ok := h.upTo(b, 4, time.Millisecond)
		if !ok || !equal(seqs(got), []uint64{0, 2, 4}) {
			t.Errorf("got %v, %v; want [0 2 4]", seqs(got), ok)
		}
	})
	t.Run("a load of a pathway the tail has gone past unseen is not kept", func(t *testing.T) {
		h.loaded(c, []events.Envelope{ev(c, 3, opened)})
		if _, ok := h.upTo(c, 3, time.Millisecond); ok {
			t.Error("got a history; want none")
		}
	})
	t.Run("waits for the tail, once", func(t *testing.T) {
		go func() {
			time.Sleep(20 * time.Millisecond)
			h.add(ev(b, 5, other))
		}()
		if got, ok := h.upTo(b, 5, 5*time.Second); !ok || len(got) != 4 {
			t.Errorf("got %v, %v; want b up to 5", seqs(got), ok)
		}
		start := time.Now()
		if _, ok := h.upTo(b, 6, 50*time.Millisecond); ok {
			t.Error("got seq 6 that never came")
		}
		if _, ok := h.upTo(b, 7, time.Second); ok || time.Since(start) > 500*time.Millisecond {
			t.Errorf("after a timeout: waited %v; want no second wait while the tail stands still", time.Since(start))
		}
	})
	t.Run("least recently active pathways are evicted", func(t *testing.T) {
		h.add(ev(c, 10, opened))
		if _, ok := h.upTo(a, 3, time.Millisecond); ok {
			t.Error("a is still held after two others were active; want it evicted (max 2)")
		}
	})
}

func equal(a, b []uint64) bool {
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
