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

// The memory phase adds the log's closed pathways again, under new ids,
// in steps of at least stepPathways (ten of the Board's packs of closed
// discharges), and takes the median over steps: fewer weigh less than the
// heap's own noise.
const (
	stepPathways = 10240
	steps        = 9
)

// memoryPhase measures the heap a Set holds after the log's events are
// applied to it: once with every pathway, once with only the pathways
// that ended closed, replayed again under new ids (copies) in steps. A
// closed pathway costs what each further step adds (what history costs),
// the median of the steps: the maps sized for the pathways open at once
// grow in the first steps and not after. The first pass's heap is the Set's own (the directory, the
// days' aggregates, those maps); the open pathways hold the rest. The
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
	grown, err := heapAfterApply(codec, bodies, all, every, 1, 1)
	if err != nil {
		return err
	}
	total := grown[0]
	open, closed := all.Owner.Len()
	if open == 0 || closed == 0 {
		return fmt.Errorf("%d open and %d closed pathways: too few events to measure both (try more -events)", open, closed)
	}
	// Owner holds only the open pathways: the log's others are closed.
	ids := make(map[uuid.UUID]bool, closed)
	for _, id := range b.pathways {
		if _, open := all.Owner.Pathway(id); !open {
			ids[id] = true
		}
	}
	if len(ids) != closed {
		return fmt.Errorf("%d of the log's pathways are not open; the projections count %d closed", len(ids), closed)
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
	perStep := (stepPathways + closed - 1) / closed
	copies := 1 + steps*perStep
	grown, err = heapAfterApply(codec, bodies, only, closedMsgs, copies, perStep)
	if err != nil {
		return err
	}
	if o, c := only.Owner.Len(); o != 0 || c != closed*copies {
		return fmt.Errorf("closed pathways alone: %d open, %d closed; want 0, %d", o, c, closed*copies)
	}
	runtime.KeepAlive(only)
	first := grown[0]
	var added []float64
	for k := 1; k < len(grown); k++ {
		added = append(added, float64(grown[k]-grown[k-1]))
	}
	perClosed := median(added) / float64(closed*perStep)
	perOpen := float64(total-first) / float64(open)
	b.progress("memory: %d open, %d closed pathways; heap %d bytes in all; %d for the closed alone, then bytes per step of %d further closed %v",
		open, closed, total, first, closed*perStep, added)
	b.res.OpenPathways, b.res.ClosedPathways = open, closed
	b.res.BytesPerOpenPathway = round(perOpen, 0)
	b.res.BytesPerClosedPathway = round(perClosed, 0)
	return nil
}

// heapAfterApply applies the events of the log's messages msgs (indices
// into bodies, the log from sequence 1) to set, copies times (the later
// ones under new pathway ids), and returns how much the live heap had
// grown after the first and after every every-th further one.
func heapAfterApply(codec *events.Codec, bodies [][]byte, set *projections.Set, msgs []int, copies, every int) ([]int64, error) {
	before := liveHeap()
	var grown []int64
	for k := range copies {
		for _, i := range msgs {
			evs, err := codec.DecodeCommit(bodies[i])
			if err != nil {
				return nil, fmt.Errorf("seq %d: %w", i+1, err)
			}
			for j := range evs {
				e := &evs[j]
				if k > 0 {
					e.Pathway = uuid.NewSHA1(e.Pathway, []byte{byte(k), byte(k >> 8), byte(k >> 16)})
				}
				e.Seq = uint64(i + 1)
			}
			if err := applyEvents(set, evs); err != nil {
				return nil, err
			}
		}
		if k%every == 0 {
			grown = append(grown, liveHeap()-before)
		}
	}
	// The bodies were there before; they must be there after.
	runtime.KeepAlive(bodies)
	runtime.KeepAlive(msgs)
	return grown, nil
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
