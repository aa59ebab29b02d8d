package bench

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// heapObjects is the runtime's count of bytes in heap objects, live and
// not yet swept: what the heap holds at that moment (the embedded
// server's share included), read without stopping the world.
const heapObjects = "/memory/classes/heap/objects:bytes"

// peakHeap runs f while sampling heapObjects every 10 ms and returns the
// most it saw: the heap a process doing f needs at least. It collects
// first, so the garbage of what ran before is not counted.
func peakHeap(f func() error) (uint64, error) {
	runtime.GC()
	sample := []metrics.Sample{{Name: heapObjects}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var (
		mu   sync.Mutex
		peak uint64
	)
	see := func() {
		v := read()
		mu.Lock()
		peak = max(peak, v)
		mu.Unlock()
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			see()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	err := f()
	close(done)
	wg.Wait()
	see()
	return peak, err
}

// mib is bytes in MiB, to a tenth.
func mib(b uint64) float64 { return round(float64(b)/(1<<20), 1) }
