package events_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stafet/stafet/events"
)

func TestNormalizeReplacement(t *testing.T) {
	tests := []struct {
		name, issuer, number string
		want                 events.ReplacementCPR // zero: invalid
	}{
		// The numbers are those of MedCom's and DK Core's examples.
		{"national", "urn:oid:1.2.208.176.1.6.1.1", "0703921VJ4", events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.1", Number: "0703921VJ4"}},
		{"national, bare OID", "1.2.208.176.1.6.1.1", "0703921VJ5", events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.1", Number: "0703921VJ5"}},
		{"regional root", "urn:oid:1.2.208.176.1.6.1.3", "1206550VK9", events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.3", Number: "1206550VK9"}},
		{"Region Sjælland", "urn:oid:1.2.208.176.1.6.1.3.177", "1206550VK9", events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.3.177", Number: "1206550VK9"}},
		{"lower case and spaces", " urn:oid:1.2.208.176.1.6.1.1 ", " 0703921vj4 ", events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.1", Number: "0703921VJ4"}},
		{"CPR system", "urn:oid:1.2.208.176.1.2", "0703921VJ4", events.ReplacementCPR{}},
		{"unknown branch", "urn:oid:1.2.208.176.1.6.1.2", "0703921VJ4", events.ReplacementCPR{}},
		{"branch not digits", "urn:oid:1.2.208.176.1.6.1.3.x", "0703921VJ4", events.ReplacementCPR{}},
		{"a CPR number", "urn:oid:1.2.208.176.1.6.1.1", "2509479989", events.ReplacementCPR{}},
		{"not a date", "urn:oid:1.2.208.176.1.6.1.1", "3102921VJ4", events.ReplacementCPR{}},
		{"too long", "urn:oid:1.2.208.176.1.6.1.1", "0703921VJ45", events.ReplacementCPR{}},
		{"letter for the last digit", "urn:oid:1.2.208.176.1.6.1.1", "0703921VJX", events.ReplacementCPR{}},
		{"empty", "urn:oid:1.2.208.176.1.6.1.1", "", events.ReplacementCPR{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.NormalizeReplacement(tt.issuer, tt.number)
			if !tt.want.IsZero() {
				if err != nil || got != tt.want {
					t.Errorf("got %+v, %v; want %+v, nil", got, err, tt.want)
				}
				return
			}
			var ve *events.ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, "replacement.") {
				t.Fatalf("got %+v, %v; want a *ValidationError on replacement", got, err)
			}
			if tt.number != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.number)) {
				t.Errorf("error %q repeats the number; want it kept out of errors", err)
			}
		})
	}
}

// TestPatientPseudonymNamespaces: a replacement number is pseudonymised
// with its issuer, apart from CPR numbers.
func TestPatientPseudonymNamespaces(t *testing.T) {
	p, err := events.NewPseudonymizer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	national := events.Identity{Replacement: events.ReplacementCPR{Issuer: "urn:oid:1.2.208.176.1.6.1.1", Number: "0703921vj4"}}
	canonical := events.Identity{Replacement: events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.1", Number: "0703921VJ4"}}
	regional := events.Identity{Replacement: events.ReplacementCPR{Issuer: "1.2.208.176.1.6.1.3.177", Number: "0703921VJ4"}}
	cpr := events.Identity{CPR: "2509479989"}
	ref := func(id events.Identity) events.PatientRef {
		t.Helper()
		r, err := p.Patient(id)
		if err != nil {
			t.Fatalf("Patient: %v", err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("pseudonym %q: %v", r, err)
		}
		return r
	}
	if a, b := ref(national), ref(canonical); a != b {
		t.Errorf("the same number written two ways: got %s and %s; want one pseudonym", a, b)
	}
	if a, b := ref(national), ref(regional); a == b {
		t.Errorf("two issuers' equal numbers: got one pseudonym %s; want two", a)
	}
	if a, b := ref(cpr), ref(events.Identity{CPR: "250947-9989", Replacement: canonical.Replacement}); a != b {
		t.Errorf("CPR number and replacement: got %s, want the CPR number's %s", b, a)
	}
	if want, _ := p.Ref("2509479989"); ref(cpr) != want {
		t.Errorf("Patient of a CPR number = %s; want Ref's %s", ref(cpr), want)
	}
	if _, err := p.Patient(events.Identity{}); err == nil {
		t.Error("Patient of no identity: got no error")
	}
}

// TestIdentityJSON: identities sealed before replacement numbers existed
// read the same, and an identity without a replacement writes as before.
func TestIdentityJSON(t *testing.T) {
	var old events.Identity
	if err := json.Unmarshal([]byte(`{"cpr":"2509479989","name":"Bruno Test Elmer"}`), &old); err != nil {
		t.Fatal(err)
	}
	if old.CPR != "2509479989" || old.Name != "Bruno Test Elmer" || !old.Replacement.IsZero() || !old.Known() {
		t.Error("an identity as stored before replacement numbers reads differently")
	}
	b, _ := json.Marshal(old)
	if got, want := string(b), `{"cpr":"2509479989","name":"Bruno Test Elmer"}`; got != want {
		t.Errorf("got %s; want %s", got, want)
	}
	r := events.Identity{Replacement: events.ReplacementCPR{Issuer: events.ReplacementNational, Number: "0703921VJ4"}}
	b, _ = json.Marshal(r)
	var back events.Identity
	if err := json.Unmarshal(b, &back); err != nil || back != r || !back.Known() {
		t.Errorf("round trip of %s: got %v, %v", b, back.Replacement, err)
	}
	if (events.Identity{Name: "x"}).Known() {
		t.Error("a name alone: Known() = true")
	}
}
