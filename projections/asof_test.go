package projections

import (
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

func TestAsOf(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "as-of")
	s.at(day(9, 0), pw, auh, &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare, Deadline: day(10, 0)})
	// The scheduler records the deadline at 10:00; Aarhus's acceptance,
	// sent at 09:50, arrives at 10:30.
	s.late(day(9, 50), day(10, 30), pw, aarhus, &events.HandoffAccepted{Offer: "o1", By: aarhus})
	// A discharge at 12:00, cancelled at 13:00.
	dis := s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
	s.at(day(13, 0), pw, auh, &events.Correction{Annuls: dis[0].ID, Reason: "A13 cancel discharge"})
	history := s.hist[pw]
	g, err := NewGaps(Rules{})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		history     []events.Envelope
		now         time.Time
		gaps        []string
		homeCare    events.OrgID
		hospital    events.OrgID
		homeCareFor time.Time
	}{
		{
			name:    "recorded: before the late message Stafet saw an overdue offer",
			history: AsOfRecorded(history, day(10, 15)), now: day(10, 15),
			gaps:     []string{"offer-overdue o1 open@10:00"},
			hospital: auh,
		},
		{
			name:    "recorded: the late message removed the gap",
			history: AsOfRecorded(history, day(10, 45)), now: day(10, 45),
			gaps:     []string{},
			homeCare: aarhus, hospital: auh, homeCareFor: day(9, 50),
		},
		{
			name:    "valid: as now known, the offer was never overdue",
			history: AsOfValid(history, day(10, 15)), now: day(10, 15),
			gaps:     []string{},
			homeCare: aarhus, hospital: auh, homeCareFor: day(9, 50),
		},
		{
			name:    "recorded: at 12:30 Stafet believed the patient discharged",
			history: AsOfRecorded(history, day(12, 30)), now: day(12, 30),
			gaps:     []string{},
			homeCare: aarhus, hospital: "", homeCareFor: day(9, 50),
		},
		{
			name:    "recorded: after the correction the patient is in hospital",
			history: AsOfRecorded(history, day(13, 30)), now: day(13, 30),
			gaps:     []string{},
			homeCare: aarhus, hospital: auh, homeCareFor: day(9, 50),
		},
		{
			name:    "valid: as now known, at 12:30 the patient was in hospital",
			history: AsOfValid(history, day(12, 30)), now: day(12, 30),
			gaps:     []string{},
			homeCare: aarhus, hospital: auh, homeCareFor: day(9, 50),
		},
		{
			name:    "valid: before the offer there was nothing to hold",
			history: AsOfValid(history, day(8, 30)), now: day(8, 30),
			gaps:     []string{},
			hospital: auh,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := g.PathwayView(tt.history, tt.now)
			if got := summary(v.Gaps); !slices.Equal(got, tt.gaps) {
				t.Errorf("gaps: got %q; want %q", got, tt.gaps)
			}
			if got := v.Owner.Holder(events.HomeCare); got != tt.homeCare {
				t.Errorf("home care holder: got %q; want %q", got, tt.homeCare)
			}
			if got := v.Owner.Holder(events.HospitalStay); got != tt.hospital {
				t.Errorf("hospital stay holder: got %q; want %q", got, tt.hospital)
			}
			for _, h := range v.Owner.Holders {
				if h.What == events.HomeCare && !h.Since.Equal(tt.homeCareFor) {
					t.Errorf("home care since %s; want %s", h.Since, tt.homeCareFor)
				}
			}
		})
	}
	t.Run("valid order", func(t *testing.T) {
		got := AsOfValid(history, day(23, 0))
		for i := 1; i < len(got); i++ {
			a, b := got[i-1], got[i]
			if a.OccurredAt.After(b.OccurredAt) || (a.OccurredAt.Equal(b.OccurredAt) && a.Seq > b.Seq) {
				t.Errorf("event %d (%s, seq %d) comes after event %d (%s, seq %d)", i, b.OccurredAt, b.Seq, i-1, a.OccurredAt, a.Seq)
			}
		}
		for _, e := range got {
			if e.Type == events.TypeCorrection || e.ID == dis[0].ID {
				t.Errorf("AsOfValid kept %s %s; want Corrections and annulled events left out", e.Type, e.ID)
			}
		}
		if got[0].Type != events.TypePathwayOpened {
			t.Errorf("first event: got %s; want PathwayOpened", got[0].Type)
		}
	})
	t.Run("recorded keeps log order", func(t *testing.T) {
		got := AsOfRecorded(history, day(23, 0))
		if len(got) != len(history) {
			t.Fatalf("got %d events; want all %d", len(got), len(history))
		}
		for i := range got {
			if got[i].ID != history[i].ID {
				t.Fatalf("event %d: got %s; want %s", i, got[i].ID, history[i].ID)
			}
		}
		if n := len(AsOfRecorded(history, day(7, 0))); n != 0 {
			t.Errorf("before anything was recorded: got %d events; want 0", n)
		}
	})
	t.Run("whole projection over an as-of log", func(t *testing.T) {
		// The projections fold any cut of the log: the gap list as Stafet
		// knew it at 10:15.
		g := gapsOf(t, AsOfRecorded(s.log, day(10, 15)))
		if got := summary(g.List(GapFilter{}, day(10, 15))); !slices.Equal(got, []string{"offer-overdue o1 open@10:00"}) {
			t.Errorf("gap list as of 10:15: got %q", got)
		}
	})
}

func TestPathwayOwnerChain(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "chain")
	s.at(day(9, 0), pw, auh, &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare, Deadline: day(13, 0)})
	s.at(day(9, 30), pw, aarhus, &events.HandoffRejected{Offer: "o1", By: aarhus, Reason: "full"})
	s.at(day(10, 0), pw, auh, &events.HandoffOffered{Offer: "o2", From: auh, To: samso, What: events.HomeCare, Deadline: day(14, 0)})
	s.at(day(11, 0), pw, samso, &events.HandoffAccepted{Offer: "o2", By: samso})
	s.at(day(12, 0), pw, auh, &events.HandoffOffered{Offer: "o3", From: auh, To: aarhus, What: events.HomeCare})
	s.at(day(12, 15), pw, samso, &events.ResponsibilityReleased{By: samso, What: events.HomeCare})
	s.at(day(12, 30), pw, aarhus, &events.HandoffAccepted{Offer: "o3", By: aarhus})
	s.at(day(15, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
	v := PathwayOwner(s.hist[pw])
	type link struct {
		offer  string
		status events.OfferStatus
		answer time.Time
		ended  time.Time
		to     events.OrgID
	}
	var got []link
	for _, h := range v.Chain {
		got = append(got, link{h.Offer, h.Status, h.Answered, h.Ended, h.To})
	}
	want := []link{
		{"o1", events.OfferRejected, day(9, 30).UTC(), time.Time{}, aarhus},
		{"o2", events.OfferAccepted, day(11, 0).UTC(), day(12, 15).UTC(), samso},
		{"o3", events.OfferAccepted, day(12, 30).UTC(), time.Time{}, aarhus},
	}
	if !slices.Equal(got, want) {
		t.Errorf("chain:\ngot  %+v\nwant %+v", got, want)
	}
	if h := v.Holder(events.HomeCare); h != aarhus {
		t.Errorf("home care: got %q; want %q", h, aarhus)
	}
	if h := v.Holder(events.HospitalStay); h != "" {
		t.Errorf("hospital stay after discharge: got %q; want nobody", h)
	}
	o := NewOwner()
	host(t, o, s.log, 0)
	if got, ok := o.Pathway(pw); !ok || len(got.Chain) != 3 || got.Holder(events.HomeCare) != aarhus {
		t.Errorf("Owner.Pathway: got %+v; want the same chain as PathwayOwner", got)
	}
}
