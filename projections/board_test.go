package projections

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// A scripted month across 1 January 2027, every figure computed by hand.
// Times are UTC; Copenhagen is an hour ahead in winter.
//
// Pathway A, Aarhus (0751), opened in cluster aarhus:
//
//	2026-12-30 10:00 admitted
//	2026-12-31 09:00 ready for discharge       ready-but-waiting opens (December)
//	2027-01-02 10:00 discharged home with services: the ready gap closes after
//	                 3 bed-days (31 Dec, 1 and 2 Jan); no-owner opens (January)
//	2027-01-02 10:00 home care offered to Aarhus
//	2027-01-02 14:00 accepted                  offer to acceptance 4 h; no-owner closes
//	2027-01-03 08:00 home care starts          discharge to service 22 h
//
// Pathway B, Aarhus, opened in raad-aarhus as A's readmission:
//
//	2027-01-20 08:00 admitted                  A's discharge readmitted after 18 days
//	2027-01-25 08:00 discharged home
//
// Pathway C, Odder (0727, Horsens in 2026, raad-aarhus in 2027):
//
//	2027-01-10 08:00 admitted
//	2027-01-11 08:00 discharged home with services: no-owner opens, still open
//
// Age bands: A and B 80+, C 65-79, D 18-64.
//
// Pathway D, Aarhus, discharged 2027-01-05 and admitted again in the same
// pathway 2027-03-01: 55 days, no readmission.
func TestBoardMonth(t *testing.T) {
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	set.UseDirectory(dir)
	aarhus, odder, auh := events.Kommune("0751"), events.Kommune("0727"), events.SOR("1001")
	a, b, c, d := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	log := []events.Envelope{
		ev(a, "2026-12-30T10:00:00Z", &events.PathwayOpened{Patient: patientRef(1), Cluster: "aarhus", Municipality: aarhus, AgeBand: events.AgeOldest}),
		ev(a, "2026-12-30T10:00:00Z", &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient}),
		ev(a, "2026-12-31T09:00:00Z", &events.ReadyForDischarge{Hospital: auh}),
		ev(a, "2027-01-02T10:00:00Z", &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices}),
		ev(a, "2027-01-02T10:00:00Z", &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare}),
		ev(a, "2027-01-02T14:00:00Z", &events.HandoffAccepted{Offer: "o1", By: aarhus}),
		ev(a, "2027-01-03T08:00:00Z", &events.ServiceStarted{By: aarhus, What: events.HomeCare}),
		ev(a, "2027-01-03T09:00:00Z", &events.PathwayClosed{Reason: "home"}),
		ev(c, "2027-01-10T08:00:00Z", &events.PathwayOpened{Patient: patientRef(3), Cluster: "raad-aarhus", Municipality: odder, AgeBand: events.AgeOlder}),
		ev(c, "2027-01-10T08:00:00Z", &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient}),
		ev(c, "2027-01-11T08:00:00Z", &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices}),
		ev(b, "2027-01-20T08:00:00Z", &events.PathwayOpened{Patient: patientRef(1), Cluster: "raad-aarhus", Municipality: aarhus, Previous: a, AgeBand: events.AgeOldest}),
		ev(b, "2027-01-20T08:00:00Z", &events.PatientAdmitted{Hospital: auh, Class: events.AcuteAmbulant}),
		ev(b, "2027-01-25T08:00:00Z", &events.PatientDischarged{Hospital: auh, Destination: events.DestHome}),
		ev(d, "2027-02-01T08:00:00Z", &events.PathwayOpened{Patient: patientRef(4), Cluster: "raad-aarhus", Municipality: aarhus, AgeBand: events.AgeAdult}),
		ev(d, "2027-02-01T08:00:00Z", &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient}),
		ev(d, "2027-02-05T08:00:00Z", &events.PatientDischarged{Hospital: auh, Destination: events.DestHome}),
		ev(d, "2027-04-01T08:00:00Z", &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient}),
	}
	for _, e := range log {
		if err := set.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	now := instant("2027-04-15T12:00:00Z")
	month := func(s string) int32 {
		m, err := ParseMonth(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	raadPop := 0
	for _, m := range []string{"0751", "0741", "0766", "0615", "0727", "0746"} {
		o, _ := dir.Lookup(events.Kommune(m))
		raadPop += o.Population
	}
	aarhusPop := func() int { o, _ := dir.Lookup(aarhus); return o.Population }()
	tests := []struct {
		name  string
		scope string
		month string
		want  MonthFigures
		// offer to acceptance and discharge to service, in hours (0: none)
		accept, service float64
	}{
		{"raad-aarhus January", "raad-aarhus", "2027-01", MonthFigures{
			Admissions: 2, Discharges: 3, Readmitted: 1, Readmissions: 1.0 / 3, ReadyBedDays: 2, GapsOpened: 2,
			Population: raadPop, GapsPer10000: 2 * 10000 / float64(raadPop),
			ByAgeBand: map[events.AgeBand]AgeBandFigures{events.AgeOldest: {2, 1, 0.5}, events.AgeOlder: {1, 0, 0}}}, 4, 22},
		{"Aarhus January", string(aarhus), "2027-01", MonthFigures{
			Admissions: 1, Discharges: 2, Readmitted: 1, Readmissions: 0.5, ReadyBedDays: 2, GapsOpened: 1,
			Population: aarhusPop, GapsPer10000: 10000 / float64(aarhusPop),
			ByAgeBand: map[events.AgeBand]AgeBandFigures{events.AgeOldest: {2, 1, 0.5}}}, 4, 22},
		{"Odder January", string(odder), "2027-01", MonthFigures{
			Admissions: 1, Discharges: 1, GapsOpened: 1, Population: pop(dir, odder), GapsPer10000: 10000 / float64(pop(dir, odder)),
			ByAgeBand: map[events.AgeBand]AgeBandFigures{events.AgeOlder: {1, 0, 0}}}, 0, 0},
		{"cluster aarhus December", "aarhus", "2026-12", MonthFigures{
			Admissions: 1, ReadyBedDays: 1, GapsOpened: 1, Population: pop(dir, aarhus) + pop(dir, events.Kommune("0741")),
			GapsPer10000: 10000 / float64(pop(dir, aarhus)+pop(dir, events.Kommune("0741")))}, 0, 0},
		{"raad-aarhus February: no readmission after 55 days", "raad-aarhus", "2027-02", MonthFigures{
			Admissions: 1, Discharges: 1, Population: raadPop,
			ByAgeBand: map[events.AgeBand]AgeBandFigures{events.AgeAdult: {1, 0, 0}}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := month(tt.month)
			got := set.Figures.Months(tt.scope, m, m, now)[0]
			want := tt.want
			want.Scope, want.Month = tt.scope, tt.month
			want.OfferToAccept, want.DischargeToService = got.OfferToAccept, got.DischargeToService
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			for _, l := range []struct {
				name  string
				got   Latency
				hours float64
			}{{"offer to acceptance", got.OfferToAccept, tt.accept}, {"discharge to service", got.DischargeToService, tt.service}} {
				if l.hours == 0 {
					if l.got.Count != 0 {
						t.Errorf("%s: got %+v; want none", l.name, l.got)
					}
					continue
				}
				exact := time.Duration(l.hours * float64(time.Hour))
				if l.got.Count != 1 || l.got.Median < exact || l.got.Median > exact*5/4 {
					t.Errorf("%s: got %+v; want one, median in [%s, %s]", l.name, l.got, exact, exact*5/4)
				}
			}
		})
	}
	t.Run("snapshot and restore give the same figures", func(t *testing.T) {
		snap, err := set.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		other, _ := NewSet(Rules{})
		other.UseDirectory(dir)
		if err := other.Restore(snap); err != nil {
			t.Fatal(err)
		}
		again, _ := other.Snapshot()
		if string(again) != string(snap) {
			t.Errorf("snapshot after restore differs")
		}
		m := month("2027-01")
		if g, w := other.Figures.Months("raad-aarhus", m, m, now)[0], set.Figures.Months("raad-aarhus", m, m, now)[0]; !reflect.DeepEqual(g, w) {
			t.Errorf("restored: got %+v; want %+v", g, w)
		}
	})
	t.Run("a correction of the readmission takes it back", func(t *testing.T) {
		hist := []events.Envelope{log[11], log[12], log[13]}
		corr := ev(b, "2027-01-26T08:00:00Z", &events.Correction{Annuls: log[12].ID, Reason: "wrong patient"})
		if err := set.Apply(corr); err != nil {
			t.Fatal(err)
		}
		if err := set.Refold(b, hist, append(hist, corr)); err != nil {
			t.Fatal(err)
		}
		m := month("2027-01")
		if got := set.Figures.Months("raad-aarhus", m, m, now)[0]; got.Readmitted != 0 || got.Admissions != 1 {
			t.Errorf("got readmitted %d, admissions %d; want 0 and 1", got.Readmitted, got.Admissions)
		}
	})
}

func pop(d *events.Directory, m events.OrgID) int {
	o, _ := d.Lookup(m)
	return o.Population
}

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ev(pw uuid.UUID, at string, p events.Payload) events.Envelope {
	t := instant(at)
	return events.Envelope{ID: uuid.New(), Pathway: pw, Type: p.Type(), Schema: 1, OccurredAt: t, RecordedAt: t, Payload: p}
}
