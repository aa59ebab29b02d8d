package simulator

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// person is a simulated patient. Everything about them is made up.
type person struct {
	cpr    string
	given  string
	family string
	birth  time.Time
	male   bool
	age    int
	street string
}

var (
	givenMale   = []string{"Peter", "Jens", "Lars", "Michael", "Henrik", "Søren", "Thomas", "Jan", "Niels", "Anders", "Poul", "Erik", "Knud", "Bent", "Frederik", "Mads", "Oliver", "William", "Aksel", "Holger"}
	givenFemale = []string{"Anne", "Kirsten", "Mette", "Hanne", "Helle", "Susanne", "Lene", "Maria", "Inge", "Karen", "Birthe", "Grethe", "Ida", "Emma", "Sofie", "Freja", "Ellen", "Ruth", "Åse", "Bodil"}
	family      = []string{"Nielsen", "Jensen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen", "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Christiansen", "Poulsen", "Johansen", "Møller", "Mortensen", "Østergaard", "Kjærgaard", "Bøgh", "Lund", "Holm"}
)

// newPerson draws a patient of the given age, born before now.
func newPerson(r *rand.Rand, age int, now time.Time) person {
	p := person{male: r.IntN(2) == 0, age: age, family: pick(r, family)}
	if p.male {
		p.given = pick(r, givenMale)
	} else {
		p.given = pick(r, givenFemale)
	}
	// A birthday within the year before the age's anniversary; never
	// 1 January (see cpr).
	day := now.AddDate(-age-1, 0, 1+r.IntN(364))
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	if day.Month() == time.January && day.Day() == 1 {
		day = day.AddDate(0, 0, 1)
	}
	p.birth = day
	p.cpr = cpr(r, day, p.male)
	p.street = fmt.Sprintf("%s %d", pick(r, streets), 1+r.IntN(120))
	return p
}

// cpr returns a fictitious CPR number for a birth date: the date is valid,
// the seventh digit fits the century as the CPR office assigns it, the last
// digit is odd for men and even for women, and the number fails the
// modulus 11 check. Numbers issued before 2007 all pass modulus 11, and
// the numbers issued since without it went to people born on 1 January
// of certain years (CPR-kontoret, "Personnumre uden kontrolciffer"), a
// date newPerson never draws. So no generated number belongs to a real
// person born on such a date. [U: the CPR office's list of dates was not
// read; avoiding 1 January as a whole covers it as described.]
func cpr(r *rand.Rand, birth time.Time, male bool) string {
	for {
		var century int
		switch y := birth.Year(); {
		case y >= 1900 && y <= 1999:
			century = r.IntN(4) // 0-3: 1900-1999
		case y >= 2000 && y <= 2036:
			century = 4 + r.IntN(2)*5 // 4 or 9: 2000-2036
		default:
			century = 5 + r.IntN(4) // 5-8: 2000-2057 (and 1858-1899)
		}
		mid := r.IntN(100)
		last := r.IntN(5) * 2
		if male {
			last++
		}
		s := fmt.Sprintf("%02d%02d%02d%d%02d%d", birth.Day(), int(birth.Month()), birth.Year()%100, century, mid, last)
		if !mod11(s) {
			return s
		}
	}
}

// mod11 reports whether a CPR number passes the old modulus 11 check.
func mod11(s string) bool {
	weights := [10]int{4, 3, 2, 7, 6, 5, 4, 3, 2, 1}
	sum := 0
	for i := range 10 {
		sum += weights[i] * int(s[i]-'0')
	}
	return sum%11 == 0
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }
