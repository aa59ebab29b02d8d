package events_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

func TestQuarantineReason(t *testing.T) {
	c := events.NewCodec()
	good := string(mustEncode(t, c, &examples(t)[1].env))
	tests := []struct {
		name string
		data string
		want events.QuarantineReason
	}{
		{"not JSON", "not an event", events.QuarantineUndecodable},
		{"JSON but no envelope", `{"garbage":true}`, events.QuarantineUndecodable},
		{"empty array", `[]`, events.QuarantineInvalid},
		{"unknown type", strings.Replace(good, `"PatientAdmitted"`, `"PatientTeleported"`, 1), events.QuarantineUnknownType},
		{"future schema", strings.Replace(good, `"schema":1`, `"schema":7`, 1), events.QuarantineUnknownType},
		{"stand-in type stored", strings.Replace(good, `"PatientAdmitted"`, `"Quarantined"`, 1), events.QuarantineUnknownType},
		{"invalid field", strings.Replace(good, `"class":"inpatient"`, `"class":"teleport"`, 1), events.QuarantineInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := c.DecodeCommit([]byte(tt.data))
			if err == nil {
				for i := range evs {
					if err = evs[i].Validate(); err != nil {
						break
					}
				}
			}
			if err == nil {
				t.Fatalf("%s: read without error; want one", tt.data)
			}
			q := events.Quarantine(42, "stafet.ev.aarhus.x", []byte(tt.data), err)
			if q.Reason != tt.want {
				t.Errorf("reason of %v: got %s; want %s", err, q.Reason, tt.want)
			}
			if q.Hash != events.Hash([]byte(tt.data)) || !strings.HasPrefix(q.Hash, "sha256:") || len(q.Hash) != 71 {
				t.Errorf("got hash %q; want sha256: and 64 hex digits of the bytes", q.Hash)
			}
			if q.Seq != 42 || q.Subject != "stafet.ev.aarhus.x" {
				t.Errorf("got seq %d subject %q; want 42 and the subject", q.Seq, q.Subject)
			}
		})
	}
}

func TestSafeDetail(t *testing.T) {
	tests := []struct {
		name, err, want string
	}{
		{"quoted name", `events: data.name: unknown value "Bruno Test Elmer"`, `events: data.name: unknown value "…"`},
		{"CPR as a number", `json: cannot unmarshal number 2509479989 into Go struct field`, `json: cannot unmarshal number … into Go struct field`},
		{"CPR with dash", `bad patient 250947-9989`, `bad patient …`},
		{"single quote character stays", `invalid character 'o' in literal null`, `invalid character 'o' in literal null`},
		{"short numbers stay", `schema 7, this build knows up to 1`, `schema 7, this build knows up to 1`},
		{"ids stay", `pathway 01957f2a-6c00-7000-8000-000000000001 at seq 135`, `pathway 01957f2a-6c00-7000-8000-000000000001 at seq 135`},
		{"quoted expectation stays", `invalid character 'o' in literal null (expecting 'u')`, `invalid character 'o' in literal null (expecting 'u')`},
		{"number at the end", `patient 2509479989`, `patient …`},
		{"a quoted word", `unknown 'Teleported' here`, `unknown "…" here`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := events.SafeDetail(errString(tt.err)); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
	if got := events.SafeDetail(errString(strings.Repeat("x", 1000))); len(got) > 310 {
		t.Errorf("got %d bytes; want it cut near 300", len(got))
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestFoldSkipsAnnulledFromQuarantine(t *testing.T) {
	h := given(t, opened(), admitted(auh), discharged(auh))
	if p := events.Fold(h); p.Admitted() {
		t.Fatal("discharged patient is admitted before the annulment")
	}
	annul := events.Envelope{
		ID: events.NewID(), Pathway: h[0].Pathway, Type: events.TypeQuarantineResolved, OccurredAt: t0, Seq: 99,
		Payload: &events.QuarantineResolved{Seq: h[2].Seq, Hash: events.Hash(nil), Decision: events.Annul, Reason: "forged"},
	}
	stand := (&events.Quarantined{Seq: 98, Reason: events.QuarantineUndecodable}).Envelope(h[0].Pathway, t0)
	h = append(h, stand, annul)
	p := events.Fold(h)
	if !p.Admitted() {
		t.Error("got the patient discharged; want the annulled discharge skipped")
	}
	a := events.AnnulmentsOf(h)
	for i, want := range []bool{true, true, false, false, false} {
		if got := a.Folded(&h[i]); got != want {
			t.Errorf("Folded(%s): got %v; want %v", h[i].Type, got, want)
		}
	}
	// The same state comes of applying the decision to a folded state.
	q := events.Fold(h[:4])
	q.Apply(&h[4])
	if !q.Admitted() {
		t.Error("Apply of the annulment: got the patient discharged; want the discharge skipped")
	}
	if stand.ID != (&events.Quarantined{Seq: 98, Reason: events.QuarantineInvalid}).Envelope(uuid.Nil, t0).ID {
		t.Error("stand-in ids differ for the same message; want the id to depend on its position and bytes only")
	}
}
