package bench

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// minClosedMeasured is the fewest closed pathways the memory phase
// measures at once: fewer weigh less than the heap's own noise.
const minClosedMeasured = 5000

// memoryPhase measures the heap a Set holds after the log's events are
// applied to it: once with every pathway, once with only the pathways
// that ended closed (replayed several times under new ids when there are
// fewer than minClosedMeasured); the open pathways hold the rest. The
// events are decoded with the engine's codec and applied in log order, as
// Replay does, but from bytes read beforehand and with the store closed:
// the embedded server shares the process's heap, and its caches would
// otherwise be counted.
func (b *bencher) memoryPhase(ctx context.Context) error {
	var bodies [][]byte
	err := b.withTemplate(ctx, "memory", func(s *engine.Store, _ *template) (err error) {
		bodies, err = readLog(ctx, s)
		return err
	})
	if err != nil {
		return err
	}
	settle()
	codec := events.NewCodec()
	all, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return err
	}
	every := make([]int, len(bodies))
	for i := range every {
		every[i] = i
	}
	total, err := heapAfterApply(codec, bodies, all, every, 1)
	if err != nil {
		return err
	}
	open, closed := all.Owner.Len()
	if open == 0 || closed == 0 {
		return fmt.Errorf("%d open and %d closed pathways: too few events to measure both (try more -events)", open, closed)
	}
	ids := make(map[uuid.UUID]bool, closed)
	for _, id := range b.pathways {
		if v, ok := all.Owner.Pathway(id); ok && v.Closed {
			ids[id] = true
		}
	}
	all = nil
	only, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return err
	}
	// The messages of the closed pathways: the closed ones alone are
	// decoded again (a message holds one pathway's events).
	var closedMsgs []int
	for i, body := range bodies {
		evs, err := codec.DecodeCommit(body)
		if err != nil {
			return fmt.Errorf("seq %d: %w", i+1, err)
		}
		if ids[evs[0].Pathway] {
			closedMsgs = append(closedMsgs, i)
		}
	}
	copies := (minClosedMeasured + closed - 1) / closed
	closedHeap, err := heapAfterApply(codec, bodies, only, closedMsgs, copies)
	if err != nil {
		return err
	}
	if o, c := only.Owner.Len(); o != 0 || c != closed*copies {
		return fmt.Errorf("closed pathways alone: %d open, %d closed; want 0, %d", o, c, closed*copies)
	}
	runtime.KeepAlive(only)
	perClosed := float64(closedHeap) / float64(closed*copies)
	perOpen := (float64(total) - perClosed*float64(closed)) / float64(open)
	b.progress("memory: %d open, %d closed pathways; heap %d bytes in all; %d for %d closed pathways (%d× the log's)",
		open, closed, total, closedHeap, closed*copies, copies)
	b.res.OpenPathways, b.res.ClosedPathways = open, closed
	b.res.BytesPerOpenPathway = round(perOpen, 0)
	b.res.BytesPerClosedPathway = round(perClosed, 0)
	return nil
}

// heapAfterApply applies the events of the log's messages msgs (indices
// into bodies, the log from sequence 1) to set and returns how much the
// live heap grew. With copies > 1 it applies them again under new pathway
// ids.
func heapAfterApply(codec *events.Codec, bodies [][]byte, set *projections.Set, msgs []int, copies int) (int64, error) {
	before := liveHeap()
	for k := range copies {
		for _, i := range msgs {
			evs, err := codec.DecodeCommit(bodies[i])
			if err != nil {
				return 0, fmt.Errorf("seq %d: %w", i+1, err)
			}
			for j := range evs {
				e := &evs[j]
				if k > 0 {
					e.Pathway = uuid.NewSHA1(e.Pathway, []byte{byte(k), byte(k >> 8), byte(k >> 16)})
				}
				e.Seq = uint64(i + 1)
			}
			if err := applyEvents(set, evs); err != nil {
				return 0, err
			}
		}
	}
	after := liveHeap()
	// The bodies were there before; they must be there after.
	runtime.KeepAlive(bodies)
	runtime.KeepAlive(msgs)
	return after - before, nil
}

// settle waits until the closed server's goroutines have let go of what
// they held: the live heap stops shrinking (or 10 s pass).
func settle() {
	last := liveHeap()
	for range 50 {
		time.Sleep(200 * time.Millisecond)
		h := liveHeap()
		if d := last - h; d < 16<<10 && d > -16<<10 {
			return
		}
		last = h
	}
}

func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
