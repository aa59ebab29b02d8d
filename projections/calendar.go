package projections

import (
	"math"
	"time"
)

// calendar finds the day of an instant in the rules' time zone as
// ruleset.day does, for a fold: it keeps the zone period (the span with
// one UTC offset) of the last instant it was asked about, and the events
// of a log come nearly in time order, so an instant's day is its Unix
// time plus that offset, divided. ruleset.day looks the offset up and
// works out the date for every call.
// The zero value is ready; not safe for concurrent use.
type calendar struct {
	loc      *time.Location
	from, to int64 // the period [from, to) in Unix nanoseconds
	offset   int64 // seconds east of UTC in the period
}

// day returns rs.day(time.Unix(0, ns)).
func (c *calendar) day(rs *ruleset, ns int64) int32 {
	if ns < c.from || ns >= c.to || c.loc != rs.loc {
		c.load(rs.loc, ns)
	}
	sec := ns / 1e9
	if ns%1e9 < 0 {
		sec-- // rounds down, as time.Unix does
	}
	local := sec + c.offset
	day := local / 86400
	if local%86400 < 0 {
		day--
	}
	return int32(day)
}

// load remembers the zone period of the instant ns.
func (c *calendar) load(loc *time.Location, ns int64) {
	t := time.Unix(0, ns).In(loc)
	_, offset := t.Zone()
	start, end := t.ZoneBounds()
	c.loc, c.offset, c.from, c.to = loc, int64(offset), math.MinInt64, math.MaxInt64
	// A bound beyond the range of Unix nanoseconds (or none: the zero
	// time) leaves the period open on that side.
	if !start.IsZero() && start.After(time.Unix(0, math.MinInt64)) {
		c.from = start.UnixNano()
	}
	if !end.IsZero() && end.Before(time.Unix(0, math.MaxInt64)) {
		c.to = end.UnixNano()
	}
}

// dayOf returns the day of a stamp (ruleset.day of s.time()).
func (c *calendar) dayOf(rs *ruleset, s stamp) int32 {
	if s == 0 {
		return rs.day(s.time())
	}
	return c.day(rs, int64(s))
}

// dayBefore returns the day of the last nanosecond before a stamp
// (ruleset.day of s.time().Add(-time.Nanosecond)).
func (c *calendar) dayBefore(rs *ruleset, s stamp) int32 {
	if s == 0 || s == math.MinInt64 {
		return rs.day(s.time().Add(-time.Nanosecond))
	}
	return c.day(rs, int64(s)-1)
}
