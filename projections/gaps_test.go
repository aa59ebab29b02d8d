package projections

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// summary renders gaps as "kind ref state" lines, for comparisons.
func summary(gs []Gap) []string {
	out := []string{}
	for _, g := range gs {
		s := fmt.Sprintf("%s %s", g.Kind, g.Ref)
		if g.Open() {
			s += " open@" + g.OpenedAt.In(cph).Format("15:04")
		} else {
			s += fmt.Sprintf(" %s-%s by %s", g.OpenedAt.In(cph).Format("15:04"), g.ClosedAt.In(cph).Format("15:04"), g.ClosedByType)
		}
		if !g.Recorded {
			s += " unrecorded"
		}
		if g.Escalated {
			s += " escalated"
		}
		out = append(out, s)
	}
	return out
}

// admitted opens a pathway in Aarhus and admits the patient at 08:00,
// without notifying the municipality (so no policy offer).
func admitted(s *sim, name string) uuid.UUID {
	pw := pathwayID(name)
	s.at(day(8, 0), pw, auh, &events.PathwayOpened{Patient: patientRef(1), Cluster: "aarhus", Municipality: aarhus, GP: gp1})
	s.at(day(8, 0), pw, auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})
	return pw
}

func withoutType(log []events.Envelope, t events.Type) []events.Envelope {
	return slices.DeleteFunc(slices.Clone(log), func(e events.Envelope) bool { return e.Type == t })
}

func gapsOf(t *testing.T, log []events.Envelope) *Gaps {
	t.Helper()
	g, err := NewGaps(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, g, log, 0)
	return g
}

func TestGapKinds(t *testing.T) {
	offer := func(s *sim, pw uuid.UUID, at time.Time, id string, what events.Responsibility, deadline time.Time) {
		s.at(at, pw, auh, &events.HandoffOffered{Offer: id, From: auh, To: aarhus, What: what, Deadline: deadline})
	}
	tests := []struct {
		name    string
		play    func(s *sim, pw uuid.UUID)
		noSched bool // leave the DeadlineElapsed events out of the log
		now     time.Time
		want    []string
	}{
		{
			name: "pending offer before its deadline is no gap",
			play: func(s *sim, pw uuid.UUID) { offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0)) },
			now:  day(9, 59),
			want: []string{},
		},
		{
			name:    "overdue at now before the scheduler records it",
			play:    func(s *sim, pw uuid.UUID) { offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0)) },
			noSched: true,
			now:     day(10, 1),
			want:    []string{"offer-overdue o1 open@10:00 unrecorded"},
		},
		{
			name: "overdue recorded by DeadlineElapsed",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0))
				s.tick(day(10, 0))
			},
			now:  day(10, 1),
			want: []string{"offer-overdue o1 open@10:00"},
		},
		{
			name: "late acceptance closes the overdue gap",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0))
				s.at(day(11, 30), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
			},
			now:  day(12, 0),
			want: []string{"offer-overdue o1 10:00-11:30 by HandoffAccepted"},
		},
		{
			name: "late acceptance with no DeadlineElapsed yet still records the gap",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0))
				s.at(day(11, 30), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
			},
			noSched: true,
			now:     day(12, 0),
			want:    []string{"offer-overdue o1 10:00-11:30 by HandoffAccepted"},
		},
		{
			name: "a late message that shows the offer was accepted in time removes the gap",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0))
				s.late(day(9, 55), day(10, 20), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
			},
			now:  day(12, 0),
			want: []string{},
		},
		{
			name: "rejection offered again in time is no gap",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(13, 0))
				s.at(day(10, 0), pw, aarhus, &events.HandoffRejected{Offer: "o1", By: aarhus, Reason: "full"})
				offer(s, pw, day(12, 0), "o2", events.HomeCare, day(16, 0))
			},
			now:  day(15, 0),
			want: []string{},
		},
		{
			name: "rejection not offered again within 4 h",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(13, 0))
				s.at(day(10, 0), pw, aarhus, &events.HandoffRejected{Offer: "o1", By: aarhus, Reason: "full"})
				offer(s, pw, day(15, 0), "o2", events.HomeCare, day(20, 0))
			},
			now:  day(16, 0),
			want: []string{"offer-rejected reoffer/o1 14:00-15:00 by HandoffOffered"},
		},
		{
			name: "discharged with nobody taking the home care",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(20, 0))
				s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
				s.at(day(13, 0), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
			},
			now: day(14, 0),
			want: []string{
				"discharged-before-accept o1 12:00-13:00 by HandoffAccepted",
				"no-owner home-care/1 12:00-13:00 by HandoffAccepted",
			},
		},
		{
			name: "no-owner escalates after rule 6",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestNursingHome, To: aarhus})
			},
			now: day(17, 0),
			want: []string{
				"no-owner nursing-home/1 open@12:00 escalated",
				"offer-overdue {discharge-services} open@16:00 unrecorded",
			},
		},
		{
			name: "released while handing over",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeNursing, day(20, 0))
				s.at(day(9, 30), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
				s.at(day(10, 0), pw, aarhus, &events.HandoffOffered{Offer: "o2", From: aarhus, To: samso, What: events.HomeNursing, Deadline: day(20, 0)})
				s.at(day(10, 5), pw, aarhus, &events.ResponsibilityReleased{By: aarhus, What: events.HomeNursing})
				s.at(day(11, 0), pw, samso, &events.HandoffAccepted{Offer: "o2", By: samso})
			},
			now:  day(12, 0),
			want: []string{"no-owner home-nursing/1 10:05-11:00 by HandoffAccepted"},
		},
		{
			name: "ready for discharge counts days until discharge",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(10, 0), pw, auh, &events.ReadyForDischarge{Hospital: auh})
				s.at(day(10, 0).Add(48*time.Hour), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
			},
			now:  day(10, 0).Add(49 * time.Hour),
			want: []string{"ready-but-waiting ready/1 10:00-10:00 by PatientDischarged"},
		},
		{
			name: "leave pauses the municipal clock and the ready days",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.DischargePlanning, day(14, 0))
				s.at(day(10, 0), pw, auh, &events.ReadyForDischarge{Hospital: auh})
				s.at(day(12, 0), pw, auh, &events.LeaveStarted{Hospital: auh})
				s.at(day(17, 0), pw, auh, &events.LeaveEnded{Hospital: auh})
			},
			now: day(18, 0),
			want: []string{
				"ready-but-waiting ready/1 10:00-12:00 by LeaveStarted",
				"ready-but-waiting ready/2 open@17:00",
			},
		},
		{
			name: "the paused clock runs out after the leave",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.DischargePlanning, day(14, 0))
				s.at(day(12, 0), pw, auh, &events.LeaveStarted{Hospital: auh})
				s.at(day(17, 0), pw, auh, &events.LeaveEnded{Hospital: auh})
				s.tick(day(19, 30))
			},
			now:  day(19, 30),
			want: []string{"offer-overdue o1 open@19:00"},
		},
		{
			name: "admission report requested and not received in 24 h",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(9, 0), pw, auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient, ReportRequested: true})
				s.tick(day(9, 0).Add(25 * time.Hour))
			},
			now:  day(9, 0).Add(25 * time.Hour),
			want: []string{"document-overdue admission-report/1 open@09:00"},
		},
		{
			name: "discharge letter not sent in 3 days, then sent",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
				s.at(day(13, 0).Add(72*time.Hour), pw, auh, &events.DocumentSent{Document: "l1", Kind: events.DischargeLetter, From: auh, To: gp1})
				s.at(day(13, 30).Add(72*time.Hour), pw, gp1, &events.DocumentAcknowledged{Document: "l1", By: gp1, OK: true})
			},
			now:  day(14, 0).Add(72 * time.Hour),
			want: []string{"document-overdue discharge-letter/1 12:00-13:00 by DocumentSent"},
		},
		{
			name: "a negative acknowledgement is overdue at once",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(9, 0), pw, auh, &events.DocumentSent{Document: "d1", Kind: events.CareCommunication, From: auh, To: aarhus})
				s.at(day(9, 5), pw, aarhus, &events.DocumentAcknowledged{Document: "d1", By: aarhus, OK: false, Reason: "fatal-error"})
			},
			now:  day(9, 10),
			want: []string{"document-overdue ack/d1 open@09:05 unrecorded"},
		},
		{
			name: "rehabilitation plan before discharge: 7 days from discharge",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(9, 0), pw, auh, &events.DocumentSent{Document: "r1", Kind: events.RehabilitationPlan, From: auh, To: aarhus})
				s.at(day(9, 10), pw, aarhus, &events.DocumentAcknowledged{Document: "r1", By: aarhus, OK: true})
				s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
				s.at(day(12, 5), pw, auh, &events.DocumentSent{Document: "l1", Kind: events.DischargeLetter, From: auh, To: gp1})
				s.at(day(12, 6), pw, gp1, &events.DocumentAcknowledged{Document: "l1", By: gp1, OK: true})
				s.tick(day(12, 1).Add(7 * 24 * time.Hour))
			},
			now: day(12, 1).Add(7 * 24 * time.Hour),
			want: []string{
				// The GP never accepts the follow-up the letter offered (24 h).
				"offer-overdue {discharge-letter} open@12:05",
				// The offer's deadline runs from the plan, the plan's from
				// the discharge.
				"offer-overdue {rehabilitation-plan} open@09:00",
				"document-overdue rehabilitation/r1 open@12:00",
			},
		},
		{
			name: "rehabilitation started in time",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
				s.at(day(12, 5), pw, auh, &events.DocumentSent{Document: "r1", Kind: events.RehabilitationPlan, From: auh, To: aarhus, Deadline: day(12, 0).Add(72 * time.Hour)})
				s.at(day(12, 6), pw, aarhus, &events.DocumentAcknowledged{Document: "r1", By: aarhus, OK: true})
				s.at(day(13, 0).Add(48*time.Hour), pw, aarhus, &events.ServiceStarted{By: aarhus, What: events.Rehabilitation})
				s.at(day(13, 1).Add(48*time.Hour), pw, auh, &events.DocumentSent{Document: "l1", Kind: events.DischargeLetter, From: auh, To: gp1})
				s.at(day(13, 2).Add(48*time.Hour), pw, gp1, &events.DocumentAcknowledged{Document: "l1", By: gp1, OK: true})
				s.at(day(13, 3).Add(48*time.Hour), pw, gp1, &events.HandoffAccepted{Offer: policyOffer(s, pw, PolicyDischargeLetter), By: gp1})
			},
			now: day(12, 0).Add(80 * time.Hour),
			// Starting the service does not accept the offer: only an
			// explicit HandoffAccepted does.
			want: []string{"offer-overdue {rehabilitation-plan} open@12:00 unrecorded"},
		},
		{
			name: "care-process plan missing at discharge after a long stay",
			play: func(s *sim, pw uuid.UUID) {
				s.at(day(12, 0).Add(48*time.Hour), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
			},
			noSched: true,
			now:     day(12, 1).Add(48 * time.Hour),
			want: []string{
				"no-owner home-care/1 open@12:00",
				"document-overdue care-process-plan/1 open@12:00 unrecorded",
			},
		},
		{
			name: "death closes every gap",
			play: func(s *sim, pw uuid.UUID) {
				offer(s, pw, day(9, 0), "o1", events.HomeCare, day(10, 0))
				s.at(day(11, 0), pw, "", &events.PatientDied{})
			},
			now:  day(12, 0),
			want: []string{"offer-overdue o1 10:00-11:00 by PatientDied"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, Rules{})
			pw := admitted(s, tt.name)
			tt.play(s, pw)
			log := s.log
			if tt.noSched {
				log = withoutType(log, events.TypeDeadlineElapsed)
			}
			g := gapsOf(t, log)
			got := summary(g.ForPathway(pw, tt.now))
			want := slices.Clone(tt.want)
			for i := range want {
				for _, p := range policyNames {
					if strings.Contains(want[i], "{"+p+"}") {
						want[i] = strings.ReplaceAll(want[i], "{"+p+"}", policyOffer(s, pw, p))
					}
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("gaps at %s:\ngot  %q\nwant %q", tt.now.In(cph).Format("Mon 15:04"), got, want)
			}
		})
	}
}

// policyOffer returns the id of the offer a policy made on a pathway.
func policyOffer(s *sim, pw uuid.UUID, policy string) string {
	for _, e := range s.hist[pw] {
		if o, ok := e.Payload.(*events.HandoffOffered); ok && o.Policy == policy {
			return o.Offer
		}
	}
	return "(no " + policy + " offer)"
}

func TestReadyDays(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "ready")
	s.at(day(10, 0), pw, auh, &events.ReadyForDischarge{Hospital: auh})
	s.at(day(11, 0), pw, auh, &events.LeaveStarted{Hospital: auh})
	s.at(day(14, 0), pw, auh, &events.LeaveEnded{Hospital: auh})
	g := gapsOf(t, s.log)
	now := day(10, 0).Add(50 * time.Hour) // Wednesday 12:00
	var days []int
	for _, gp := range g.ForPathway(pw, now) {
		days = append(days, gp.Days)
	}
	if want := []int{1, 3}; !slices.Equal(days, want) {
		t.Errorf("gap days: got %v; want %v", days, want)
	}
	f := NewFigures(g).Cluster("aarhus", now)
	if f.ReadyBedDays != 3 || f.ReadyNow != 1 {
		t.Errorf("figures: got %d bed-days, %d ready now; want 3 (Mon, Tue, Wed: the leave day counts once) and 1", f.ReadyBedDays, f.ReadyNow)
	}
	last := f.Daily[len(f.Daily)-3:]
	for i, d := range last {
		if d.ReadyBedDays != 1 {
			t.Errorf("day %s: got %d ready bed-days; want 1", d.Day, last[i].ReadyBedDays)
		}
	}
}

func TestListFilter(t *testing.T) {
	s := scriptedDay(t, Rules{})
	g := gapsOf(t, s.log)
	count := func(f GapFilter) int { return len(g.List(f, dayNow)) }
	tests := []struct {
		name string
		f    GapFilter
		want int
	}{
		{"open", GapFilter{}, 6},
		{"closed", GapFilter{Status: ClosedGaps}, 4},
		{"all", GapFilter{Status: AllGaps}, 10},
		{"cluster", GapFilter{Cluster: "aarhus", Status: AllGaps}, 10},
		{"other cluster", GapFilter{Cluster: "horsens"}, 0},
		{"unknown cluster", GapFilter{Cluster: "nowhere"}, 0},
		{"municipality", GapFilter{Municipality: samso}, 3},
		{"organisation", GapFilter{Org: auh}, 5},
		{"kind", GapFilter{Kinds: []GapKind{ReadyButWaiting}, Status: AllGaps}, 3},
		{"kinds", GapFilter{Kinds: []GapKind{NoOwner, OfferOverdue}}, 2},
		{"everything narrowed", GapFilter{Cluster: "aarhus", Municipality: aarhus, Org: aarhus, Kinds: []GapKind{DocumentOverdue}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(tt.f); got != tt.want {
				t.Errorf("List(%+v): got %d gaps; want %d", tt.f, got, tt.want)
			}
		})
	}
}

func TestDue(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "due")
	s.at(day(9, 0), pw, auh, &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare, Deadline: day(11, 0)})
	s.at(day(9, 0), pw, auh, &events.HandoffOffered{Offer: "o2", From: auh, To: aarhus, What: events.HomeNursing, Deadline: day(10, 0)})
	g := gapsOf(t, s.log)
	var got []string
	for _, d := range g.Due(day(9, 0), day(12, 0)) {
		got = append(got, d.Ref+" "+d.Rule+" "+d.At.In(cph).Format("15:04"))
	}
	if want := []string{"o2 offer-answer 10:00", "o1 offer-answer 11:00"}; !slices.Equal(got, want) {
		t.Errorf("Due: got %q; want %q", got, want)
	}
	if d := g.Due(day(10, 0), day(10, 30)); len(d) != 0 {
		t.Errorf("Due(10:00, 10:30]: got %v; want nothing (after is exclusive)", d)
	}
	s.tick(day(10, 30))
	g = gapsOf(t, s.log)
	if d := g.Due(time.Time{}, day(10, 30)); len(d) != 0 {
		t.Errorf("Due after the scheduler recorded 10:00: got %v; want nothing", d)
	}
	t.Run("command", func(t *testing.T) {
		d := g.Due(time.Time{}, day(12, 0))[0]
		c := d.Elapsed()
		de, ok := c.Payloads[0].(*events.DeadlineElapsed)
		if !ok || de.Ref != "o1" || !de.Deadline.Equal(day(11, 0)) || !c.OccurredAt.Equal(day(11, 0)) {
			t.Errorf("Command: got %+v %+v; want DeadlineElapsed of o1 at 11:00", c, c.Payloads[0])
		}
		if c.Source.Key() != d.Elapsed().Source.Key() || !strings.HasPrefix(c.Source.MessageID, "deadline/") {
			t.Errorf("Command source %+v: want a stable deadline/… message id", c.Source)
		}
	})
}

func TestClosedPathway(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "closed")
	s.at(day(9, 0), pw, auh, &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare, Deadline: day(10, 0)})
	s.at(day(11, 0), pw, auh, &events.PathwayClosed{Reason: "test"})
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, s.log, 0)
	if n := set.Gaps.Len(); n != 0 {
		t.Errorf("Gaps holds %d pathways after the close; want 0", n)
	}
	if v, ok := set.Owner.Pathway(pw); ok {
		t.Errorf("Owner.Pathway after close: got %+v; want it not held", v)
	}
	if open, closed := set.Owner.Len(); open != 0 || closed != 1 {
		t.Errorf("Owner.Len after close: got %d open, %d closed; want 0, 1", open, closed)
	}
	if v := PathwayOwner(s.hist[pw]); !v.Closed || !v.ClosedAt.Equal(day(11, 0)) || v.Cluster != "aarhus" || len(v.Chain) != 1 {
		t.Errorf("PathwayOwner of the log after close: got %+v; want closed at 11:00 in aarhus, one offer", v)
	}
	f := set.Figures.Cluster("aarhus", day(12, 0))
	if d := f.Daily[len(f.Daily)-1]; d.GapsOpened != 1 || d.GapsClosed != 1 || d.Admissions != 1 {
		t.Errorf("figures kept after close: got %+v; want 1 admission, 1 gap opened and closed", d)
	}
	view := set.PathwayView(s.hist[pw], day(12, 0))
	if got := summary(view.Gaps); !slices.Equal(got, []string{"offer-overdue o1 10:00-11:00 by PathwayClosed"}) {
		t.Errorf("PathwayView of the closed pathway: got %q", got)
	}
	if len(view.Owner.Chain) != 1 {
		t.Errorf("PathwayView keeps the chain: got %d links; want 1", len(view.Owner.Chain))
	}
}

func TestWorklistOrder(t *testing.T) {
	s := scriptedDay(t, Rules{})
	g := gapsOf(t, s.log)
	wl := NewWorklists(g).Worklist(auh, dayNow)
	for i := 1; i < len(wl.Gaps); i++ {
		if urgency(wl.Gaps[i-1], wl.Gaps[i]) > 0 {
			t.Errorf("gap %d (%s %s) sorts before gap %d (%s %s)", i, wl.Gaps[i].Severity, wl.Gaps[i].Kind, i-1, wl.Gaps[i-1].Severity, wl.Gaps[i-1].Kind)
		}
	}
	if got := NewWorklists(g).Worklist("kommune:9999", dayNow); len(got.Offers)+len(got.Gaps) != 0 {
		t.Errorf("worklist of an unknown organisation: got %+v; want empty", got)
	}
}

func TestGapIDsUnique(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s := randomLog(t, seed+10, 80)
			g := gapsOf(t, s.log)
			seen := map[uuid.UUID]Gap{}
			for _, gp := range g.List(GapFilter{Status: AllGaps}, day(0, 0).Add(200*time.Hour)) {
				if first, ok := seen[gp.ID]; ok {
					t.Errorf("gap id %s twice: %s %s and %s %s", gp.ID, first.Kind, first.Ref, gp.Kind, gp.Ref)
				}
				seen[gp.ID] = gp
				if want := GapID(gp.Pathway, gp.Kind, gp.Ref); gp.ID != want {
					t.Errorf("gap %s %s: id %s; want GapID = %s", gp.Kind, gp.Ref, gp.ID, want)
				}
			}
		})
	}
}
