package simulator

import (
	"fmt"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// TestProportions checks that 10 000 pathways show the mix's proportions,
// within sampling tolerance (about three standard errors).
func TestProportions(t *testing.T) {
	const n = 10000
	m := newModel(t, 2024, ModelOptions{})
	mix := DefaultMix()
	var ambulant, converted, inpatient, died, cancelled, discharged, transferred, letters, lettersLate, ready, readyWait int
	dest := map[events.Destination]int{}
	ages := make([]int, len(mix.Ages))
	var losDays float64
	var wantDeath, wantHome, wantServices, wantNursing, wantBed float64
	for _, a := range mix.Ages {
		wantDeath += a.Share * a.Death
		wantHome += a.Share * a.Home
		wantServices += a.Share * a.HomeServices
		wantNursing += a.Share * a.NursingHome
		wantBed += a.Share * a.MunicipalBed
	}
	for i := range n {
		p := m.plan(uint64(i), m.start)
		for j, a := range mix.Ages {
			if p.band.Min == a.Min {
				ages[j]++
			}
		}
		kinds := map[factKind]*fact{}
		for _, f := range p.facts {
			kinds[f.kind] = f
		}
		if kinds[fCancel] != nil {
			cancelled++
			continue
		}
		amb := p.facts[0].class == events.AcuteAmbulant
		if amb {
			ambulant++
			if kinds[fConvert] != nil {
				converted++
			}
		}
		if !amb || kinds[fConvert] != nil {
			inpatient++
			if kinds[fDeath] != nil {
				died++
			}
			if kinds[fTransfer] != nil {
				transferred++
			}
			if d := kinds[fDischarge]; d != nil {
				dest[d.dest]++
				losDays += d.at.Sub(p.stayStart(d)).Hours() / 24
				if r := kinds[fReady]; r != nil {
					ready++
					if d.at.Sub(r.at) >= 24*time.Hour {
						readyWait++
					}
				}
			}
		}
		if d := kinds[fDischarge]; d != nil {
			discharged++
			if l := kinds[fLetter]; l != nil {
				letters++
				if l.at.Sub(d.at) > 72*time.Hour {
					lettersLate++
				}
			}
		}
	}
	living := float64(inpatient - died)
	municipal := dest[events.DestHomeWithServices] + dest[events.DestNursingHome] + dest[events.DestMunicipalAcuteBed] + dest[events.DestRehabilitationBed]
	tests := []struct {
		name      string
		got, want float64
		tol       float64
	}{
		{"acute ambulant share", float64(ambulant) / float64(n-cancelled), mix.AcuteAmbulant, 0.015},
		{"ambulant becoming inpatient", float64(converted) / float64(ambulant), mix.AmbulantToInpatient, 0.02},
		{"cancelled admissions", float64(cancelled) / n, mix.CancelAdmission, 0.003},
		{"inpatient deaths", float64(died) / float64(inpatient), wantDeath, 0.006},
		{"discharged home", float64(dest[events.DestHome]) / living, wantHome, 0.02},
		{"discharged home with services", float64(dest[events.DestHomeWithServices]) / living, wantServices, 0.02},
		{"discharged to a nursing home", float64(dest[events.DestNursingHome]) / living, wantNursing, 0.01},
		{"discharged to a municipal bed", float64(dest[events.DestMunicipalAcuteBed]+dest[events.DestRehabilitationBed]) / living, wantBed, 0.012},
		{"ready for discharge announced (municipal care)", float64(ready) / float64(municipal), 1, 0.02},
		// ReadyWaits, raised for nursing homes, less the stays too short
		// to wait a day in.
		{"ready a day or more before discharge", float64(readyWait) / float64(ready), 0.24, 0.04},
		{"discharge letters sent", float64(letters) / float64(discharged), 1 - (1 - mix.DischargeLetter.OnTime - mix.DischargeLetter.Slow - mix.DischargeLetter.Late), 0.01},
		{"discharge letters later than 3 days", float64(lettersLate) / float64(discharged), mix.DischargeLetter.Late, 0.01},
		{"mean inpatient length of stay, days", losDays / float64(inpatient-died), 4.0, 0.7},
		{"transfers", float64(transferred) / float64(inpatient), 0.045, 0.02},
	}
	for j, a := range mix.Ages {
		tests = append(tests, struct {
			name      string
			got, want float64
			tol       float64
		}{fmt.Sprintf("age %d-%d", a.Min, a.Max), float64(ages[j]) / n, a.Share, 0.015})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !within(tt.got, tt.want, tt.tol) {
				t.Errorf("got %.4f; want %.4f ± %.4f", tt.got, tt.want, tt.tol)
			}
		})
	}
}

func TestDecideProportions(t *testing.T) {
	const n = 10000
	m := newModel(t, 1, ModelOptions{})
	mix := DefaultMix()
	for _, what := range []events.Responsibility{events.HomeCare, events.GPFollowUp, events.Rehabilitation} {
		t.Run(string(what), func(t *testing.T) {
			got := map[Answer]int{}
			window := 4 * time.Hour
			for i := range n {
				d := m.Decide(fmt.Sprintf("policy/%d", i), what, window)
				got[d.Answer]++
				switch d.Answer {
				case OnTime, Reject:
					if d.After <= 0 || d.After >= window {
						t.Fatalf("%s after %s; want within the window %s", d.Answer, d.After, window)
					}
				case Late:
					if d.After <= window {
						t.Fatalf("late after %s; want after the window %s", d.After, window)
					}
				}
				if d.Answer == Reject && d.Reason == "" {
					t.Fatal("a rejection without a reason")
				}
			}
			a := mix.Answers[what]
			for ans, want := range map[Answer]float64{OnTime: a.OnTime, Late: a.Late, Never: a.Never, Reject: a.Reject} {
				if share := float64(got[ans]) / n; !within(share, want, 0.015) {
					t.Errorf("%s: %.4f; want %.4f ± 0.015", ans, share, want)
				}
			}
			if d1, d2 := m.Decide("x/1", what, window), m.Decide("x/1", what, window); d1 != d2 {
				t.Errorf("Decide differs for the same offer: %+v, %+v", d1, d2)
			}
		})
	}
}

func TestArrivalRate(t *testing.T) {
	m := newModel(t, 1, ModelOptions{})
	// 5.9 million inhabitants, 155 contacts a year per 1 000: about 104 an
	// hour.
	if perHour := m.rate * 3600; !within(perHour, 104, 6) {
		t.Errorf("national arrivals %.1f an hour; want about 104", perHour)
	}
	one := newModel(t, 1, ModelOptions{Clusters: []string{"bornholm"}})
	if perHour := one.rate * 3600; !within(perHour, 0.7, 0.2) {
		t.Errorf("Bornholm: %.2f arrivals an hour; want about 0.7", perHour)
	}
	fast := newModel(t, 1, ModelOptions{ArrivalsPerHour: 3600})
	if fast.rate != 1 {
		t.Errorf("ArrivalsPerHour 3600: rate %v/s; want 1", fast.rate)
	}
}
