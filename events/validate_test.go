package events_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// payloadOf returns the example payload of type typ, copied, so a test can
// change it.
func payloadOf[T any](t *testing.T) *T {
	t.Helper()
	for _, x := range examples(t) {
		if p, ok := any(x.env.Payload).(*T); ok {
			c := *p
			return &c
		}
	}
	t.Fatalf("no example of %T", new(T))
	return nil
}

// with returns a copy of T's example payload changed by f.
func with[T any](f func(*T)) func(*testing.T) events.Payload {
	return func(t *testing.T) events.Payload {
		p := payloadOf[T](t)
		f(p)
		return any(p).(events.Payload)
	}
}

func TestPayloadValidate(t *testing.T) {
	long := strings.Repeat("x", 4097)
	tests := []struct {
		name  string
		pl    func(*testing.T) events.Payload
		field string // "" means valid
	}{
		{"PathwayOpened/valid", with(func(*events.PathwayOpened) {}), ""},
		{"PathwayOpened/minimal", with(func(p *events.PathwayOpened) {
			*p = events.PathwayOpened{Patient: patient, Cluster: "aarhus"}
		}), ""},
		{"PathwayOpened/missing patient", with(func(p *events.PathwayOpened) { p.Patient = "" }), "patient"},
		{"PathwayOpened/clear CPR as patient", with(func(p *events.PathwayOpened) { p.Patient = testCPR }), "patient"},
		{"PathwayOpened/missing cluster", with(func(p *events.PathwayOpened) { p.Cluster = "" }), "cluster"},
		{"PathwayOpened/cluster not a slug", with(func(p *events.PathwayOpened) { p.Cluster = "Aarhus" }), "cluster"},
		{"PathwayOpened/cluster with subject dot", with(func(p *events.PathwayOpened) { p.Cluster = "aarhus.>" }), "cluster"},
		{"PathwayOpened/bad municipality", with(func(p *events.PathwayOpened) { p.Municipality = badOrg }), "municipality"},
		{"PathwayOpened/bad gp", with(func(p *events.PathwayOpened) { p.GP = "yder:abc" }), "gp"},
		{"PathwayOpened/long episode", with(func(p *events.PathwayOpened) { p.Episode = long }), "episode"},

		{"PatientAdmitted/valid", with(func(*events.PatientAdmitted) {}), ""},
		{"PatientAdmitted/missing hospital", with(func(p *events.PatientAdmitted) { p.Hospital = "" }), "hospital"},
		{"PatientAdmitted/malformed hospital", with(func(p *events.PatientAdmitted) { p.Hospital = "6620000000001" }), "hospital"},
		{"PatientAdmitted/missing class", with(func(p *events.PatientAdmitted) { p.Class = "" }), "class"},
		{"PatientAdmitted/unknown class", with(func(p *events.PatientAdmitted) { p.Class = "outpatient" }), "class"},
		{"PatientAdmitted/bad notified", with(func(p *events.PatientAdmitted) { p.Notified = badOrg }), "notified"},
		{"PatientAdmitted/long department", with(func(p *events.PatientAdmitted) { p.Department = long }), "department"},
		{"PatientAdmitted/long episode", with(func(p *events.PatientAdmitted) { p.Episode = long }), "episode"},

		{"PatientTransferred/valid", with(func(*events.PatientTransferred) {}), ""},
		{"PatientTransferred/missing from", with(func(p *events.PatientTransferred) { p.From = "" }), "from"},
		{"PatientTransferred/malformed to", with(func(p *events.PatientTransferred) { p.To = "hospital:1" }), "to"},
		{"PatientTransferred/long department", with(func(p *events.PatientTransferred) { p.Department = long }), "department"},

		{"LeaveStarted/valid", with(func(*events.LeaveStarted) {}), ""},
		{"LeaveStarted/no end", with(func(p *events.LeaveStarted) { p.Until = time.Time{} }), ""},
		{"LeaveStarted/missing hospital", with(func(p *events.LeaveStarted) { p.Hospital = "" }), "hospital"},
		{"LeaveEnded/valid", with(func(*events.LeaveEnded) {}), ""},
		{"LeaveEnded/malformed hospital", with(func(p *events.LeaveEnded) { p.Hospital = "sor:" }), "hospital"},

		{"DischargeExpected/valid", with(func(*events.DischargeExpected) {}), ""},
		{"DischargeExpected/missing hospital", with(func(p *events.DischargeExpected) { p.Hospital = "" }), "hospital"},
		{"DischargeExpected/missing expected", with(func(p *events.DischargeExpected) { p.Expected = time.Time{} }), "expected"},

		{"ReadyForDischarge/valid", with(func(*events.ReadyForDischarge) {}), ""},
		{"ReadyForDischarge/missing hospital", with(func(p *events.ReadyForDischarge) { p.Hospital = "" }), "hospital"},
		{"ReadyForDischarge/bad municipality", with(func(p *events.ReadyForDischarge) { p.Municipality = badOrg }), "municipality"},

		{"PatientDischarged/valid", with(func(*events.PatientDischarged) {}), ""},
		{"PatientDischarged/missing hospital", with(func(p *events.PatientDischarged) { p.Hospital = "" }), "hospital"},
		{"PatientDischarged/missing destination", with(func(p *events.PatientDischarged) { p.Destination = "" }), "destination"},
		{"PatientDischarged/unknown destination", with(func(p *events.PatientDischarged) { p.Destination = "mars" }), "destination"},
		{"PatientDischarged/bad to", with(func(p *events.PatientDischarged) { p.To = badOrg }), "to"},

		{"PatientDied/valid", with(func(*events.PatientDied) {}), ""},
		{"PatientDied/no place", with(func(p *events.PatientDied) { p.Place = "" }), ""},
		{"PatientDied/bad place", with(func(p *events.PatientDied) { p.Place = badOrg }), "place"},

		{"HandoffOffered/valid", with(func(*events.HandoffOffered) {}), ""},
		{"HandoffOffered/missing offer", with(func(p *events.HandoffOffered) { p.Offer = "" }), "offer"},
		{"HandoffOffered/long offer", with(func(p *events.HandoffOffered) { p.Offer = long }), "offer"},
		{"HandoffOffered/missing from", with(func(p *events.HandoffOffered) { p.From = "" }), "from"},
		{"HandoffOffered/missing to", with(func(p *events.HandoffOffered) { p.To = "" }), "to"},
		{"HandoffOffered/to itself", with(func(p *events.HandoffOffered) { p.To = p.From }), "to"},
		{"HandoffOffered/missing what", with(func(p *events.HandoffOffered) { p.What = "" }), "what"},
		{"HandoffOffered/unknown what", with(func(p *events.HandoffOffered) { p.What = "babysitting" }), "what"},

		{"HandoffAccepted/valid", with(func(*events.HandoffAccepted) {}), ""},
		{"HandoffAccepted/missing offer", with(func(p *events.HandoffAccepted) { p.Offer = "" }), "offer"},
		{"HandoffAccepted/missing by", with(func(p *events.HandoffAccepted) { p.By = "" }), "by"},

		{"HandoffRejected/valid", with(func(*events.HandoffRejected) {}), ""},
		{"HandoffRejected/missing offer", with(func(p *events.HandoffRejected) { p.Offer = "" }), "offer"},
		{"HandoffRejected/bad by", with(func(p *events.HandoffRejected) { p.By = badOrg }), "by"},
		{"HandoffRejected/missing reason", with(func(p *events.HandoffRejected) { p.Reason = "" }), "reason"},

		{"HandoffWithdrawn/valid", with(func(*events.HandoffWithdrawn) {}), ""},
		{"HandoffWithdrawn/no reason", with(func(p *events.HandoffWithdrawn) { p.Reason = "" }), ""},
		{"HandoffWithdrawn/missing offer", with(func(p *events.HandoffWithdrawn) { p.Offer = "" }), "offer"},
		{"HandoffWithdrawn/missing by", with(func(p *events.HandoffWithdrawn) { p.By = "" }), "by"},

		{"ResponsibilityReleased/valid", with(func(*events.ResponsibilityReleased) {}), ""},
		{"ResponsibilityReleased/missing by", with(func(p *events.ResponsibilityReleased) { p.By = "" }), "by"},
		{"ResponsibilityReleased/unknown what", with(func(p *events.ResponsibilityReleased) { p.What = "x" }), "what"},

		{"DocumentRequested/valid", with(func(*events.DocumentRequested) {}), ""},
		{"DocumentRequested/missing document", with(func(p *events.DocumentRequested) { p.Document = "" }), "document"},
		{"DocumentRequested/missing kind", with(func(p *events.DocumentRequested) { p.Kind = "" }), "kind"},
		{"DocumentRequested/unknown kind", with(func(p *events.DocumentRequested) { p.Kind = "XDIS99" }), "kind"},
		{"DocumentRequested/missing from", with(func(p *events.DocumentRequested) { p.From = "" }), "from"},
		{"DocumentRequested/bad to", with(func(p *events.DocumentRequested) { p.To = badOrg }), "to"},

		{"DocumentSent/valid", with(func(*events.DocumentSent) {}), ""},
		{"DocumentSent/missing document", with(func(p *events.DocumentSent) { p.Document = "" }), "document"},
		{"DocumentSent/unknown kind", with(func(p *events.DocumentSent) { p.Kind = "letter" }), "kind"},
		{"DocumentSent/bad from", with(func(p *events.DocumentSent) { p.From = badOrg }), "from"},
		{"DocumentSent/missing to", with(func(p *events.DocumentSent) { p.To = "" }), "to"},

		{"DocumentAcknowledged/valid", with(func(*events.DocumentAcknowledged) {}), ""},
		{"DocumentAcknowledged/negative", with(func(p *events.DocumentAcknowledged) { p.OK, p.Reason = false, "fatal-error" }), ""},
		{"DocumentAcknowledged/missing document", with(func(p *events.DocumentAcknowledged) { p.Document = "" }), "document"},
		{"DocumentAcknowledged/missing by", with(func(p *events.DocumentAcknowledged) { p.By = "" }), "by"},

		{"ServiceStarted/valid", with(func(*events.ServiceStarted) {}), ""},
		{"ServiceStarted/missing by", with(func(p *events.ServiceStarted) { p.By = "" }), "by"},
		{"ServiceStarted/missing what", with(func(p *events.ServiceStarted) { p.What = "" }), "what"},

		{"DeadlineElapsed/valid", with(func(*events.DeadlineElapsed) {}), ""},
		{"DeadlineElapsed/missing ref", with(func(p *events.DeadlineElapsed) { p.Ref = "" }), "ref"},
		{"DeadlineElapsed/missing rule", with(func(p *events.DeadlineElapsed) { p.Rule = "" }), "rule"},
		{"DeadlineElapsed/missing deadline", with(func(p *events.DeadlineElapsed) { p.Deadline = time.Time{} }), "deadline"},

		{"PathwayClosed/valid", with(func(*events.PathwayClosed) {}), ""},
		{"PathwayClosed/missing reason", with(func(p *events.PathwayClosed) { p.Reason = "" }), "reason"},
		{"PathwayClosed/long reason", with(func(p *events.PathwayClosed) { p.Reason = long }), "reason"},

		{"PatientIdentityMerged/valid", with(func(*events.PatientIdentityMerged) {}), ""},
		{"PatientIdentityMerged/bad survivor", with(func(p *events.PatientIdentityMerged) { p.Survivor = "p123" }), "survivor"},
		{"PatientIdentityMerged/missing merged", with(func(p *events.PatientIdentityMerged) { p.Merged = "" }), "merged"},
		{"PatientIdentityMerged/same patient", with(func(p *events.PatientIdentityMerged) { p.Merged = p.Survivor }), "merged"},

		{"Correction/valid", with(func(*events.Correction) {}), ""},
		{"Correction/missing annuls", with(func(p *events.Correction) { p.Annuls = uuid.Nil }), "annuls"},
		{"Correction/missing reason", with(func(p *events.Correction) { p.Reason = "" }), "reason"},

		{"QuarantineResolved/valid", with(func(*events.QuarantineResolved) {}), ""},
		{"QuarantineResolved/take in without reason", with(func(p *events.QuarantineResolved) { p.Decision, p.Reason = events.TakeIn, "" }), ""},
		{"QuarantineResolved/annul without reason", with(func(p *events.QuarantineResolved) { p.Reason = "" }), "reason"},
		{"QuarantineResolved/missing seq", with(func(p *events.QuarantineResolved) { p.Seq = 0 }), "seq"},
		{"QuarantineResolved/not a hash", with(func(p *events.QuarantineResolved) { p.Hash = "4711" }), "hash"},
		{"QuarantineResolved/unknown decision", with(func(p *events.QuarantineResolved) { p.Decision = "ignore" }), "decision"},

		{"PatientIdentityLinked/valid", with(func(*events.PatientIdentityLinked) {}), ""},
		{"PatientIdentityLinked/no other pathway", with(func(p *events.PatientIdentityLinked) { p.Joined = uuid.Nil }), ""},
		{"PatientIdentityLinked/bad patient", with(func(p *events.PatientIdentityLinked) { p.Patient = "2509479989" }), "patient"},
		{"PatientIdentityLinked/missing other", with(func(p *events.PatientIdentityLinked) { p.Other = "" }), "other"},
		{"PatientIdentityLinked/same patient", with(func(p *events.PatientIdentityLinked) { p.Other = p.Patient }), "other"},
		{"PatientIdentityLinked/missing reason", with(func(p *events.PatientIdentityLinked) { p.Reason = "" }), "reason"},
	}
	covered := map[events.Type]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := tt.pl(t)
			covered[pl.Type()] = true
			err := pl.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("got %v; want nil", err)
				}
				return
			}
			var ve *events.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v; want *ValidationError on %s", err, tt.field)
			}
			if ve.Field != tt.field {
				t.Errorf("got field %q (%v); want %q", ve.Field, err, tt.field)
			}
			if ve.Reason == "" {
				t.Errorf("got an empty reason; want one")
			}
		})
	}
	for _, typ := range events.Types() {
		if !covered[typ] {
			t.Errorf("no Validate case for %s; want one", typ)
		}
	}
}

func TestEnvelopeValidate(t *testing.T) {
	base := func(t *testing.T) events.Envelope { return examples(t)[1].env }
	tests := []struct {
		name  string
		edit  func(*events.Envelope)
		field string
	}{
		{"valid", func(*events.Envelope) {}, ""},
		{"no type given", func(e *events.Envelope) { e.Type = "" }, ""},
		{"missing id", func(e *events.Envelope) { e.ID = uuid.Nil }, "id"},
		{"missing pathway", func(e *events.Envelope) { e.Pathway = uuid.Nil }, "pathway"},
		{"missing payload", func(e *events.Envelope) { e.Payload = nil }, "data"},
		{"type does not match payload", func(e *events.Envelope) { e.Type = events.TypePatientDied }, "type"},
		{"missing occurred_at", func(e *events.Envelope) { e.OccurredAt = time.Time{} }, "occurred_at"},
		{"bad actor org", func(e *events.Envelope) { e.Actor.Org = badOrg }, "actor.org"},
		{"bad source org", func(e *events.Envelope) { e.Source.Org = "nope" }, "source.org"},
		{"bad payload", func(e *events.Envelope) { e.Payload = &events.PatientAdmitted{Hospital: auh} }, "data.class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base(t)
			tt.edit(&e)
			err := e.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("got %v; want nil", err)
				}
				return
			}
			var ve *events.ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Errorf("got %v; want *ValidationError on %q", err, tt.field)
			}
		})
	}
}

func TestOrgID(t *testing.T) {
	tests := []struct {
		id    events.OrgID
		valid bool
	}{
		{"sor:6620000000001", true},
		{"kommune:0751", true},
		{"yder:012345", true},
		{"region:1082", true},
		{"", false},
		{"0751", false},
		{"kommune:", false},
		{"kommune:751", false},
		{"kommune:07510", false},
		{"kommune:07a1", false},
		{"region:82", false},
		{"sor:12a", false},
		{"yder:0123-45", false},
		{"sor:12 3", false},
		{"sor:1:2", false},
		{"sor:" + events.OrgID(strings.Repeat("1", 33)), false},
		{"sor:" + events.OrgID(strings.Repeat("1", 32)), true},
		{"SOR:123", false},
		{"hospital:123", false},
		{"kommune:0751.>", false},
		{"kommune:０７５１", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.id), func(t *testing.T) {
			err := tt.id.Validate()
			if tt.valid && err != nil {
				t.Errorf("got %v; want nil", err)
			}
			if !tt.valid {
				var ve *events.ValidationError
				if !errors.As(err, &ve) || ve.Reason == "" {
					t.Errorf("got %v; want a *ValidationError with a reason", err)
				}
			}
		})
	}
	t.Run("parts", func(t *testing.T) {
		id := events.Kommune("0751")
		if id.Scheme() != "kommune" || id.Code() != "0751" || id.Token() != "kommune-0751" {
			t.Errorf("got %q %q %q; want kommune 0751 kommune-0751", id.Scheme(), id.Code(), id.Token())
		}
		if got := events.SOR("123"); got != "sor:123" {
			t.Errorf("SOR(123): got %q; want sor:123", got)
		}
	})
	t.Run("cluster ids", func(t *testing.T) {
		for id, valid := range map[string]bool{"aarhus": true, "syd-hovedstaden": true, "": false, "Aarhus": false, "a.b": false, "a*": false, "kø": false} {
			if err := events.ValidateClusterID(id); (err == nil) != valid {
				t.Errorf("ValidateClusterID(%q): got %v; want valid=%t", id, err, valid)
			}
		}
	})
}
