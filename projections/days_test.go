package projections

import (
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// TestDays checks the daily counts of a range against the figures' own
// 30 days and against the months: the same counts read three ways.
func TestDays(t *testing.T) {
	s := randomLog(t, 7, 120)
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range s.log {
		if err := set.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	now := day(0, 0).Add(72 * time.Hour)
	for _, scope := range []string{"aarhus", "horsens", string(aarhus), string(events.Kommune("0727"))} {
		t.Run(scope, func(t *testing.T) {
			var daily []DayCount
			if events.OrgID(scope).Validate() == nil {
				daily = set.Figures.Municipality(events.OrgID(scope), now).Daily
			} else {
				daily = set.Figures.Body(scope, now, now).Daily
			}
			got := set.Figures.Days(scope, now.AddDate(0, 0, -FigureDays+1), now, now)
			if !slices.Equal(got, daily) {
				t.Errorf("Days over the last %d days:\n got %v\nwant %v", FigureDays, got, daily)
			}
			opened := 0
			for _, d := range got {
				opened += d.GapsOpened
			}
			if opened == 0 {
				t.Error("no gaps opened: the log is too small to tell anything")
			}
			// A range over the month of the log: its gaps opened are the
			// month's.
			m, _ := ParseMonth(now.Format("2006-01"))
			month := set.Figures.Months(scope, m, m, now)[0]
			from := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC)
			sum := 0
			for _, d := range set.Figures.Days(scope, from, from.AddDate(0, 1, -1), now) {
				sum += d.GapsOpened
			}
			if sum != month.GapsOpened {
				t.Errorf("gaps opened over the month's days: %d; the month says %d", sum, month.GapsOpened)
			}
		})
	}
	t.Run("a range is at most MaxDays, ending at to", func(t *testing.T) {
		got := set.Figures.Days("aarhus", now.AddDate(-5, 0, 0), now, now)
		if len(got) != MaxDays || got[len(got)-1].Day != now.Format(time.DateOnly) {
			t.Errorf("got %d days ending %s; want %d ending %s", len(got), got[len(got)-1].Day, MaxDays, now.Format(time.DateOnly))
		}
	})
	t.Run("an empty range", func(t *testing.T) {
		if got := set.Figures.Days("aarhus", now, now.AddDate(0, 0, -1), now); len(got) != 0 {
			t.Errorf("got %v; want no days", got)
		}
	})
}
