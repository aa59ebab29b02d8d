package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"
)

// A side is one contestant of an alternated phase: Stafet, or a baseline
// (raw JetStream; another store). Each round it does the same work from
// the same start — a fresh server for writes, the same log for reads —
// and says what it did.
type side struct {
	name string
	run  func(ctx context.Context, round int) (measure, error)
}

// measure is what one side did in one round.
type measure struct {
	events int
	took   time.Duration
	// cpu is the process's CPU time during the round (user and system,
	// the embedded server's included).
	cpu time.Duration
	// capped: Options.MaxWrite stopped the side before the end of its
	// work.
	capped bool
}

func (m measure) rate() float64 {
	if m.took <= 0 {
		return 0
	}
	return float64(m.events) / m.took.Seconds()
}

// timed runs fn and measures it; fn returns the events it did and
// whether the cap stopped it.
func timed(fn func() (int, bool, error)) (measure, error) {
	start, cpu0 := time.Now(), cpuTime()
	n, capped, err := fn()
	return measure{events: n, took: time.Since(start), cpu: cpuTime() - cpu0, capped: capped}, err
}

// sides holds each side's measures, one a round.
type sides map[string][]measure

// alternate runs every side once a round, for Options.Rounds rounds,
// starting each round one side further on (Stafet, raw, checked; raw,
// checked, Stafet; …), so that a burst of load from elsewhere on the
// machine, or the dirty pages a side leaves behind, does not land on one
// side only. Each measure goes into the phase's record.
func (b *bencher) alternate(ctx context.Context, ss []side) (sides, error) {
	got := make(sides, len(ss))
	for r := range b.o.Rounds {
		for i := range ss {
			sd := ss[(i+r)%len(ss)]
			// Every side starts on a collected heap: the garbage of the
			// side before (a replay leaves hundreds of megabytes) is not
			// charged to its CPU and time.
			runtime.GC()
			m, err := sd.run(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d: %w", sd.name, r+1, err)
			}
			got[sd.name] = append(got[sd.name], m)
			b.phase.Rounds = append(b.phase.Rounds, roundRun(r, sd.name, m))
			stopped := ""
			if m.capped {
				stopped = " (stopped by the cap)"
			}
			b.progress("%s: round %d: %s: %d events in %s, %.0f/s%s", b.phase.Name, r+1, sd.name,
				m.events, m.took.Round(time.Millisecond), m.rate(), stopped)
		}
	}
	for _, sd := range ss {
		if n := capped(got[sd.name]); n > 0 {
			b.note("%s: stopped by the %s cap in %d of %d rounds", sd.name, b.o.MaxWrite, n, b.o.Rounds)
		}
	}
	return got, nil
}

// roundRun is a measure as the phase's record keeps it.
func roundRun(r int, side string, m measure) RoundRun {
	return RoundRun{Round: r + 1, Side: side, Events: m.events, Seconds: round(m.took.Seconds(), 3),
		CPUSeconds: round(m.cpu.Seconds(), 3), Capped: m.capped, Load: load1()}
}

func capped(ms []measure) int {
	n := 0
	for _, m := range ms {
		if m.capped {
			n++
		}
	}
	return n
}

// rate is a side's median events a second.
func (s sides) rate(name string) float64 {
	var rs []float64
	for _, m := range s[name] {
		rs = append(rs, m.rate())
	}
	return round(median(rs), 0)
}

// ratio is the median over rounds of a's rate over b's in the same round.
func (s sides) ratio(a, b string) float64 {
	var rs []float64
	for i, m := range s[a] {
		if i < len(s[b]) && s[b][i].rate() > 0 {
			rs = append(rs, m.rate()/s[b][i].rate())
		}
	}
	return round(median(rs), 3)
}

// cpuPerEvent is a side's median CPU time per event, in microseconds.
func (s sides) cpuPerEvent(name string) float64 {
	var us []float64
	for _, m := range s[name] {
		if m.events > 0 {
			us = append(us, float64(m.cpu.Microseconds())/float64(m.events))
		}
	}
	return round(median(us), 2)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
