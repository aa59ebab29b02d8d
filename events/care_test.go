package events_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// TestJoinByStartingCare: a non-party joins a pathway only by starting its
// own care, and is a party afterwards; a party and Stafet itself are not
// held to the rule. (The refusals are in TestDecideRules, rule not-party.)
func TestJoinByStartingCare(t *testing.T) {
	stranger := events.SOR("6620000000009")
	tests := []struct {
		name  string
		given []events.Payload
		cmd   events.Command
		want  events.Type
	}{
		{"an admission to itself", []events.Payload{opened()}, by(randers, command(admitted(randers))), events.TypePatientAdmitted},
		{"an admission to itself while admitted elsewhere is a transfer to it", []events.Payload{opened(), admitted(auh)},
			by(randers, command(admitted(randers))), events.TypePatientTransferred},
		{"a transfer to itself", []events.Payload{opened(), admitted(auh)},
			by(randers, command(&events.PatientTransferred{From: auh, To: randers})), events.TypePatientTransferred},
		{"an admission, then its own document in the same message", []events.Payload{opened()},
			by(randers, command(admitted(randers), &events.DocumentSent{Document: "d1", Kind: events.AdmissionReport, From: randers, To: aarhus})), events.TypePatientAdmitted},
		{"a party sends a death", []events.Payload{opened(), admitted(auh)}, by(auh, command(&events.PatientDied{Place: auh})), events.TypePatientDied},
		{"the municipality named at the opening sends a document", []events.Payload{opened()},
			by(aarhus, command(&events.DocumentSent{Document: "d1", Kind: events.CareCommunication, From: aarhus, To: stranger})), events.TypeDocumentSent},
		{"a join of identities naming the pathway it joins (the intake checks the sender's care there)", []events.Payload{opened()},
			by(randers, command(&events.PatientIdentityLinked{Patient: patient, Other: other, Joined: exampleID(7), Reason: "HL7 A47"})), events.TypePatientIdentityLinked},
		{"Stafet itself (no actor)", []events.Payload{opened(), admitted(auh)},
			command(offered("policy/1", auh, randersK, events.HomeCare)), events.TypeHandoffOffered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := events.Fold(given(t, tt.given...))
			joins := tt.cmd.Actor.Org != "" && !p.Party(tt.cmd.Actor.Org)
			evs, err := events.Decide(p, tt.cmd)
			if err != nil {
				t.Fatalf("got %v; want it appended", err)
			}
			if evs[0].Type != tt.want {
				t.Errorf("got %s; want %s", evs[0].Type, tt.want)
			}
			after := events.Fold(append(given(t, tt.given...), evs...))
			if org := tt.cmd.Actor.Org; org != "" && !after.Party(org) {
				t.Errorf("%s is not a party after its own event; want it one", org)
			}
			if joins && !slices.Contains(after.Parties(), tt.cmd.Actor.Org) {
				t.Errorf("parties %v; want the joiner among them", after.Parties())
			}
		})
	}
}

// TestPathwayPartiesAgree: the parties the pathway state keeps are the
// parties Parties reads from the history, annulled events left out.
func TestPathwayPartiesAgree(t *testing.T) {
	h := given(t, opened(), admitted(randers), annulFirstAdmission, admitted(auh), offered("o1", auh, randersK, events.HomeCare))
	if got, want := events.Fold(h).Parties(), events.Parties(h); !slices.Equal(got, want) {
		t.Errorf("state's parties %v; want Parties' %v", got, want)
	}
	if events.Fold(h).Party(randers) {
		t.Error("randers is a party; want its annulled admission to give it no standing")
	}
}

// TestCareOf: who has a current or recent care relationship, and when a
// recent one runs out (CareWindow).
func TestCareOf(t *testing.T) {
	day := 24 * time.Hour
	at := func(d time.Duration, e events.Envelope) events.Envelope { e.OccurredAt = t0.Add(d); return e }
	h := given(t, opened(), admitted(auh), offered("o1", auh, randersK, events.HomeCare))
	// The stay ends ten days in; the transfer away leaves randers's care
	// behind, and the municipality accepts on day 11.
	h = append(h, at(5*day, decided(t, h, by(auh, command(&events.PatientTransferred{From: auh, To: randers})))))
	h = append(h, at(10*day, decided(t, h, by(randers, command(discharged(randers))))))
	h = append(h, at(11*day, decided(t, h, by(randersK, command(accepted("o1", randersK))))))
	for i := range h[:3] {
		h[i].OccurredAt = t0
	}
	closed := append(slices.Clone(h), at(12*day, decided(t, h, command(&events.PathwayClosed{Reason: "done"}))))
	tests := []struct {
		name    string
		history []events.Envelope
		org     events.OrgID
		now     time.Time
		current bool
		recent  bool
	}{
		{"the holder of home care", h, randersK, t0.Add(400 * day), true, false},
		{"the patient's municipality", h, aarhus, t0.Add(400 * day), true, false},
		{"the patient's GP", h, gp, t0.Add(400 * day), true, false},
		{"a hospital that transferred the patient away, within the window", h, auh, t0.Add(5*day + events.CareWindow), false, true},
		{"the same, a minute after the window", h, auh, t0.Add(5*day + events.CareWindow + time.Minute), false, false},
		{"the hospital that discharged, within the window", h, randers, t0.Add(39 * day), false, true},
		{"a stranger", h, events.SOR("6620000000009"), t0, false, false},
		{"after the close, the holder within the window", closed, randersK, t0.Add(12*day + events.CareWindow), false, true},
		{"after the close, the holder after the window", closed, randersK, t0.Add(13*day + events.CareWindow), false, false},
		{"after the close, the municipality within the window", closed, aarhus, t0.Add(40 * day), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := events.CareOf(tt.history, tt.org, tt.now)
			if c.Current != tt.current || c.Recent != tt.recent {
				t.Errorf("got current %v recent %v (last %s); want %v %v", c.Current, c.Recent, c.Last, tt.current, tt.recent)
			}
			if c.Any() != (tt.current || tt.recent) {
				t.Errorf("Any() = %v; want %v", c.Any(), tt.current || tt.recent)
			}
		})
	}
}

// decided decides one command on the history and returns its one event,
// with the next log sequence.
func decided(t *testing.T, h []events.Envelope, cmd events.Command) events.Envelope {
	t.Helper()
	evs, err := events.Decide(events.Fold(h), cmd)
	if err != nil || len(evs) != 1 {
		t.Fatalf("decide %v: %d events, %v", cmd.Payloads[0].Type(), len(evs), err)
	}
	evs[0].Seq = uint64(len(h) + 1)
	return evs[0]
}
