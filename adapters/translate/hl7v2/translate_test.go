package hl7v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// testTranslator resolves organisations with testdata/directory: fictitious
// SOR codes for Danish test hospitals, and aliases for the facility names
// of the public corpus messages.
func testTranslator(t testing.TB) *Translator {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "directory", "organisations.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir, err := events.NewDirectory(f)
	if err != nil {
		t.Fatal(err)
	}
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	return NewTranslator(dir, cph)
}

// translationFiles lists the messages with golden translations: the
// Danish ADT examples and the public corpus.
func translationFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"adt", "corpus"} {
		m, err := filepath.Glob(filepath.Join("testdata", dir, "*.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no test messages")
	}
	return files
}

// goldenTranslation is a Translation, or the error, as stable JSON.
type goldenTranslation struct {
	Error        *goldenError     `json:"error,omitempty"`
	Patient      *events.Identity `json:"patient,omitempty"`
	Episode      string           `json:"episode,omitempty"`
	Hospital     events.OrgID     `json:"hospital,omitempty"`
	Municipality events.OrgID     `json:"municipality,omitempty"`
	GP           events.OrgID     `json:"gp,omitempty"`
	Source       *goldenSource    `json:"source,omitempty"`
	Actor        events.OrgID     `json:"actor,omitempty"`
	OccurredAt   time.Time        `json:"occurred_at,omitzero"`
	Payloads     []goldenPayload  `json:"payloads,omitempty"`
	Cancels      *events.Cancel   `json:"cancels,omitempty"`
	Merged       *events.Identity `json:"merged_patient,omitempty"`
	MergeReason  string           `json:"merge_reason,omitempty"`
	Unlink       bool             `json:"unlink,omitempty"`
	Parties      []events.Party   `json:"parties,omitempty"`
	// Nothing marks a message that means nothing for a pathway.
	Nothing bool `json:"nothing_to_append,omitempty"`
}

type goldenError struct {
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Reason   string `json:"reason"`
	Rejected bool   `json:"rejected,omitempty"`
}

type goldenSource struct {
	System    string       `json:"system"`
	Org       events.OrgID `json:"org,omitempty"`
	MessageID string       `json:"message_id"`
}

type goldenPayload struct {
	Type events.Type    `json:"type"`
	Data events.Payload `json:"data"`
}

func toGolden(tr *events.Translation, err error) goldenTranslation {
	if err != nil {
		var me *events.MessageError
		if !errors.As(err, &me) {
			return goldenTranslation{Error: &goldenError{Code: "NOT A MessageError", Reason: err.Error()}}
		}
		return goldenTranslation{Error: &goldenError{Code: me.Code, Field: me.Field, Reason: me.Reason, Rejected: me.Rejected}}
	}
	g := goldenTranslation{
		Episode: tr.Episode, Hospital: tr.Hospital, Municipality: tr.Municipality, GP: tr.GP,
		Source: &goldenSource{System: tr.Source.System, Org: tr.Source.Org, MessageID: tr.Source.MessageID},
		Actor:  tr.Actor.Org, OccurredAt: tr.OccurredAt, Cancels: tr.Cancels, Merged: tr.MergedPatient, MergeReason: tr.MergeReason, Unlink: tr.Unlink, Parties: tr.Parties,
		Nothing: len(tr.Payloads) == 0 && tr.Cancels == nil && tr.MergedPatient == nil,
	}
	if tr.Patient != (events.Identity{}) {
		g.Patient = &tr.Patient
	}
	for _, p := range tr.Payloads {
		g.Payloads = append(g.Payloads, goldenPayload{Type: p.Type(), Data: p})
	}
	return g
}

// TestTranslateGolden translates every test message and compares the
// result with testdata/golden-events/<name>.json (go test -update rewrites
// them; review the diff by eye).
func TestTranslateGolden(t *testing.T) {
	tr := testTranslator(t)
	for _, file := range translationFiles(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".hl7")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Translate(body)
			checkTranslation(t, got, err)
			b, merr := json.MarshalIndent(toGolden(got, err), "", "  ")
			if merr != nil {
				t.Fatal(merr)
			}
			compareGolden(t, filepath.Join("testdata", "golden-events", name+".json"), append(b, '\n'))
		})
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", path, got, want)
	}
}

// checkTranslation checks what holds for every translation: errors are
// *events.MessageError, payloads validate, and a translation with
// something to append names the patient, hospital, time and source.
func checkTranslation(t *testing.T, tr *events.Translation, err error) {
	t.Helper()
	if err != nil {
		var me *events.MessageError
		if !errors.As(err, &me) {
			t.Fatalf("error %T %v; want *events.MessageError", err, err)
		}
		if me.Code == "" || me.Reason == "" {
			t.Fatalf("error %+v; want a code and a reason", me)
		}
		if tr != nil {
			t.Fatalf("got a translation with error %v", err)
		}
		return
	}
	if tr == nil {
		t.Fatal("nil translation without an error")
	}
	if tr.Source.System != System {
		t.Errorf("source system %q; want %q", tr.Source.System, System)
	}
	for i, p := range tr.Payloads {
		if err := p.Validate(); err != nil {
			t.Errorf("payload %d (%s) does not validate: %v", i, p.Type(), err)
		}
	}
	if len(tr.Payloads) == 0 && tr.Cancels == nil && tr.MergedPatient == nil {
		if tr.Patient.Known() {
			t.Error("a translation with nothing to append names a patient; the ingest would open a pathway for it")
		}
		return
	}
	if err := validPatient(tr.Patient); err != nil {
		t.Errorf("patient does not validate: %v", err)
	}
	if err := tr.Hospital.Validate(); err != nil || tr.Hospital.Scheme() != events.SchemeSOR {
		t.Errorf("hospital %q; want a SOR id", tr.Hospital)
	}
	if tr.OccurredAt.IsZero() || tr.Source.Org != tr.Hospital || tr.Actor.Org != tr.Hospital || tr.Source.MessageID == "" {
		t.Errorf("occurred %v, source %+v, actor %+v; want a time, and the hospital as source and actor", tr.OccurredAt, tr.Source, tr.Actor)
	}
}

// TestTranslateDetails checks single decisions by name, so a wrong golden
// file cannot hide them.
func TestTranslateDetails(t *testing.T) {
	tr := testTranslator(t)
	auh, randers, aabenraa := events.SOR("100011000016001"), events.SOR("100041000016004"), events.SOR("100051000016005")
	tests := []struct {
		file  string
		check func(t *testing.T, got *events.Translation, err error)
	}{
		{"a01_acute_latin1", func(t *testing.T, got *events.Translation, err error) {
			a := only[*events.PatientAdmitted](t, got, err)
			if a.Hospital != auh || a.Department != "AKUT" || a.Class != events.AcuteAmbulant {
				t.Errorf("got %+v; want acute-ambulant at %s (the department's hospital), department AKUT", a, auh)
			}
			if got.Patient.Name != "Bodil Ærø Nielsen" || got.Municipality != events.Kommune("0580") {
				t.Errorf("got name %q, municipality %s; want Bodil Ærø Nielsen, kommune:0580", got.Patient.Name, got.Municipality)
			}
		}},
		{"a01_servicing_facility_latin1", func(t *testing.T, got *events.Translation, err error) {
			a := only[*events.PatientAdmitted](t, got, err)
			if a.Hospital != aabenraa || got.Episode != string(aabenraa)+"/77001" {
				t.Errorf("got hospital %s, episode %q; want %s from the alias with æøå in PV1-39, episode qualified by it", a.Hospital, got.Episode, aabenraa)
			}
		}},
		{"a04_emergency_uuid_episode", func(t *testing.T, got *events.Translation, err error) {
			only[*events.PatientAdmitted](t, got, err)
			if got.Episode != "5f0c6a1e-3b1d-4c7a-9a63-2f1d8e4b7c10" {
				t.Errorf("episode %q; want the UUID unqualified", got.Episode)
			}
		}},
		{"a01_inpatient", func(t *testing.T, got *events.Translation, err error) {
			if only[*events.PatientAdmitted](t, got, err).Class != events.Inpatient || got.GP != "yder:012345" {
				t.Errorf("got %+v; want inpatient with GP yder:012345", got)
			}
			want := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC) // EVN-6 08:00 in Copenhagen
			if !got.OccurredAt.Equal(want) {
				t.Errorf("occurred %v; want %v (EVN-6)", got.OccurredAt, want)
			}
		}},
		{"a02_other_hospital_crlf", func(t *testing.T, got *events.Translation, err error) {
			if tp := only[*events.PatientTransferred](t, got, err); tp.From != auh || tp.To != randers {
				t.Errorf("got %+v; want %s → %s", tp, auh, randers)
			}
		}},
		{"a03_home_services", func(t *testing.T, got *events.Translation, err error) {
			if d := only[*events.PatientDischarged](t, got, err); d.Destination != events.DestHomeWithServices || d.To != events.Kommune("0751") {
				t.Errorf("got %+v; want home with services to kommune:0751", d)
			}
		}},
		{"a03_death", func(t *testing.T, got *events.Translation, err error) {
			if d := only[*events.PatientDied](t, got, err); d.Place != auh {
				t.Errorf("got %+v; want the death at %s, and no discharge (as MedCom's MORS)", d, auh)
			}
		}},
		{"a04_outpatient", nothing},
		{"a05_preadmit", nothing},
		{"a08_demographics", nothing},
		{"a11_cancel_outpatient", nothing},
		{"a14_pending_admit", nothing},
		{"a15_pending_transfer", nothing},
		{"a13_cancel_discharge", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.Cancels == nil || got.Cancels.Type != events.TypePatientDischarged || len(got.Payloads) != 0 {
				t.Errorf("got %+v, %v; want a cancel of the latest PatientDischarged", got, err)
			}
		}},
		{"a40_merge", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.Patient.CPR != "2509479989" || got.MergedPatient == nil || got.MergedPatient.CPR != "0102030405" {
				t.Errorf("got %+v, %v; want 0102030405 merged into 2509479989", got, err)
			}
		}},
		{"a01_replacement_national", func(t *testing.T, got *events.Translation, err error) {
			only[*events.PatientAdmitted](t, got, err)
			if r := got.Patient.Replacement; got.Patient.CPR != "" || r.Issuer != events.ReplacementNational || r.Number != "0703921VJ4" {
				t.Errorf("got patient %+v; want the national replacement number of PID-3 (its MR is not a patient id)", got.Patient)
			}
		}},
		{"a01_replacement_regional", func(t *testing.T, got *events.Translation, err error) {
			only[*events.PatientAdmitted](t, got, err)
			if r := got.Patient.Replacement; r.Issuer != "1.2.208.176.1.6.1.3.183" {
				t.Errorf("issuer %q; want the region's OID from CX-4.2 before the namespace D-ECPR", r.Issuer)
			}
		}},
		{"a01_replacement_namespace", func(t *testing.T, got *events.Translation, err error) {
			only[*events.PatientAdmitted](t, got, err)
			if r := got.Patient.Replacement; r.Issuer != events.ReplacementNational {
				t.Errorf("issuer %q; want the national service for the namespace X-ECPR", r.Issuer)
			}
		}},
		{"a47_replacement_to_cpr", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.Patient.CPR != "2509479989" || got.MergedPatient == nil || got.MergedPatient.Replacement.Number != "0703921VJ4" || len(got.Payloads) != 0 {
				t.Errorf("got %+v, %v; want the replacement number of MRG-1 joined to the CPR number of PID-3", got, err)
			}
		}},
		{"a40_replacement_in_mrg", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.MergedPatient == nil || got.MergedPatient.Replacement.Issuer != "1.2.208.176.1.6.1.3.183" {
				t.Errorf("got %+v, %v; want the regional replacement number of MRG-1 merged", got, err)
			}
		}},
		{"a24_link_replacement", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.Patient.CPR != "2509479989" || got.MergedPatient == nil || got.MergedPatient.Replacement.Number != "0703921VJ4" || got.Unlink {
				t.Errorf("got %+v, %v; want the second PID's replacement number linked to the first's CPR number", got, err)
			}
		}},
		{"a37_unlink_replacement", func(t *testing.T, got *events.Translation, err error) {
			if err != nil || got.MergedPatient == nil || !got.Unlink || got.MergeReason != "HL7 A37 unlink patient information" {
				t.Errorf("got %+v, %v; want an unlink of the two PIDs", got, err)
			}
		}},
		{"a47_local_record_only", nothing},
		{"a41_merge_account", nothing},
		{"a23_delete_visit", nothing},
		{"a31_update_person", nothing},
		{"a45_move_visit", wantError("unsupported-trigger", "MSH-9")},
		{"err_bad_replacement", wantError("bad-patient-id", "PID-3(1).1")},
		{"err_a40_same_patient", wantError("same-patient", "MRG-1")},
		{"err_a47_no_mrg_patient_in_pid", wantError("missing-patient-id", "PID-3")},
		{"ms_ADT-A47-01", nothing}, // local record numbers only
		{"ms_ADT-A41-01", nothing},
		{"err_unknown_trigger", wantError("unknown-trigger", "MSH-9")},
		{"err_unknown_organisation", wantError("unknown-organisation", "PV1-3.4")},
		{"err_not_a_hospital", wantError("not-a-hospital", "MSH-4")},
		{"err_missing_cpr", wantError("missing-patient-id", "PID-3")},
		{"err_bad_cpr", wantError("bad-patient-id", "PID-3(2).1")},
		{"err_unparsable", wantError("parse", "MSH-18")},
		{"ms_ADT01-28", wantError("missing-patient-id", "PID-3")},
		{"ms_ADT-A01-01", nothing}, // PV1-2 P: a pre-admission
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := "adt"
			if strings.HasPrefix(tt.file, "ms_") {
				dir = "corpus"
			}
			body, err := os.ReadFile(filepath.Join("testdata", dir, tt.file+".hl7"))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tr.Translate(body)
			tt.check(t, got, err)
		})
	}
}

// only returns the single payload of a translation, of type P.
func only[P events.Payload](t *testing.T, got *events.Translation, err error) P {
	t.Helper()
	var zero P
	if err != nil {
		t.Fatalf("got error %v; want one %T", err, zero)
	}
	if len(got.Payloads) != 1 {
		t.Fatalf("got %d payloads; want one %T", len(got.Payloads), zero)
	}
	p, ok := got.Payloads[0].(P)
	if !ok {
		t.Fatalf("got %T; want %T", got.Payloads[0], zero)
	}
	return p
}

func nothing(t *testing.T, got *events.Translation, err error) {
	t.Helper()
	if err != nil || len(got.Payloads) != 0 || got.Cancels != nil || got.MergedPatient != nil || got.Patient.CPR != "" {
		t.Errorf("got %+v, %v; want a translation with nothing to append and no patient", got, err)
	}
}

func wantError(code, field string) func(t *testing.T, got *events.Translation, err error) {
	return func(t *testing.T, got *events.Translation, err error) {
		t.Helper()
		var me *events.MessageError
		if !errors.As(err, &me) || me.Code != code || me.Field != field {
			t.Errorf("got %v; want %s at %s", err, code, field)
		}
		if got != nil {
			t.Errorf("got a translation with the error")
		}
	}
}

// TestTranslateNilLocation reads times without an offset in Copenhagen.
func TestTranslateNilLocation(t *testing.T) {
	if _, err := time.LoadLocation("Europe/Copenhagen"); err != nil {
		t.Skip("no time zone database")
	}
	body, err := os.ReadFile(filepath.Join("testdata", "adt", "a01_inpatient.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewTranslator(testTranslator(t).dir, nil).Translate(body)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC); !got.OccurredAt.Equal(want) {
		t.Errorf("occurred %v; want %v", got.OccurredAt, want)
	}
}

// FuzzTranslate checks that Translate never panics, fails only with
// *events.MessageError, and that what it translates validates.
func FuzzTranslate(f *testing.F) {
	for _, file := range translationFiles(f) {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	tr := testTranslator(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := tr.Translate(body)
		checkTranslation(t, got, err)
	})
}

func BenchmarkTranslate(b *testing.B) {
	tr := testTranslator(b)
	body, err := os.ReadFile(filepath.Join("testdata", "adt", "a03_home_services.hl7"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Translate(body); err != nil {
			b.Fatal(err)
		}
	}
}

// validPatient checks that an identity names a patient by a valid CPR
// number or replacement number.
func validPatient(id events.Identity) error {
	if id.CPR != "" || id.Replacement.IsZero() {
		_, err := events.NormalizeCPR(id.CPR)
		return err
	}
	_, err := events.NormalizeReplacement(id.Replacement.Issuer, id.Replacement.Number)
	return err
}
