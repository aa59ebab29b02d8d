package projections

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

func TestPolicies(t *testing.T) {
	pw := pathwayID("policies")
	at := day(10, 0)
	env := func(n int, p events.Payload) events.Envelope {
		return events.Envelope{ID: uuid.NewSHA1(simSpace, []byte{byte(n)}), Pathway: pw, Type: p.Type(), OccurredAt: at, Payload: p, Correlation: "corr"}
	}
	opened := env(1, &events.PathwayOpened{Patient: patientRef(1), Cluster: "aarhus", Municipality: aarhus, GP: gp1})
	admittedEv := env(2, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})
	base := []events.Envelope{opened, admittedEv}
	homeCareHeld := append(base[:2:2],
		env(3, &events.HandoffOffered{Offer: "o1", From: auh, To: aarhus, What: events.HomeCare}),
		env(4, &events.HandoffAccepted{Offer: "o1", By: aarhus}))
	disch := func(d events.Destination, to events.OrgID) events.Payload {
		return &events.PatientDischarged{Hospital: auh, Destination: d, To: to}
	}
	off := DefaultRules()
	off.Policies[PolicyDischargeServices] = Policy{Off: true}

	type want struct {
		to       events.OrgID
		what     events.Responsibility
		deadline time.Time
	}
	tests := []struct {
		name    string
		rules   Rules
		history []events.Envelope
		trigger events.Payload
		want    *want
	}{
		{"admission notified", Rules{}, base[:1], &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient, Notified: samso}, &want{samso, events.DischargePlanning, at.Add(24 * time.Hour)}},
		{"admission not notified", Rules{}, base[:1], &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient}, nil},
		{"home with services", Rules{}, base, disch(events.DestHomeWithServices, ""), &want{aarhus, events.HomeCare, at.Add(4 * time.Hour)}},
		{"nursing home elsewhere", Rules{}, base, disch(events.DestNursingHome, samso), &want{samso, events.NursingHome, at.Add(4 * time.Hour)}},
		{"municipal bed", Rules{}, base, disch(events.DestMunicipalAcuteBed, auh), &want{aarhus, events.MunicipalBed, at.Add(4 * time.Hour)}},
		{"home", Rules{}, base, disch(events.DestHome, ""), nil},
		{"already holds home care", Rules{}, homeCareHeld, disch(events.DestHomeWithServices, ""), nil},
		{"policy off", off, base, disch(events.DestHomeWithServices, ""), nil},
		{"rehabilitation plan with deadline", Rules{}, base, &events.DocumentSent{Document: "r", Kind: events.RehabilitationPlan, From: auh, To: aarhus, Deadline: at.Add(48 * time.Hour)}, &want{aarhus, events.Rehabilitation, at.Add(48 * time.Hour)}},
		{"rehabilitation plan, rule 7", Rules{}, base, &events.DocumentSent{Document: "r", Kind: events.RehabilitationPlan, From: auh, To: auh}, &want{aarhus, events.Rehabilitation, at.Add(7 * 24 * time.Hour)}},
		{"discharge letter to the GP", Rules{}, base, &events.DocumentSent{Document: "l", Kind: events.DischargeLetter, From: auh, To: gp2}, &want{gp2, events.GPFollowUp, at.Add(24 * time.Hour)}},
		{"discharge letter, GP from the pathway", Rules{}, base, &events.DocumentSent{Document: "l", Kind: events.DischargeLetter, From: auh, To: aarhus}, &want{gp1, events.GPFollowUp, at.Add(24 * time.Hour)}},
		{"other documents", Rules{}, base, &events.DocumentSent{Document: "c", Kind: events.CareCommunication, From: auh, To: aarhus}, nil},
		{"an acknowledgement never accepts", Rules{}, append(base[:2:2], env(5, &events.DocumentSent{Document: "l", Kind: events.DischargeLetter, From: auh, To: gp1})), &events.DocumentAcknowledged{Document: "l", By: gp1, OK: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol, err := NewPolicies(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			trigger := env(9, tt.trigger)
			history := append(append([]events.Envelope(nil), tt.history...), trigger)
			state := events.Fold(history)
			cmds := pol.Decide(state, trigger)
			if tt.want == nil {
				if len(cmds) != 0 {
					t.Fatalf("got %d commands (%+v); want none", len(cmds), cmds[0].Payloads[0])
				}
				return
			}
			if len(cmds) != 1 || len(cmds[0].Payloads) != 1 {
				t.Fatalf("got %d commands; want one with one offer", len(cmds))
			}
			c := cmds[0]
			o, ok := c.Payloads[0].(*events.HandoffOffered)
			if !ok {
				t.Fatalf("got %T; want *events.HandoffOffered", c.Payloads[0])
			}
			if o.To != tt.want.to || o.What != tt.want.what || !o.Deadline.Equal(tt.want.deadline) {
				t.Errorf("offer: got %s to %s by %s; want %s to %s by %s", o.What, o.To, o.Deadline, tt.want.what, tt.want.to, tt.want.deadline)
			}
			id := o.Policy + "/" + trigger.ID.String()
			if o.Offer != id || c.Source != (events.Source{System: "policy", MessageID: id}) {
				t.Errorf("ids: got offer %q, source %+v; want both %q", o.Offer, c.Source, id)
			}
			if c.Causation != trigger.ID.String() || !c.OccurredAt.Equal(at) || c.Pathway != pw || c.Correlation != "corr" {
				t.Errorf("command: got %+v; want the trigger's pathway, time, correlation and id as causation", c)
			}
			if _, err := events.Decide(state, c); err != nil {
				t.Errorf("the pathway rules refuse the policy's command: %v", err)
			}
			if again := pol.Decide(state, trigger); len(again) != 1 || again[0].Source != c.Source {
				t.Errorf("a second Decide: got %+v; want the same source message id", again)
			}
			// Once the offer is appended, Decide offers nothing more.
			evs, _ := events.Decide(state, c)
			for i := range evs {
				state.Apply(&evs[i])
			}
			if again := pol.Decide(state, trigger); len(again) != 0 {
				t.Errorf("after the offer is appended: got %d commands; want none", len(again))
			}
		})
	}
}

func TestPolicyWithdrawsOnCorrection(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "withdraw")
	dis := s.at(day(12, 0), pw, auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
	offer := policyOffer(s, pw, PolicyDischargeServices)
	s.at(day(12, 10), pw, auh, &events.Correction{Annuls: dis[0].ID, Reason: "A13"})
	o, ok := s.state[pw].Offer(offer)
	if !ok || o.Status != events.OfferWithdrawn {
		t.Fatalf("offer %s after its trigger was annulled: got %+v; want withdrawn", offer, o)
	}
	if got := summary(gapsOf(t, s.log).ForPathway(pw, day(20, 0))); len(got) != 0 {
		t.Errorf("gaps from the cancelled discharge: got %q; want none (rule 10)", got)
	}
}

func TestPoliciesNeverAccept(t *testing.T) {
	s := randomLog(t, 3, 80)
	for _, e := range s.log {
		if e.Source.System != "policy" {
			continue
		}
		if e.Type != events.TypeHandoffOffered && e.Type != events.TypeHandoffWithdrawn {
			t.Errorf("policy event seq %d is a %s; policies only offer and withdraw", e.Seq, e.Type)
		}
	}
	if (Policies{}).Decide(events.Fold(nil), s.log[0]) != nil {
		t.Errorf("the zero Policies decided something; want nothing")
	}
}
