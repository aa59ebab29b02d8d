package events_test

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// command returns a command on pathway1 with the given payloads.
func command(ps ...events.Payload) events.Command {
	return events.Command{
		Pathway: pathway1, OccurredAt: t0,
		Source:   events.Source{System: "api", Org: auh, MessageID: "m-1"},
		Payloads: ps,
	}
}

// by returns c with its actor set to org.
func by(org events.OrgID, c events.Command) events.Command {
	c.Actor = events.Actor{Org: org}
	return c
}

// annulFirstAdmission stands in given's list for a Correction of the
// first PatientAdmitted, whose id is known only once it is decided.
var annulFirstAdmission = &events.Correction{Reason: "annul first admission"}

// given builds a history by deciding each payload as its own command, so
// the history keeps the rules itself. Events get log sequences 1, 2, ….
func given(t *testing.T, ps ...events.Payload) []events.Envelope {
	t.Helper()
	var h []events.Envelope
	for i, pl := range ps {
		if pl == annulFirstAdmission {
			for _, e := range h {
				if e.Type == events.TypePatientAdmitted {
					pl = annul(e.ID)
					break
				}
			}
		}
		evs, err := events.Decide(events.Fold(h), command(pl))
		if err != nil {
			t.Fatalf("given[%d] %s: %v", i, pl.Type(), err)
		}
		for _, e := range evs {
			e.Seq = uint64(len(h) + 1)
			h = append(h, e)
		}
	}
	return h
}

// Payloads for building histories.
func opened() *events.PathwayOpened {
	return &events.PathwayOpened{Patient: patient, Cluster: "aarhus", Municipality: aarhus, GP: gp}
}
func admitted(h events.OrgID) *events.PatientAdmitted {
	return &events.PatientAdmitted{Hospital: h, Class: events.Inpatient}
}
func discharged(h events.OrgID) *events.PatientDischarged {
	return &events.PatientDischarged{Hospital: h, Destination: events.DestHome}
}
func offered(id string, from, to events.OrgID, what events.Responsibility) *events.HandoffOffered {
	return &events.HandoffOffered{Offer: id, From: from, To: to, What: what}
}
func accepted(id string, org events.OrgID) *events.HandoffAccepted {
	return &events.HandoffAccepted{Offer: id, By: org}
}
func annul(id uuid.UUID) *events.Correction {
	return &events.Correction{Annuls: id, Reason: "sent in error"}
}
func docSent(id string, kind events.DocumentKind) *events.DocumentSent {
	return &events.DocumentSent{Document: id, Kind: kind, From: auh, To: aarhus}
}

func TestDecideRules(t *testing.T) {
	closed := &events.PathwayClosed{Reason: "done"}
	leave := &events.LeaveStarted{Hospital: auh}
	died := &events.PatientDied{}
	tests := []struct {
		name  string
		given []events.Payload
		// when builds the command from the history, for rules that name
		// earlier events by id.
		when func(h []events.Envelope) events.Command
		rule string
	}{
		{"already-open", []events.Payload{opened()},
			func([]events.Envelope) events.Command { return command(opened()) }, "already-open"},
		{"closed/admission", []events.Payload{opened(), closed},
			func([]events.Envelope) events.Command { return command(admitted(auh)) }, "closed"},
		{"closed/offer", []events.Payload{opened(), closed},
			func([]events.Envelope) events.Command {
				return command(offered("o1", auh, aarhus, events.HomeCare))
			}, "closed"},
		{"closed/close-again", []events.Payload{opened(), closed},
			func([]events.Envelope) events.Command { return command(closed) }, "closed"},
		{"not-admitted/discharge", []events.Payload{opened()},
			func([]events.Envelope) events.Command { return command(discharged(auh)) }, "not-admitted"},
		{"not-admitted/after-discharge", []events.Payload{opened(), admitted(auh), discharged(auh)},
			func([]events.Envelope) events.Command { return command(discharged(auh)) }, "not-admitted"},
		{"not-admitted/transfer", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.PatientTransferred{From: auh, To: randers})
			}, "not-admitted"},
		{"not-admitted/ready-for-discharge", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.ReadyForDischarge{Hospital: auh})
			}, "not-admitted"},
		{"not-admitting-hospital/discharge", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command { return command(discharged(randers)) }, "not-admitting-hospital"},
		{"not-admitting-hospital/discharge-expected", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.DischargeExpected{Hospital: randers, Expected: t0.Add(48 * time.Hour)})
			}, "not-admitting-hospital"},
		{"not-admitting-hospital/transfer-from", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.PatientTransferred{From: randers, To: auh})
			}, "not-admitting-hospital"},
		{"not-admitting-hospital/leave", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.LeaveStarted{Hospital: randers})
			}, "not-admitting-hospital"},
		{"already-on-leave", []events.Payload{opened(), admitted(auh), leave},
			func([]events.Envelope) events.Command { return command(leave) }, "already-on-leave"},
		{"not-on-leave", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.LeaveEnded{Hospital: auh})
			}, "not-on-leave"},
		{"not-on-leave/after-discharge", []events.Payload{opened(), admitted(auh), leave, discharged(auh), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.LeaveEnded{Hospital: auh})
			}, "not-on-leave"},
		{"already-dead", []events.Payload{opened(), died},
			func([]events.Envelope) events.Command { return command(died) }, "already-dead"},
		{"patient-dead", []events.Payload{opened(), admitted(auh), died},
			func([]events.Envelope) events.Command { return command(admitted(randers)) }, "patient-dead"},
		{"offer-id-unique", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command {
				return command(offered("o1", auh, randersK, events.HomeNursing))
			}, "offer-id-unique"},
		{"already-holds", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus)},
			func([]events.Envelope) events.Command {
				return command(offered("o2", auh, aarhus, events.HomeCare))
			}, "already-holds"},
		{"already-holds/hospital-stay", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(offered("o1", randers, auh, events.HospitalStay))
			}, "already-holds"},
		{"only-addressee-answers/accept-by-other", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command { return command(accepted("o1", randersK)) }, "only-addressee-answers"},
		{"only-addressee-answers/reject-by-other", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command {
				return command(&events.HandoffRejected{Offer: "o1", By: auh, Reason: "no"})
			}, "only-addressee-answers"},
		{"only-addressee-answers/actor-is-not-by", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command { return by(gp, command(accepted("o1", aarhus))) }, "only-addressee-answers"},
		{"one-holder", []events.Payload{
			opened(), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus),
			offered("o2", auh, randersK, events.HomeCare),
		},
			func([]events.Envelope) events.Command { return command(accepted("o2", randersK)) }, "one-holder"},
		{"only-sender-withdraws/by-addressee", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command {
				return command(&events.HandoffWithdrawn{Offer: "o1", By: aarhus})
			}, "only-sender-withdraws"},
		{"only-sender-withdraws/actor-is-not-by", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare)},
			func([]events.Envelope) events.Command {
				return by(aarhus, command(&events.HandoffWithdrawn{Offer: "o1", By: auh}))
			}, "only-sender-withdraws"},
		{"not-party/death", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return by(randers, command(&events.PatientDied{Place: randers}))
			}, "not-party"},
		{"not-party/discharge-of-another-hospital", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command { return by(randers, command(discharged(auh))) }, "not-party"},
		{"not-party/cancellation", []events.Payload{opened(), admitted(auh)},
			func(h []events.Envelope) events.Command { return by(randers, command(annul(h[1].ID))) }, "not-party"},
		{"not-party/transfer-away", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return by(randers, command(&events.PatientTransferred{From: auh, To: events.SOR("6620000000009")}))
			}, "not-party"},
		{"not-party/link", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return by(randers, command(&events.PatientIdentityLinked{Patient: patient, Other: other, Reason: "HL7 A40"}))
			}, "not-party"},
		{"not-party/offer", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return by(randersK, command(offered("o1", randersK, aarhus, events.HomeCare)))
			}, "not-party"},
		{"not-party/annulled-admission-gives-no-standing", []events.Payload{opened(), admitted(randers), annulFirstAdmission},
			func([]events.Envelope) events.Command {
				return by(randers, command(&events.LeaveStarted{Hospital: randers}))
			}, "not-party"},
		{"unknown-offer/accept", []events.Payload{opened()},
			func([]events.Envelope) events.Command { return command(accepted("o9", aarhus)) }, "unknown-offer"},
		{"unknown-offer/withdraw", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.HandoffWithdrawn{Offer: "o9", By: auh})
			}, "unknown-offer"},
		{"offer-not-pending/accept-twice", []events.Payload{opened(), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus)},
			func([]events.Envelope) events.Command { return command(accepted("o1", aarhus)) }, "offer-not-pending"},
		{"offer-not-pending/withdraw-rejected", []events.Payload{
			opened(), offered("o1", auh, aarhus, events.HomeCare),
			&events.HandoffRejected{Offer: "o1", By: aarhus, Reason: "no capacity"},
		},
			func([]events.Envelope) events.Command {
				return command(&events.HandoffWithdrawn{Offer: "o1", By: auh})
			}, "offer-not-pending"},
		{"offer-not-pending/accept-withdrawn", []events.Payload{
			opened(), offered("o1", auh, aarhus, events.HomeCare), &events.HandoffWithdrawn{Offer: "o1", By: auh},
		},
			func([]events.Envelope) events.Command { return command(accepted("o1", aarhus)) }, "offer-not-pending"},
		{"only-holder-releases", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.ResponsibilityReleased{By: randers, What: events.HospitalStay})
			}, "only-holder-releases"},
		{"only-holder-releases/nobody-holds", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.ResponsibilityReleased{By: aarhus, What: events.HomeCare})
			}, "only-holder-releases"},
		{"document-kind-fixed", []events.Payload{opened(), docSent("d1", events.DischargeReport)},
			func([]events.Envelope) events.Command {
				return command(docSent("d1", events.DischargeLetter))
			}, "document-kind-fixed"},
		{"document-kind-fixed/requested", []events.Payload{
			opened(), &events.DocumentRequested{Document: "d1", Kind: events.AdmissionReport, From: auh, To: aarhus},
		},
			func([]events.Envelope) events.Command {
				return command(docSent("d1", events.CareProcessPlan))
			}, "document-kind-fixed"},
		{"unknown-document", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.DocumentAcknowledged{Document: "d9", By: aarhus, OK: true})
			}, "unknown-document"},
		{"merge-into-this-patient", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.PatientIdentityMerged{Survivor: other, Merged: patient})
			}, "merge-into-this-patient"},
		{"link-this-patient", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.PatientIdentityLinked{Patient: other, Other: third, Reason: "HL7 A47"})
			}, "link-this-patient"},
		{"already-linked", []events.Payload{opened(), &events.PatientIdentityLinked{Patient: patient, Other: other, Reason: "HL7 A47"}},
			func([]events.Envelope) events.Command {
				return command(&events.PatientIdentityLinked{Patient: other, Other: patient, Reason: "HL7 A40"})
			}, "already-linked"},
		{"unknown-event", []events.Payload{opened()},
			func([]events.Envelope) events.Command { return command(annul(exampleID(999))) }, "unknown-event"},
		{"correct-a-correction", []events.Payload{opened(), admitted(auh), annulFirstAdmission},
			func(h []events.Envelope) events.Command { return command(annul(h[2].ID)) }, "correct-a-correction"},
		{"not-admitted/admission-annulled", []events.Payload{opened(), admitted(auh), annulFirstAdmission},
			func(h []events.Envelope) events.Command {
				return command(&events.LeaveStarted{Hospital: auh}, annul(h[2].ID))
			}, "not-admitted"},
		{"correct-opening", []events.Payload{opened()},
			func(h []events.Envelope) events.Command { return command(annul(h[0].ID)) }, "correct-opening"},
		{"correct-deadline", []events.Payload{
			opened(), offered("o1", auh, aarhus, events.HomeCare),
			&events.DeadlineElapsed{Ref: "o1", Rule: "handoff-accept", Deadline: t0},
		},
			func(h []events.Envelope) events.Command { return command(annul(h[2].ID)) }, "correct-deadline"},
		{"already-annulled", []events.Payload{opened(), admitted(auh)},
			func(h []events.Envelope) events.Command {
				// Annulling twice in one command also keeps the rule.
				return command(annul(h[1].ID), annul(h[1].ID))
			}, "already-annulled"},
		{"quarantine-by-operator", []events.Payload{opened(), admitted(auh)},
			func([]events.Envelope) events.Command {
				return command(&events.QuarantineResolved{Seq: 2, Hash: events.Hash(nil), Decision: events.Annul, Reason: "not mine to decide"})
			}, "quarantine-by-operator"},
		{"quarantine-by-operator/stand-in", []events.Payload{opened()},
			func([]events.Envelope) events.Command {
				return command(&events.Quarantined{Seq: 2, Reason: events.QuarantineUndecodable})
			}, "quarantine-by-operator"},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.rule] = true
		t.Run(tt.name, func(t *testing.T) {
			h := given(t, tt.given...)
			evs, err := events.Decide(events.Fold(h), tt.when(h))
			var re *events.RuleError
			if !errors.As(err, &re) {
				t.Fatalf("got %v (%d events); want rule %s", err, len(evs), tt.rule)
			}
			if re.Rule != tt.rule {
				t.Errorf("got rule %s (%v); want %s", re.Rule, err, tt.rule)
			}
			if !errors.Is(err, events.ErrRule) {
				t.Errorf("errors.Is(%v, ErrRule) = false; want true", err)
			}
			if evs != nil {
				t.Errorf("got %d events with an error; want none", len(evs))
			}
		})
	}
	// Every rule in pathway.go is in the docs' table (ruleOrder), and every
	// rule there has a case here.
	src, err := os.ReadFile("pathway.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`RuleError\{"([a-z-]+)"`).FindAllSubmatch(src, -1) {
		if r := string(m[1]); !slices.Contains(ruleOrder, r) {
			t.Errorf("rule %s (pathway.go) is not in ruleOrder and ruleMeanings (docs/events.md); want it there", r)
		}
	}
	for _, r := range ruleOrder {
		if !covered[r] {
			t.Errorf("rule %s: no case; want one", r)
		}
	}
	if len(covered) != len(ruleOrder) {
		t.Errorf("got %d rules tested; want the %d of docs/events.md", len(covered), len(ruleOrder))
	}
}

func TestDecideUnknownPathway(t *testing.T) {
	for _, pl := range []events.Payload{
		admitted(auh), offered("o1", auh, aarhus, events.HomeCare), annul(exampleID(1)), &events.PathwayClosed{Reason: "x"},
	} {
		t.Run(string(pl.Type()), func(t *testing.T) {
			evs, err := events.Decide(events.Fold(nil), command(pl))
			if !errors.Is(err, events.ErrUnknownPathway) {
				t.Errorf("got %v; want ErrUnknownPathway", err)
			}
			if evs != nil {
				t.Errorf("got %d events; want none", len(evs))
			}
		})
	}
}

func TestDecideValidation(t *testing.T) {
	h := given(t, opened(), admitted(auh))
	tests := []struct {
		name  string
		cmd   events.Command
		field string
	}{
		{"missing pathway", func() events.Command { c := command(admitted(auh)); c.Pathway = uuid.Nil; return c }(), "pathway"},
		{"missing occurred_at", func() events.Command { c := command(admitted(auh)); c.OccurredAt = time.Time{}; return c }(), "occurred_at"},
		{"no payloads", command(), "data"},
		{"nil payload", command(discharged(auh), nil), "data[1]"},
		{"bad actor", by(badOrg, command(discharged(auh))), "actor.org"},
		{"invalid payload", command(&events.PatientDischarged{Hospital: auh}), "data[0].destination"},
		{"invalid second payload", command(&events.LeaveStarted{Hospital: auh}, &events.LeaveEnded{}), "data[1].hospital"},
		// An organisation of the wrong kind is a bad field, not a rule.
		{"admission at a municipality", command(admitted(aarhus)), "data[0].hospital"},
		{"transfer to a practice", command(&events.PatientTransferred{From: auh, To: gp}), "data[0].to"},
		{"home care offered to a hospital", command(offered("o1", auh, randers, events.HomeCare)), "data[0].to"},
		{"rehabilitation offered to a practice", command(offered("o1", auh, gp, events.Rehabilitation)), "data[0].to"},
		{"gp follow-up offered to a municipality", command(offered("o1", auh, aarhus, events.GPFollowUp)), "data[0].to"},
		{"hospital stay offered to a municipality", command(offered("o1", auh, aarhus, events.HospitalStay)), "data[0].to"},
		{"offer to a region", command(offered("o1", auh, region, events.NursingHome)), "data[0].to"},
		{"wrong kind in second payload", command(discharged(auh), offered("o1", auh, randers, events.HomeCare)), "data[1].to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := events.Decide(events.Fold(h), tt.cmd)
			var ve *events.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v; want *ValidationError on %s", err, tt.field)
			}
			if ve.Field != tt.field {
				t.Errorf("got field %q (%v); want %q", ve.Field, err, tt.field)
			}
			if evs != nil {
				t.Errorf("got %d events; want none", len(evs))
			}
		})
	}
}

func TestDecideAcceptsRightKinds(t *testing.T) {
	h := given(t, opened(), admitted(auh))
	tests := []struct {
		name string
		pl   events.Payload
	}{
		{"gp follow-up to yder", offered("o1", auh, gp, events.GPFollowUp)},
		{"gp follow-up to SOR", offered("o1", auh, gpSOR, events.GPFollowUp)},
		{"hospital stay to a hospital", offered("o1", auh, randers, events.HospitalStay)},
		{"home nursing to a municipality", offered("o1", auh, aarhus, events.HomeNursing)},
		{"transfer to a hospital", &events.PatientTransferred{From: auh, To: randers}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := events.Decide(events.Fold(h), command(tt.pl)); err != nil {
				t.Errorf("got %v; want nil", err)
			}
		})
	}
}

func TestDecideEnvelopes(t *testing.T) {
	h := given(t, opened())
	c := by(auh, command(admitted(auh), offered("o1", auh, aarhus, events.HomeCare)))
	c.Correlation, c.Causation = "corr-1", "cause-1"
	evs, err := events.Decide(events.Fold(h), c)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if len(evs) != 2 {
		t.Fatalf("got %d events; want 2", len(evs))
	}
	for i, e := range evs {
		if e.ID.Version() != 7 {
			t.Errorf("[%d] got id version %d; want 7", i, e.ID.Version())
		}
		if e.Pathway != c.Pathway || !e.OccurredAt.Equal(c.OccurredAt) || e.Source != c.Source || e.Actor != c.Actor ||
			e.Correlation != "corr-1" || e.Causation != "cause-1" {
			t.Errorf("[%d] got %+v; want the command's pathway, time, source, actor, correlation and causation", i, e)
		}
		if e.Type != c.Payloads[i].Type() {
			t.Errorf("[%d] got type %s; want %s", i, e.Type, c.Payloads[i].Type())
		}
		if err := e.Validate(); err != nil {
			t.Errorf("[%d] Validate: %v", i, err)
		}
	}
	if evs[0].ID == evs[1].ID {
		t.Errorf("got the same id twice (%s); want fresh ids", evs[0].ID)
	}
}

// MedCom has no transfer message: an admission at another hospital while
// the patient is admitted is a transfer.
func TestDecideAdmissionElsewhereIsTransfer(t *testing.T) {
	t.Run("other hospital", func(t *testing.T) {
		h := given(t, opened(), admitted(auh))
		in := &events.PatientAdmitted{Hospital: randers, Department: "Medicinsk afdeling", Class: events.Inpatient}
		evs, err := events.Decide(events.Fold(h), command(in))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if len(evs) != 1 {
			t.Fatalf("got %d events; want 1", len(evs))
		}
		got, ok := evs[0].Payload.(*events.PatientTransferred)
		if !ok || evs[0].Type != events.TypePatientTransferred {
			t.Fatalf("got %s (%T); want PatientTransferred", evs[0].Type, evs[0].Payload)
		}
		want := events.PatientTransferred{From: auh, To: randers, Department: "Medicinsk afdeling"}
		if *got != want {
			t.Errorf("got %+v; want %+v", *got, want)
		}
		p := events.Fold(append(h, evs...))
		if p.Hospital() != randers || p.Holder(events.HospitalStay) != randers || !p.Admitted() {
			t.Errorf("after fold: got hospital %s, holder %s, admitted %t; want %s, %s, true",
				p.Hospital(), p.Holder(events.HospitalStay), p.Admitted(), randers, randers)
		}
	})
	t.Run("same hospital stays an admission", func(t *testing.T) {
		// STAA then STIN: the acute ambulant stay becomes inpatient.
		h := given(t, opened(), &events.PatientAdmitted{Hospital: auh, Class: events.AcuteAmbulant})
		evs, err := events.Decide(events.Fold(h), command(admitted(auh)))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if evs[0].Type != events.TypePatientAdmitted {
			t.Errorf("got %s; want PatientAdmitted", evs[0].Type)
		}
	})
	t.Run("after discharge is a new admission", func(t *testing.T) {
		h := given(t, opened(), admitted(auh), discharged(auh))
		evs, err := events.Decide(events.Fold(h), command(admitted(randers)))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if evs[0].Type != events.TypePatientAdmitted {
			t.Errorf("got %s; want PatientAdmitted", evs[0].Type)
		}
	})
}

// A discharge with no accepted receiver is exactly a gap, not an error.
func TestDecideDischargeWithoutReceiver(t *testing.T) {
	h := given(t, opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare))
	evs, err := events.Decide(events.Fold(h), command(&events.PatientDischarged{
		Hospital: auh, Destination: events.DestHomeWithServices, To: aarhus,
	}))
	if err != nil {
		t.Fatalf("got %v; want the discharge appended", err)
	}
	p := events.Fold(append(h, evs...))
	if p.Admitted() {
		t.Errorf("got admitted; want discharged")
	}
	for _, r := range []events.Responsibility{events.HospitalStay, events.HomeCare} {
		if got := p.Holder(r); got != "" {
			t.Errorf("Holder(%s): got %s; want nobody", r, got)
		}
	}
	if o, _ := p.Offer("o1"); o.Status != events.OfferPending {
		t.Errorf("offer o1: got %s; want pending", o.Status)
	}
}

func TestFoldSkipsAnnulled(t *testing.T) {
	t.Run("annulled discharge", func(t *testing.T) {
		h := given(t, opened(), admitted(auh), discharged(auh))
		h = append(h, given1(t, h, annul(h[2].ID))...)
		p := events.Fold(h)
		if !p.Admitted() || p.Holder(events.HospitalStay) != auh {
			t.Errorf("got admitted %t, holder %s; want the discharge rolled back", p.Admitted(), p.Holder(events.HospitalStay))
		}
		if _, err := events.Decide(p, command(discharged(auh))); err != nil {
			t.Errorf("discharge after the rollback: got %v; want nil", err)
		}
	})
	t.Run("annulled admission", func(t *testing.T) {
		h := given(t, opened(), admitted(auh))
		h = append(h, given1(t, h, annul(h[1].ID))...)
		p := events.Fold(h)
		if p.Admitted() || p.Hospital() != "" {
			t.Errorf("got admitted %t at %q; want not admitted", p.Admitted(), p.Hospital())
		}
		_, err := events.Decide(p, command(discharged(auh)))
		if re := (*events.RuleError)(nil); !errors.As(err, &re) || re.Rule != "not-admitted" {
			t.Errorf("discharge: got %v; want rule not-admitted", err)
		}
	})
	t.Run("annulled acceptance", func(t *testing.T) {
		h := given(t, opened(), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus))
		h = append(h, given1(t, h, annul(h[2].ID))...)
		p := events.Fold(h)
		if o, _ := p.Offer("o1"); o.Status != events.OfferPending || p.Holder(events.HomeCare) != "" {
			t.Errorf("got offer %s, holder %q; want pending and nobody", o.Status, p.Holder(events.HomeCare))
		}
	})
	t.Run("annulled close", func(t *testing.T) {
		h := given(t, opened(), &events.PathwayClosed{Reason: "done"})
		h = append(h, given1(t, h, annul(h[1].ID))...)
		if p := events.Fold(h); p.Closed() {
			t.Errorf("got closed; want reopened by the correction")
		}
	})
	t.Run("correction before the event in the slice", func(t *testing.T) {
		// Fold collects corrections first, so order within the history
		// does not matter for which events are skipped.
		h := given(t, opened(), admitted(auh))
		c := given1(t, h, annul(h[1].ID))
		p := events.Fold([]events.Envelope{h[0], c[0], h[1]})
		if p.Admitted() {
			t.Errorf("got admitted; want the annulled admission skipped")
		}
	})
	t.Run("Apply of a correction", func(t *testing.T) {
		h := given(t, opened(), admitted(auh), discharged(auh))
		p := events.Fold(h)
		c := given1(t, h, annul(h[2].ID))
		c[0].Seq = 4
		p.Apply(&c[0])
		if got := p.LastSeq(); got != 4 {
			t.Errorf("LastSeq: got %d; want 4", got)
		}
		_, err := events.Decide(p, command(annul(h[2].ID)))
		if re := (*events.RuleError)(nil); !errors.As(err, &re) || re.Rule != "already-annulled" {
			t.Errorf("second correction: got %v; want rule already-annulled", err)
		}
	})
}

func TestApplyMatchesFold(t *testing.T) {
	h := given(t, opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus),
		&events.LeaveStarted{Hospital: auh}, &events.LeaveEnded{Hospital: auh}, discharged(auh))
	p := events.Fold(h[:1])
	for i := 1; i < len(h); i++ {
		p.Apply(&h[i])
	}
	f := events.Fold(h)
	if p.Admitted() != f.Admitted() || p.Holder(events.HomeCare) != f.Holder(events.HomeCare) ||
		p.LastSeq() != f.LastSeq() || offerStatus(p, "o1") != offerStatus(f, "o1") {
		t.Errorf("got admitted %t, holder %s, seq %d, offer %s; want %t, %s, %d, %s",
			p.Admitted(), p.Holder(events.HomeCare), p.LastSeq(), offerStatus(p, "o1"),
			f.Admitted(), f.Holder(events.HomeCare), f.LastSeq(), offerStatus(f, "o1"))
	}
}

// given1 decides one payload against a history and returns its events.
func given1(t *testing.T, h []events.Envelope, pl events.Payload) []events.Envelope {
	t.Helper()
	evs, err := events.Decide(events.Fold(h), command(pl))
	if err != nil {
		t.Fatalf("%s: %v", pl.Type(), err)
	}
	return evs
}

func TestDecideAllOrNothing(t *testing.T) {
	t.Run("second payload breaks a rule", func(t *testing.T) {
		h := given(t, opened(), admitted(auh))
		p := events.Fold(h)
		leave := &events.LeaveStarted{Hospital: auh}
		evs, err := events.Decide(p, command(leave, leave))
		var re *events.RuleError
		if !errors.As(err, &re) || re.Rule != "already-on-leave" {
			t.Fatalf("got %v; want rule already-on-leave", err)
		}
		if evs != nil {
			t.Errorf("got %d events; want none", len(evs))
		}
		// The state given to Decide is untouched: the first LeaveStarted
		// was decided on a scratch copy.
		if _, err := events.Decide(p, command(&events.LeaveEnded{Hospital: auh})); err == nil {
			t.Errorf("LeaveEnded after the failed command: got nil; want not-on-leave")
		}
		if _, err := events.Decide(p, command(leave)); err != nil {
			t.Errorf("LeaveStarted after the failed command: got %v; want nil", err)
		}
	})
	t.Run("offers are not shared with the scratch copy", func(t *testing.T) {
		h := given(t, opened(), offered("o1", auh, aarhus, events.HomeCare))
		p := events.Fold(h)
		_, err := events.Decide(p, command(accepted("o1", aarhus), &events.PathwayClosed{}))
		if err == nil {
			t.Fatalf("got nil; want a validation error for the close without reason")
		}
		if o, _ := p.Offer("o1"); o.Status != events.OfferPending {
			t.Errorf("offer o1 after the failed command: got %s; want pending", o.Status)
		}
		if p.Holder(events.HomeCare) != "" {
			t.Errorf("holder after the failed command: got %s; want nobody", p.Holder(events.HomeCare))
		}
	})
	t.Run("later payloads see earlier ones", func(t *testing.T) {
		evs, err := events.Decide(events.Fold(nil), command(
			opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus),
			discharged(auh), &events.PathwayClosed{Reason: "done"},
		))
		if err != nil {
			t.Fatalf("Decide: %v", err)
		}
		if len(evs) != 6 {
			t.Fatalf("got %d events; want 6", len(evs))
		}
		p := events.Fold(evs)
		if !p.Closed() || p.Holder(events.HomeCare) != aarhus || p.ID() != pathway1 || p.Patient() != patient {
			t.Errorf("got closed %t, holder %s, id %s, patient %s; want closed, %s, %s, %s",
				p.Closed(), p.Holder(events.HomeCare), p.ID(), p.Patient(), aarhus, pathway1, patient)
		}
	})
}

func TestFoldState(t *testing.T) {
	h := given(t,
		opened(), admitted(auh),
		offered("o1", auh, aarhus, events.HomeCare), accepted("o1", aarhus),
		offered("o2", auh, gp, events.GPFollowUp),
		&events.HandoffRejected{Offer: "o2", By: gp, Reason: "not our patient"},
		offered("o3", auh, aarhus, events.Rehabilitation),
		&events.HandoffWithdrawn{Offer: "o3", By: auh},
		&events.ResponsibilityReleased{By: aarhus, What: events.HomeCare},
	)
	p := events.Fold(h)
	checks := []struct {
		name      string
		got, want any
	}{
		{"ID", p.ID(), pathway1},
		{"Opened", p.Opened(), true},
		{"Closed", p.Closed(), false},
		{"Cluster", p.Cluster(), "aarhus"},
		{"Patient", p.Patient(), patient},
		{"Municipality", p.Municipality(), aarhus},
		{"GP", p.GP(), gp},
		{"Hospital", p.Hospital(), auh},
		{"Admitted", p.Admitted(), true},
		{"Holder(hospital-stay)", p.Holder(events.HospitalStay), auh},
		{"Holder(home-care) after release", p.Holder(events.HomeCare), events.OrgID("")},
		{"Offer(o1).Status", offerStatus(p, "o1"), events.OfferAccepted},
		{"Offer(o2).Status", offerStatus(p, "o2"), events.OfferRejected},
		{"Offer(o3).Status", offerStatus(p, "o3"), events.OfferWithdrawn},
		{"LastSeq", p.LastSeq(), uint64(len(h))},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v; want %v", c.got, c.want)
			}
		})
	}
	if _, ok := p.Offer("nope"); ok {
		t.Errorf("Offer(nope): got ok; want not found")
	}
}

func offerStatus(p *events.Pathway, id string) events.OfferStatus {
	o, _ := p.Offer(id)
	return o.Status
}

// Fold is deterministic: the same history gives the same decisions.
func TestFoldDeterministic(t *testing.T) {
	h := given(t, opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare))
	a, b := events.Fold(h), events.Fold(h)
	for _, pl := range []events.Payload{accepted("o1", aarhus), accepted("o1", randersK), discharged(auh), discharged(randers)} {
		_, errA := events.Decide(a, command(pl))
		_, errB := events.Decide(b, command(pl))
		if (errA == nil) != (errB == nil) || (errA != nil && errA.Error() != errB.Error()) {
			t.Errorf("%s: got %v and %v; want the same answer", pl.Type(), errA, errB)
		}
	}
}

func TestTrimmedState(t *testing.T) {
	h := given(t, opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare))
	t.Run("decides as the full state", func(t *testing.T) {
		full, trimmed := events.Fold(h), events.Fold(h)
		trimmed.Trim()
		for _, pl := range []events.Payload{accepted("o1", aarhus), discharged(auh), admitted(auh)} {
			_, errFull := events.Decide(full, command(pl))
			_, errTrim := events.Decide(trimmed, command(pl))
			if fmt.Sprint(errFull) != fmt.Sprint(errTrim) {
				t.Errorf("%s: trimmed got %v; full got %v", pl.Type(), errTrim, errFull)
			}
		}
	})
	t.Run("refuses a correction", func(t *testing.T) {
		p := events.Fold(h)
		p.Trim()
		if _, err := events.Decide(p, command(annul(h[1].ID))); !errors.Is(err, events.ErrHistoryTrimmed) {
			t.Errorf("got %v; want ErrHistoryTrimmed", err)
		}
	})
	t.Run("a correction applied makes it refuse everything", func(t *testing.T) {
		p := events.Fold(h)
		p.Trim()
		c := given1(t, h, annul(h[1].ID))
		p.Apply(&c[0])
		if _, err := events.Decide(p, command(discharged(auh))); !errors.Is(err, events.ErrHistoryTrimmed) {
			t.Errorf("got %v; want ErrHistoryTrimmed", err)
		}
	})
	t.Run("keeps applying", func(t *testing.T) {
		p := events.Fold(h[:1])
		p.Trim()
		for i := 1; i < len(h); i++ {
			p.Apply(&h[i])
		}
		if !p.Trimmed() || !p.Admitted() || p.LastSeq() != events.Fold(h).LastSeq() {
			t.Errorf("got trimmed %t, admitted %t, seq %d", p.Trimmed(), p.Admitted(), p.LastSeq())
		}
	})
}

// Decide reads the state and never changes it, whether it accepts or
// refuses: the engine decides on its cached state in place.
func TestDecideLeavesStateAlone(t *testing.T) {
	h := given(t, opened(), admitted(auh), offered("o1", auh, aarhus, events.HomeCare))
	cmds := []events.Command{
		command(accepted("o1", aarhus)), command(discharged(auh)), command(admitted(auh)),
		command(annul(h[1].ID)), command(accepted("o1", aarhus), discharged(auh)),
		command(&events.LeaveStarted{Hospital: auh}), command(accepted("nope", aarhus)),
	}
	for _, c := range cmds {
		p, want := events.Fold(h), events.Fold(h)
		_, err := events.Decide(p, c)
		if !reflect.DeepEqual(p, want) {
			t.Errorf("%s (err %v): the state changed", c.Payloads[0].Type(), err)
		}
	}
}

// TestLinked: a link makes the other identity the pathway's; a Correction
// of it undoes that, and the two can be linked again.
func TestLinked(t *testing.T) {
	link := &events.PatientIdentityLinked{Patient: other, Other: patient, Reason: "HL7 A47"}
	h := given(t, opened(), link)
	p := events.Fold(h)
	if id, ok := p.Linked(other); !ok || id != h[1].ID {
		t.Fatalf("Linked(other) = %v, %t; want the link event %v", id, ok, h[1].ID)
	}
	if id, ok := p.Linked(patient); !ok || id != uuid.Nil {
		t.Errorf("Linked(patient) = %v, %t; want the pathway's own patient", id, ok)
	}
	if _, ok := p.Linked(third); ok {
		t.Error("Linked(third) = true; want an identity never linked refused")
	}
	chain := &events.PatientIdentityLinked{Patient: third, Other: other, Reason: "HL7 A40"}
	if _, err := events.Decide(p, command(chain)); err != nil {
		t.Errorf("linking a third identity through a linked one: %v", err)
	}
	evs, err := events.Decide(p, command(annul(h[1].ID)))
	if err != nil {
		t.Fatal(err)
	}
	evs[0].Seq = 3
	h = append(h, evs[0])
	p = events.Fold(h)
	if _, ok := p.Linked(other); ok {
		t.Error("after the Correction, Linked(other) = true; want the link undone")
	}
	if _, err := events.Decide(p, command(link)); err != nil {
		t.Errorf("linking again after the Correction: %v", err)
	}
}
