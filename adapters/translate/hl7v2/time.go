package hl7v2

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrBadTime is wrapped by the errors ParseTime returns. They never quote
// the value, which may be a birth date.
var ErrBadTime = errors.New("hl7v2: invalid time")

// ParseTime parses an HL7 TS/DTM value such as "20290801070624+0115" or
// "19610615": YYYYMMDDHHMMSS.SSSS followed by an optional +ZZZZ or -ZZZZ
// offset, where the parts after the year may be left out from the right.
// Parts left out take their least value (a date gives midnight). A value without an offset is read in
// loc, typically Europe/Copenhagen; a nil loc means UTC. Pass only the first
// component of a v2.3-style TS ("200803051509^S"), as Get("EVN-2.1") gives.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%w: %s", ErrBadTime, why)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return bad("empty")
	}
	if loc == nil {
		loc = time.UTC
	}
	if i := strings.IndexAny(s, "+-"); i >= 0 {
		zone := s[i:]
		s = s[:i]
		if len(zone) != 5 || !digits(zone[1:]) {
			return bad("offset must be +HHMM or -HHMM")
		}
		h, m := atoi(zone[1:3]), atoi(zone[3:5])
		if h > 23 || m > 59 {
			return bad("offset out of range")
		}
		off := (h*60 + m) * 60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	frac := ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s, frac = s[:i], s[i+1:]
		if len(s) != 14 {
			return bad("fraction of a second without seconds")
		}
		if frac == "" || len(frac) > 9 || !digits(frac) {
			return bad("fraction must be 1 to 9 digits")
		}
	}
	if len(s) < 4 || len(s) > 14 || len(s)%2 != 0 || !digits(s) {
		return bad("want YYYY[MM[DD[HH[MM[SS]]]]]")
	}
	// part returns the two digits at i, or def when s stops before them.
	part := func(i, def int) int {
		if len(s) < i+2 {
			return def
		}
		return atoi(s[i : i+2])
	}
	year, month, day := atoi(s[:4]), part(4, 1), part(6, 1)
	hour, minute, sec := part(8, 0), part(10, 0), part(12, 0)
	nsec := 0
	if frac != "" {
		nsec = atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	switch {
	case month < 1 || month > 12:
		return bad("month out of range")
	case day < 1 || day > daysIn(year, time.Month(month)):
		return bad("day out of range")
	case hour > 23:
		return bad("hour out of range")
	case minute > 59:
		return bad("minute out of range")
	case sec > 59:
		return bad("second out of range")
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc), nil
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi converts a string of at most nine digits, already checked.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
