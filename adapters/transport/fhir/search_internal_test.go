package fhir

import (
	"testing"
	"time"
)

func TestDateSearch(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.RFC3339, s); return d }
	held := span{start: day("2026-11-02T09:00:00Z"), end: day("2026-11-03T12:00:00Z"), ok: true}
	open := span{start: day("2026-11-02T09:00:00Z"), ok: true}
	instant := span{start: day("2026-11-02T09:00:00Z"), end: day("2026-11-02T09:00:00Z"), ok: true}
	for _, c := range []struct {
		name, value string
		target      span
		want        bool
	}{
		{"eq a day holds an instant in it", "2026-11-02", instant, true},
		{"eq a day does not hold a period past it", "2026-11-02", held, false},
		{"ne is not eq", "ne2026-11-02", held, true},
		{"ge a day before the end", "ge2026-11-03", held, true},
		{"ge a day after the end", "ge2026-11-04", held, false},
		{"ge an open period", "ge2030-01-01", open, true},
		{"gt an instant after the end", "gt2026-11-03T12:00:00Z", held, false},
		{"lt the start's day", "lt2026-11-03", held, true},
		{"le a day before the start", "le2026-11-01", held, false},
		{"sa after the day", "sa2026-11-01", held, true},
		{"eb an open period", "eb2030-01-01", open, false},
		{"eb after the end", "eb2026-11-04", held, true},
		{"no date never matches", "ge2000-01-01", span{}, false},
		{"a Danish day: 23:30 UTC on the 1st is the 2nd", "2026-11-02", span{start: day("2026-11-01T23:30:00Z"), end: day("2026-11-01T23:30:00Z"), ok: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, err := parseDate(c.value)
			if err != nil {
				t.Fatal(err)
			}
			if got := matchDates([]dateCond{d}, c.target); got != c.want {
				t.Errorf("%s on %+v: %v; want %v", c.value, c.target, got, c.want)
			}
		})
	}
}

// FuzzParseDate: any value parses or is refused with the date error, and
// a parsed range never ends before it starts.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-11-02", "ge2026-11-02T08:00:00Z", "eq", "lt2026-13-40", "sa9999-12-31T23:59:59.999999999+14:00", "", "ge", "2026"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, err := parseDate(v)
		if err != nil {
			if err != errDate {
				t.Fatalf("%q: %v; want the date error", v, err)
			}
			return
		}
		if d.hi.Before(d.lo) {
			t.Fatalf("%q: range %v..%v ends before it starts", v, d.lo, d.hi)
		}
	})
}

// FuzzIDs: resource ids and organisation ids from the URL never panic,
// and what is read back is what was written.
func FuzzIDs(f *testing.F) {
	for _, s := range []string{"0190aa2e-4c2b-7000-8000-000000000001.kommune-0751", "kommune:0751", "sor-1", "x.y", "-", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if org := orgOfToken(v); org != "" && org.Validate() != nil {
			t.Fatalf("%q read as invalid organisation %q", v, org)
		}
		if pw, key, ok := splitID(v); ok && pw.String()+"."+key != v {
			t.Fatalf("%q split as %s . %s", v, pw, key)
		}
	})
}
