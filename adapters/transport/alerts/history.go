package alerts

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// histories keeps the histories of recently active pathways, fed by
// tailing the event log, so that making an event's alerts usually needs
// no load. A load (engine.Log.LoadUpTo) costs a few milliseconds once
// pathways interleave in the log, and the reactor handles events one at a
// time; at a thousand events a second that would not keep up.
//
// An entry is complete when it holds every event of its pathway up to
// last: it was started by the pathway's PathwayOpened, or by a load the
// tail had not yet passed. The tail appends to complete entries and only
// notes the last sequence of the others, so a load that raced the tail is
// never taken for complete.
type histories struct {
	max int

	mu      sync.Mutex
	pos     uint64        // the last event sequence the tail has seen
	moved   chan struct{} // closed and replaced whenever pos moves
	stalled bool          // a wait for the tail timed out, and it has not moved since
	entries map[uuid.UUID]*list.Element
	lru     *list.List // of *pathHistory, most recent first
}

type pathHistory struct {
	id       uuid.UUID
	last     uint64
	complete bool
	events   []events.Envelope
}

func newHistories(max int) *histories {
	return &histories{max: max, moved: make(chan struct{}), entries: make(map[uuid.UUID]*list.Element), lru: list.New()}
}

// tail follows the event log from its end until ctx ends.
func (h *histories) tail(ctx context.Context, log *engine.Log) error {
	start, err := log.LastSeq(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.pos = start
	h.mu.Unlock()
	return log.Follow(ctx, start, func(evs []events.Envelope) {
		for _, e := range evs {
			if _, bad := engine.StandIn(&e); bad {
				// Whatever the reactor makes of it, cached histories of
				// its pathway lack it now.
				h.forget(e.Seq, e.Pathway)
				continue
			}
			h.add(e)
		}
	})
}

// add applies one event from the tail.
func (h *histories) add(e events.Envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	el, ok := h.entries[e.Pathway]
	switch {
	case ok:
		ph := el.Value.(*pathHistory)
		if e.Seq > ph.last {
			if ph.complete {
				ph.events = append(ph.events, e)
			}
			ph.last = e.Seq
		}
		h.lru.MoveToFront(el)
	default:
		_, opens := e.Payload.(*events.PathwayOpened)
		ph := &pathHistory{id: e.Pathway, last: e.Seq, complete: opens}
		if opens {
			ph.events = []events.Envelope{e}
		}
		h.insert(ph)
	}
	h.advance(e.Seq)
}

// forget marks a pathway's entry incomplete after an event of it the tail
// could not read.
func (h *histories) forget(seq uint64, pathway uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if el, ok := h.entries[pathway]; ok {
		ph := el.Value.(*pathHistory)
		ph.complete, ph.events = false, nil
	}
	h.advance(seq)
}

func (h *histories) advance(seq uint64) {
	if seq > h.pos {
		h.pos, h.stalled = seq, false
		close(h.moved)
		h.moved = make(chan struct{})
	}
}

func (h *histories) insert(ph *pathHistory) {
	h.entries[ph.id] = h.lru.PushFront(ph)
	for h.lru.Len() > h.max {
		old := h.lru.Back()
		h.lru.Remove(old)
		delete(h.entries, old.Value.(*pathHistory).id)
	}
}

// upTo returns the pathway's history up to and including seq if a
// complete entry holds it, after waiting up to wait for the tail to reach
// seq; once a wait has timed out, it does not wait again until the tail
// moves. The slice must not be modified.
func (h *histories) upTo(pathway uuid.UUID, seq uint64, wait time.Duration) ([]events.Envelope, bool) {
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		h.mu.Lock()
		if h.pos >= seq {
			defer h.mu.Unlock()
			el, ok := h.entries[pathway]
			if !ok {
				return nil, false
			}
			ph := el.Value.(*pathHistory)
			if !ph.complete {
				return nil, false
			}
			for i := len(ph.events) - 1; i >= 0; i-- {
				if ph.events[i].Seq == seq {
					return ph.events[: i+1 : i+1], true
				}
			}
			return nil, false
		}
		moved, stalled := h.moved, h.stalled
		h.mu.Unlock()
		if stalled {
			return nil, false
		}
		select {
		case <-moved:
		case <-timeout.C:
			h.mu.Lock()
			h.stalled = h.pos < seq
			h.mu.Unlock()
			return nil, false
		}
	}
}

// loaded offers a freshly loaded history. It becomes the pathway's entry
// if the tail has seen nothing of the pathway beyond it and has not
// passed its end, so no event can be missing from it.
func (h *histories) loaded(pathway uuid.UUID, history []events.Envelope) {
	if len(history) == 0 {
		return
	}
	last := history[len(history)-1].Seq
	h.mu.Lock()
	defer h.mu.Unlock()
	el, ok := h.entries[pathway]
	switch {
	case ok && el.Value.(*pathHistory).last > last:
		return // the tail saw a later event than the load returned
	case !ok && h.pos > last:
		return // the tail may have passed an event of it unnoticed
	case ok:
		ph := el.Value.(*pathHistory)
		ph.complete, ph.last, ph.events = true, last, history
		h.lru.MoveToFront(el)
	default:
		h.insert(&pathHistory{id: pathway, last: last, complete: true, events: history})
	}
}
