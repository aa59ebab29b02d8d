package projections

import (
	"slices"
	"time"

	"github.com/stafet/stafet/events"
)

// Figures answers the cluster and municipality figures. It reads a Gaps
// projection and holds nothing of its own.
type Figures struct {
	g *Gaps
	b *Board // nil: no monthly board figures
}

// NewFigures returns the figures of a Gaps projection (Months needs a
// Set's, which also holds a Board).
func NewFigures(g *Gaps) Figures { return Figures{g: g} }

// FigureDays is how many days ClusterFigures.Daily covers, ending with the
// query's day.
const FigureDays = 30

// ClusterFigures are the figures of one cluster or one municipality at a
// moment.
type ClusterFigures struct {
	// Scope is the cluster id or the municipality's OrgID.
	Scope string
	At    time.Time
	// OpenGaps counts the open gaps by kind and age (At − OpenedAt).
	OpenGaps map[GapKind]Ages
	// OfferToAccept is the time from offer to acceptance, all time.
	OfferToAccept Latency
	// ReadyNow counts patients ready for discharge and still in hospital.
	ReadyNow int
	// ReadyBedDays counts the bed-days of patients ready for discharge,
	// all time, the open ones up to At.
	ReadyBedDays int64
	// Daily covers the FigureDays days up to At's day, oldest first, in
	// the rules' time zone.
	Daily []DayCount
}

// Ages counts gaps by age: [0] under 4 h, [1] 4–24 h, [2] 1–3 days,
// [3] 3–7 days, [4] 7 days or more.
type Ages [5]int

// Total returns the number of gaps counted.
func (a Ages) Total() int { return a[0] + a[1] + a[2] + a[3] + a[4] }

var ageBounds = [4]time.Duration{4 * time.Hour, 24 * time.Hour, 72 * time.Hour, 7 * 24 * time.Hour}

func ageBucket(d time.Duration) int {
	for i, b := range ageBounds {
		if d < b {
			return i
		}
	}
	return len(ageBounds)
}

// Latency summarises durations. Median and P90 are upper bounds read from
// a histogram whose buckets grow by a quarter: each is at most 25 % above
// the true value.
type Latency struct {
	Count  int
	Median time.Duration
	P90    time.Duration
}

// DayCount is one day's counts. Gaps count on the day they opened and
// the day they closed, as the log knows them (a deadline passed but not
// yet recorded counts once its DeadlineElapsed is applied).
type DayCount struct {
	Day          string // YYYY-MM-DD
	Admissions   int
	Discharges   int
	GapsOpened   int
	GapsClosed   int
	ReadyBedDays int
}

// Cluster returns the figures of a body at now. A sundhedsklynge's are
// those of the pathways opened in it. A sundhedsråd's are those of its
// municipalities (Municipality, summed), so a pathway opened in a 2026
// cluster counts in the sundhedsråd of its patient's municipality from
// 1 January 2027; its open gaps are those of the pathways that belong to
// it at now (Gaps.BodyAt).
func (f Figures) Cluster(id string, now time.Time) ClusterFigures { return f.Body(id, now, now) }

// Body is Cluster with the pathways grouped by the bodies in force at at
// while the gaps stand as at now: a date ahead shows today's gaps in the
// structure of that date.
func (f Figures) Body(id string, now, at time.Time) ClusterFigures {
	g := f.g
	if g.dir != nil {
		if c, ok := g.dir.Cluster(id); ok && c.Kind == events.Sundhedsraad {
			var scopes []sym
			for _, m := range c.Municipalities {
				if s, ok := g.syms.lookup(string(m)); ok {
					scopes = append(scopes, s)
				}
			}
			return f.scope(id, now, scopes, func(t *track) bool { return g.bodyAt(t, at) == id })
		}
	}
	s, ok := g.syms.lookup(id)
	if !ok || id == "" {
		return f.scope(id, now, nil, nil)
	}
	return f.scope(id, now, []sym{s}, func(t *track) bool { return t.cluster == s })
}

// Municipality returns the figures of the pathways whose patient lives in
// a municipality, at now.
func (f Figures) Municipality(org events.OrgID, now time.Time) ClusterFigures {
	s, ok := f.g.syms.lookup(string(org))
	if !ok || org == "" {
		return f.scope(string(org), now, nil, nil)
	}
	return f.scope(string(org), now, []sym{s}, func(t *track) bool { return t.municipality == s })
}

// scope gathers figures: the open gaps of the pathways member accepts,
// and the aggregates kept under the scopes (a cluster's, or the
// municipalities' of a sundhedsråd).
func (f Figures) scope(name string, now time.Time, scopes []sym, member func(*track) bool) ClusterFigures {
	g := f.g
	out := ClusterFigures{Scope: name, At: now, OpenGaps: map[GapKind]Ages{}}
	today := g.rs.day(now)
	first := today - FigureDays + 1
	out.Daily = make([]DayCount, FigureDays)
	for i := range out.Daily {
		out.Daily[i].Day = dayString(first + int32(i))
	}
	if member == nil {
		return out
	}
	n := stampOf(now)
	for id, t := range g.paths {
		if !member(t) {
			continue
		}
		t.gapsAt(g.view(id), n, func(v *gapView) {
			if v.closed != 0 {
				return
			}
			kind := kindNames[v.kind]
			a := out.OpenGaps[kind]
			a[ageBucket(time.Duration(n-v.opened))]++
			out.OpenGaps[kind] = a
			if v.kind != kReadyButWaiting || n <= v.opened {
				return
			}
			out.ReadyNow++
			from, to := max(g.rs.day(v.opened.time()), t.readyDay+1), g.rs.day(now.Add(-time.Nanosecond))
			if to < from {
				return
			}
			out.ReadyBedDays += int64(to - from + 1)
			for d := max(from, first); d <= to; d++ {
				out.Daily[d-first].ReadyBedDays++
			}
		})
	}
	var h histogram
	for _, s := range scopes {
		out.ReadyBedDays += g.st.bed[s]
		for i := range out.Daily {
			c := g.st.day(s, first+int32(i))
			d := &out.Daily[i]
			d.Admissions += int(c[dAdmissions])
			d.Discharges += int(c[dDischarges])
			d.GapsOpened += int(c[dGapsOpened])
			d.GapsClosed += int(c[dGapsClosed])
			d.ReadyBedDays += int(c[dReadyDays])
		}
		if hs := g.st.hist[s]; hs != nil {
			h.add(hs)
		}
	}
	out.OfferToAccept.Median, out.OfferToAccept.Count = h.quantile(50)
	out.OfferToAccept.P90, _ = h.quantile(90)
	return out
}

// MonthFigures are the figures a board follows for one month
// (docs/projections.md, "The boards' figures"), for a body or a
// municipality.
type MonthFigures struct {
	Scope string
	Month string // YYYY-MM, in the rules' time zone
	// Admissions and Discharges in the month.
	Admissions, Discharges int
	// Readmitted counts the month's discharges followed by an admission
	// within ReadmissionWindow (30 days); Readmissions is Readmitted per
	// discharge (0 without discharges). A discharge late in the month is
	// final once 30 days have passed.
	Readmitted   int
	Readmissions float64
	// ReadyBedDays are the færdigbehandlingsdage: calendar days in the
	// month on which a patient ready for discharge was still in hospital,
	// the open ones counted up to now.
	ReadyBedDays int
	// DischargeToService is the time from a discharge in the month to the
	// first ServiceStarted after it (home care's first visit, a service's
	// start).
	DischargeToService Latency
	// OfferToAccept is the time from offer to acceptance of the
	// acceptances in the month.
	OfferToAccept Latency
	// GapsOpened in the month (as the log knows them), and per 10 000
	// inhabitants of the scope (Population, 0 when unknown).
	GapsOpened   int
	Population   int
	GapsPer10000 float64
	// ByAgeBand splits the month's discharges and readmissions by the
	// patient's age band at the pathway's opening (PathwayOpened.age_band);
	// patients of unknown age are only in the totals.
	ByAgeBand map[events.AgeBand]AgeBandFigures
}

// AgeBandFigures are one age band's discharges and 30-day readmissions
// in a month.
type AgeBandFigures struct {
	Discharges, Readmitted int
	Readmissions           float64
}

// Months returns the board figures of a body (a sundhedsklynge, or a
// sundhedsråd as its municipalities) or a municipality (its OrgID) for
// the months from first through last (ParseMonth), at now. Population
// comes from the directory (UseDirectory).
func (f Figures) Months(scope string, first, last int32, now time.Time) []MonthFigures {
	g := f.g
	scopes, pop := f.monthScopes(scope)
	n := stampOf(now)
	var out []MonthFigures
	for month := first; month <= last; month++ {
		m := MonthFigures{Scope: scope, Month: monthString(month), Population: pop}
		var accept, service histogram
		for _, s := range scopes {
			from, to := monthDays(month)
			for d := from; d < to; d++ {
				c := g.st.day(s, d)
				m.Admissions += int(c[dAdmissions])
				m.Discharges += int(c[dDischarges])
				m.GapsOpened += int(c[dGapsOpened])
				m.ReadyBedDays += int(c[dReadyDays])
			}
			if f.b == nil {
				continue
			}
			if a := f.b.months[monthKey{s, month, 0}]; a != nil {
				m.Readmitted += int(a.readmitted)
				accept.add(&a.accept)
				service.add(&a.service)
			}
			for bd := 1; bd < len(bandNames); bd++ {
				if a := f.b.months[monthKey{s, month, uint8(bd)}]; a != nil {
					if m.ByAgeBand == nil {
						m.ByAgeBand = map[events.AgeBand]AgeBandFigures{}
					}
					x := m.ByAgeBand[bandNames[bd]]
					x.Discharges += int(a.discharges)
					x.Readmitted += int(a.readmitted)
					m.ByAgeBand[bandNames[bd]] = x
				}
			}
		}
		m.ReadyBedDays += f.openReadyDays(scopes, month, now, n)
		if m.Discharges > 0 {
			m.Readmissions = float64(m.Readmitted) / float64(m.Discharges)
		}
		for band, x := range m.ByAgeBand {
			if x.Discharges > 0 {
				x.Readmissions = float64(x.Readmitted) / float64(x.Discharges)
				m.ByAgeBand[band] = x
			}
		}
		if pop > 0 {
			m.GapsPer10000 = float64(m.GapsOpened) * 10000 / float64(pop)
		}
		m.OfferToAccept = latency(&accept)
		m.DischargeToService = latency(&service)
		out = append(out, m)
	}
	return out
}

func latency(h *histogram) Latency {
	var l Latency
	l.Median, l.Count = h.quantile(50)
	l.P90, _ = h.quantile(90)
	return l
}

// monthScopes returns the aggregate scopes and the inhabitants of a body
// or municipality.
func (f Figures) monthScopes(scope string) ([]sym, int) {
	g := f.g
	var names []events.OrgID
	pop := 0
	if g.dir != nil {
		if c, ok := g.dir.Cluster(scope); ok {
			for _, m := range c.Municipalities {
				o, _ := g.dir.Lookup(m)
				pop += o.Population
			}
			if c.Kind == events.Sundhedsraad {
				names = c.Municipalities
			}
		} else if o, ok := g.dir.Lookup(events.OrgID(scope)); ok {
			pop = o.Population
		}
	}
	if names == nil {
		names = []events.OrgID{events.OrgID(scope)}
	}
	var out []sym
	for _, n := range names {
		if s, ok := g.syms.lookup(string(n)); ok && n != "" {
			out = append(out, s)
		}
	}
	return out, pop
}

// openReadyDays counts the bed-days in a month of the ready-for-discharge
// gaps still open at now, up to now (closed ones are in the daily
// counts).
func (f Figures) openReadyDays(scopes []sym, month int32, now time.Time, n stamp) int {
	g := f.g
	from, to := monthDays(month)
	days := 0
	for id, t := range g.paths {
		if !slices.Contains(scopes, t.cluster) && !slices.Contains(scopes, t.municipality) {
			continue
		}
		t.gapsAt(g.view(id), n, func(v *gapView) {
			if v.closed != 0 || v.kind != kReadyButWaiting || n <= v.opened {
				return
			}
			first := max(g.rs.day(v.opened.time()), t.readyDay+1, from)
			last := min(g.rs.day(now.Add(-time.Nanosecond)), to-1)
			if last >= first {
				days += int(last - first + 1)
			}
		})
	}
	return days
}

// monthDays returns the first day of a month and of the next, as days
// since 1970-01-01 (the form of the daily counts' keys).
func monthDays(month int32) (int32, int32) {
	start := time.Date(1970+int(month)/12, time.Month(month%12+1), 1, 0, 0, 0, 0, time.UTC)
	return int32(start.Unix() / 86400), int32(start.AddDate(0, 1, 0).Unix() / 86400)
}
