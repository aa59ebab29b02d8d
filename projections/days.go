package projections

import (
	"slices"
	"time"
)

// MaxDays bounds the days Days answers at once: two years of a body's
// daily counts.
const MaxDays = 731

// AgeBucket is the index in Ages of a gap open for d.
func AgeBucket(d time.Duration) int { return ageBucket(d) }

// Days returns the daily counts of a body or a municipality (as Months
// reads scope) for each day from from's to to's, in the rules' time
// zone, oldest first: at most MaxDays, the last ones kept. The
// bed-days of ready-for-discharge gaps still open count up to now.
func (f Figures) Days(scope string, from, to, now time.Time) []DayCount {
	g := f.g
	first, last := g.rs.day(from), g.rs.day(to)
	if last < first {
		return []DayCount{}
	}
	first = max(first, last-MaxDays+1)
	out := make([]DayCount, last-first+1)
	for i := range out {
		out[i].Day = dayString(first + int32(i))
	}
	scopes, _ := f.monthScopes(scope)
	for _, s := range scopes {
		for d := first; d <= last; d++ {
			c := g.st.day(s, d)
			o := &out[d-first]
			o.Admissions += int(c[dAdmissions])
			o.Discharges += int(c[dDischarges])
			o.GapsOpened += int(c[dGapsOpened])
			o.GapsClosed += int(c[dGapsClosed])
			o.ReadyBedDays += int(c[dReadyDays])
		}
	}
	// The open ready-for-discharge gaps' bed-days are not in the daily
	// counts until they close.
	n := stampOf(now)
	today := g.rs.day(now.Add(-time.Nanosecond))
	for id, t := range g.paths {
		if !slices.Contains(scopes, t.cluster) && !slices.Contains(scopes, t.municipality) {
			continue
		}
		t.gapsAt(g.view(id), n, func(v *gapView) {
			if v.closed != 0 || v.kind != kReadyButWaiting || n <= v.opened {
				return
			}
			for d := max(g.rs.day(v.opened.time()), t.readyDay+1, first); d <= min(today, last); d++ {
				out[d-first].ReadyBedDays++
			}
		})
	}
	return out
}
