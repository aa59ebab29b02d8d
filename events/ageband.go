package events

import "time"

// AgeBand is a coarse age group, derived at ingest from the CPR number and
// the opening's valid time, so the boards' figures can be split by age
// without the birth date (or the CPR) ever being stored in clear.
type AgeBand string

// Age bands: children, adults, the older and the oldest (the national
// indicators single out patients of 65 and over).
const (
	AgeChild  AgeBand = "0-17"
	AgeAdult  AgeBand = "18-64"
	AgeOlder  AgeBand = "65-79"
	AgeOldest AgeBand = "80+"
)

var ageBands = set(AgeChild, AgeAdult, AgeOlder, AgeOldest)

// AgeBandOf returns the age band of the person with a CPR number at time
// at, or false when the number holds no usable birth date. The century
// comes from the seventh digit (CPR-kontoret's rule): 0–3 1900s; 4 and 9
// 2000s up to year 36, else 1900s; 5–8 2000s up to year 57, else 1800s.
func AgeBandOf(cpr string, at time.Time) (AgeBand, bool) {
	cpr, err := NormalizeCPR(cpr)
	if err != nil {
		return "", false
	}
	n := func(i int) int { return int(cpr[i]-'0')*10 + int(cpr[i+1]-'0') }
	day, month, yy, c := n(0), n(2), n(4), int(cpr[6]-'0')
	century := 1900
	switch {
	case (c == 4 || c == 9) && yy <= 36, c >= 5 && c <= 8 && yy <= 57:
		century = 2000
	case c >= 5 && c <= 8:
		century = 1800
	}
	born := time.Date(century+yy, time.Month(month), day, 0, 0, 0, 0, denmark)
	if born.After(at) {
		return "", false
	}
	y, m, d := at.In(denmark).Date()
	age := y - born.Year()
	if m < born.Month() || m == born.Month() && d < born.Day() {
		age--
	}
	switch {
	case age < 18:
		return AgeChild, true
	case age < 65:
		return AgeAdult, true
	case age < 80:
		return AgeOlder, true
	}
	return AgeOldest, true
}
