package projections

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// stats are the aggregates behind the figures: daily counts, offer to
// acceptance times and ready-for-discharge bed-days, per cluster and per
// municipality (a scope is either, by its interned name). Every update
// comes with a sign, so Refold can take a pathway's contribution back
// exactly.
type stats struct {
	// daily holds its counters by pointer: a fold updates one in place
	// with a single lookup.
	daily map[dayKey]*[nDaily]int32
	hist  map[sym]*histogram
	bed   map[sym]int64 // bed-days of closed ready-for-discharge gaps
	cal   calendar      // for the folds, which alone write stats
}

type dayKey struct {
	scope sym
	day   int32 // days since 1970-01-01 in the rules' time zone
}

// Daily counters.
const (
	dAdmissions = iota
	dDischarges
	dGapsOpened
	dGapsClosed
	dReadyDays
	nDaily
)

func newStats() *stats {
	return &stats{daily: make(map[dayKey]*[nDaily]int32), hist: make(map[sym]*histogram), bed: make(map[sym]int64)}
}

func (s *stats) addDay(scope sym, day int32, field int, delta int32) {
	k := dayKey{scope, day}
	v := s.daily[k]
	if v == nil {
		v = new([nDaily]int32)
		s.daily[k] = v
	}
	v[field] += delta
	if *v == ([nDaily]int32{}) {
		delete(s.daily, k)
	}
}

// day returns the daily counters of a scope on a day.
func (s *stats) day(scope sym, day int32) [nDaily]int32 {
	if v := s.daily[dayKey{scope, day}]; v != nil {
		return *v
	}
	return [nDaily]int32{}
}

func (x *env) scopes(t *track) [2]sym { return [2]sym{t.cluster, t.municipality} }

// count adds delta to a daily counter of the pathway's cluster and
// municipality on the day of at.
func (x *env) count(t *track, at stamp, field int, delta int32) {
	if x.st == nil || at == 0 {
		return
	}
	day := x.st.cal.dayOf(x.rs, at)
	for _, sc := range x.scopes(t) {
		if sc != 0 {
			x.st.addDay(sc, day, field, x.sign*delta)
		}
	}
}

// readyDays counts the calendar days a closed ready-for-discharge gap
// touched: each is a bed-day the municipality pays for. A day already
// counted for the pathway (it was ready, went on leave and was ready
// again the same day) is counted once.
func (x *env) readyDays(t *track, from, to stamp) {
	first, last := max(x.day(from), t.readyDay+1), x.dayBefore(to)
	if last < first {
		return
	}
	t.readyDay = last
	if x.st == nil {
		return
	}
	for _, sc := range x.scopes(t) {
		if sc == 0 {
			continue
		}
		for d := first; d <= last; d++ {
			x.st.addDay(sc, d, dReadyDays, x.sign)
		}
		x.st.bed[sc] += int64(x.sign) * int64(last-first+1)
		if x.st.bed[sc] == 0 {
			delete(x.st.bed, sc)
		}
	}
}

// day is ruleset.day of s.time(), through the stats' calendar if there
// are stats.
func (x *env) day(s stamp) int32 {
	if x.st == nil {
		return x.rs.day(s.time())
	}
	return x.st.cal.dayOf(x.rs, s)
}

// dayBefore is ruleset.day of s.time().Add(-time.Nanosecond).
func (x *env) dayBefore(s stamp) int32 {
	if x.st == nil {
		return x.rs.day(s.time().Add(-time.Nanosecond))
	}
	return x.st.cal.dayBefore(x.rs, s)
}

func (x *env) latency(t *track, d stamp) {
	if x.st == nil {
		return
	}
	b := bucketOf(time.Duration(d))
	for _, sc := range x.scopes(t) {
		if sc == 0 {
			continue
		}
		h := x.st.hist[sc]
		if h == nil {
			h = new(histogram)
			x.st.hist[sc] = h
		}
		h[b] += x.sign
		if *h == (histogram{}) {
			delete(x.st.hist, sc)
		}
	}
}

// histogram counts durations in buckets whose bounds grow by a quarter,
// from one minute to about two years: a quantile read from it is an upper
// bound at most 25 % above the true value. It is a fixed size whatever
// the number of samples, and integer-only, so it is the same on every
// machine.
type histogram [histBuckets]int32

const histBuckets = 64

// histBounds[i] is the upper bound of bucket i, in seconds.
var histBounds = func() [histBuckets]int64 {
	var b [histBuckets]int64
	b[0] = 60
	for i := 1; i < histBuckets; i++ {
		b[i] = max(b[i-1]*5/4, b[i-1]+1)
	}
	return b
}()

func bucketOf(d time.Duration) int {
	s := int64((d + time.Second - 1) / time.Second)
	i, _ := slices.BinarySearch(histBounds[:], s)
	return min(i, histBuckets-1)
}

// add adds o's counts to h.
func (h *histogram) add(o *histogram) {
	for i, c := range o {
		h[i] += c
	}
}

// quantile returns the upper bound of the bucket holding the q-th sample
// (q in per cent), and the number of samples.
func (h *histogram) quantile(q int) (time.Duration, int) {
	var n int64
	for _, c := range h {
		n += int64(c)
	}
	if n == 0 {
		return 0, 0
	}
	rank := (n*int64(q) + 99) / 100 // the ceil(q·n)-th sample, 1-based
	rank = max(rank, 1)
	var seen int64
	for i, c := range h {
		seen += int64(c)
		if seen >= rank {
			return time.Duration(histBounds[i]) * time.Second, int(n)
		}
	}
	return time.Duration(histBounds[histBuckets-1]) * time.Second, int(n)
}

// write appends the stats in a fixed order: scopes by name, then days.
func (s *stats) write(w *writer) {
	keys := slices.Collect(maps.Keys(s.daily))
	slices.SortFunc(keys, func(a, b dayKey) int {
		return cmp.Or(cmp.Compare(w.src.str(a.scope), w.src.str(b.scope)), cmp.Compare(a.day, b.day))
	})
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		w.sym(k.scope)
		w.varint(int64(k.day))
		for _, v := range s.daily[k] {
			w.varint(int64(v))
		}
	}
	scopes := slices.SortedFunc(maps.Keys(s.hist), func(a, b sym) int { return cmp.Compare(w.src.str(a), w.src.str(b)) })
	w.uvarint(uint64(len(scopes)))
	for _, sc := range scopes {
		w.sym(sc)
		writeHist(w, s.hist[sc])
	}
	scopes = slices.SortedFunc(maps.Keys(s.bed), func(a, b sym) int { return cmp.Compare(w.src.str(a), w.src.str(b)) })
	w.uvarint(uint64(len(scopes)))
	for _, sc := range scopes {
		w.sym(sc)
		w.varint(s.bed[sc])
	}
}

func readStats(r *reader) *stats {
	s := newStats()
	for n := r.count(); n > 0 && r.err == nil; n-- {
		k := dayKey{scope: r.sym(), day: r.int32()}
		v := new([nDaily]int32)
		for i := range v {
			v[i] = r.int32()
		}
		s.daily[k] = v
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		sc := r.sym()
		h := new(histogram)
		readHist(r, h)
		s.hist[sc] = h
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		sc := r.sym()
		s.bed[sc] = r.varint()
	}
	return s
}
