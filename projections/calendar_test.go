package projections

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestCalendarAgreesWithDay checks the folds' calendar against
// ruleset.day and ruleset.month in zones with summer time, half-hour shifts and a skipped
// day, for instants in order, around each zone change, and at random.
func TestCalendarAgreesWithDay(t *testing.T) {
	for _, name := range []string{"Europe/Copenhagen", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "UTC"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		rs := &ruleset{loc: loc}
		var c calendar
		b := &Board{rs: rs}
		check := func(ns int64) {
			t.Helper()
			if got, want := c.day(rs, ns), rs.day(time.Unix(0, ns)); got != want {
				t.Fatalf("%s: day of %v: got %d, want %d", name, time.Unix(0, ns).In(loc), got, want)
			}
			if got, want := b.month(stamp(ns)), rs.month(stamp(ns).time()); got != want {
				t.Fatalf("%s: month of %v: got %d, want %d", name, stamp(ns).time().In(loc), got, want)
			}
		}
		// Every hour through 2011-2027, and a second either side
		// of each zone change met.
		for at := time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2027; at = at.Add(time.Hour) {
			check(at.UnixNano())
			if _, end := at.In(loc).ZoneBounds(); !end.IsZero() {
				for _, d := range []time.Duration{-time.Second, -time.Nanosecond, 0, time.Nanosecond, time.Second} {
					check(end.Add(d).UnixNano())
				}
			}
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 5000 {
			check(r.Int64() - r.Int64())
		}
		for _, ns := range []int64{math.MinInt64, math.MinInt64 + 1, -1, 0, 1, math.MaxInt64} {
			check(ns)
		}
	}
}

// TestCalendarStamps checks the stamp forms, whose 0 is no time.
func TestCalendarStamps(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	rs := &ruleset{loc: loc}
	var c calendar
	for _, s := range []stamp{0, 1, -1, math.MinInt64, math.MaxInt64, stampOf(time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC))} {
		if got, want := c.dayOf(rs, s), rs.day(s.time()); got != want {
			t.Errorf("dayOf(%d): got %d, want %d", s, got, want)
		}
		if got, want := c.dayBefore(rs, s), rs.day(s.time().Add(-time.Nanosecond)); got != want {
			t.Errorf("dayBefore(%d): got %d, want %d", s, got, want)
		}
	}
}
