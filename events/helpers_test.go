package events_test

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// update rewrites the generated files under testdata/ (examples and fuzz
// seeds) instead of comparing against them.
var update = flag.Bool("update", false, "rewrite testdata/examples and the generated fuzz seeds")

// Organisations used throughout the tests. The SOR codes are examples in
// the register's shape, not looked-up units; the municipality codes are
// Danmarks Statistik's.
var (
	auh      = events.SOR("6620000000001")   // a hospital in Aarhus
	randers  = events.SOR("6620000000002")   // another hospital
	aarhus   = events.Kommune("0751")        // Aarhus Kommune
	randersK = events.Kommune("0730")        // Randers Kommune
	gp       = events.OrgID("yder:012345")   // a general practice
	gpSOR    = events.SOR("481591000016000") // the same kind of practice by SOR
	region   = events.OrgID("region:1082")   // Region Midtjylland
	badOrg   = events.OrgID("kommune:751")   // malformed: 3 digits
	t0       = time.Date(2025, 3, 10, 8, 15, 0, 0, time.UTC)
	pathway1 = uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa01")
)

// testCPR is MedCom's test patient (2509479989, "Bruno Test Elmer").
const (
	testCPR  = "2509479989"
	testName = "Bruno Test Elmer"
)

// testSecret is a 32-byte deployment secret for tests only.
var testSecret = []byte("stafet-test-secret-0123456789abc")

// testKey is a fixed patient key for tests only.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// mustRef returns the pseudonym of a valid test CPR number.
func mustRef(cpr string) events.PatientRef {
	ps, err := events.NewPseudonymizer(testSecret)
	if err != nil {
		panic(err)
	}
	ref, err := ps.Ref(cpr)
	if err != nil {
		panic(err)
	}
	return ref
}

// patient is the pseudonym of the test patient; other and third are more.
var (
	patient = mustRef(testCPR)
	other   = mustRef("0102030405")
	third   = mustRef("2311143995")
)

// sealFixed seals id like events.Seal but with a fixed nonce, so generated
// examples are stable. Never do this outside tests: a GCM nonce must not
// repeat under one key.
func sealFixed(t testing.TB, key []byte, p events.PatientRef, id events.Identity) *events.SealedIdentity {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("stafet-nonce")[:gcm.NonceSize()]
	return &events.SealedIdentity{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, plain, []byte(p))}
}

// example is one realistic envelope per event type, as a translator or the
// API would produce it. The same examples feed the codec round trip, the
// fuzz seeds, the benchmark mix and docs/events.md.
type example struct {
	env events.Envelope
	// from names the message that produces the event, for the docs.
	from string
}

func exampleID(n int) uuid.UUID {
	id := uuid.MustParse("01957f2a-6c00-7000-8000-000000000000")
	id[14], id[15] = byte(n>>8), byte(n)
	return id
}

// examples returns one envelope per type in events.Types() order.
func examples(t testing.TB) []example {
	t.Helper()
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	env := func(n int, system string, src events.OrgID, msg string, actor events.Actor, p events.Payload) events.Envelope {
		return events.Envelope{
			ID: exampleID(n), Pathway: pathway1, Type: p.Type(), Schema: 1,
			OccurredAt: at(n * 10), RecordedAt: at(n * 10).Add(1234 * time.Millisecond),
			Source:      events.Source{System: system, Org: src, MessageID: msg},
			Actor:       actor,
			Correlation: msg,
			Payload:     p,
		}
	}
	hosp := events.Actor{Org: auh}
	kom := events.Actor{Org: aarhus, Role: "visitator"}
	derived := func(n int, p events.Payload, cause string) events.Envelope {
		e := env(n, "stafet", "", "", events.Actor{}, p)
		e.Correlation, e.Causation = "", cause
		return e
	}
	sealed := sealFixed(t, testKey, patient, events.Identity{CPR: testCPR, Name: testName})
	xs := []example{
		{env(1, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000001", hosp, &events.PathwayOpened{
			Patient: patient, Identity: sealed, Cluster: "aarhus", Municipality: aarhus, GP: gp, Episode: "LPR3-4711",
		}), "the first message about a patient in a cluster (STIN/STAA, HL7 A01/A04/A05)"},
		{env(2, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000001", hosp, &events.PatientAdmitted{
			Hospital: auh, Department: "Akutafdelingen", Class: events.Inpatient, Episode: "LPR3-4711",
			Notified: aarhus, ReportRequested: true,
		}), "MedCom STIN/STAA; HL7 A01, A04, A05"},
		{env(3, "hl7v2", randers, "MSG00003", events.Actor{Org: randers}, &events.PatientTransferred{
			From: auh, To: randers, Department: "Medicinsk afdeling",
		}), "HL7 A02; a STIN from another hospital while admitted"},
		{env(4, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000004", hosp, &events.LeaveStarted{
			Hospital: auh, Until: at(4*10 + 48*60),
		}), "MedCom STOR; HL7 A21"},
		{env(5, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000005", hosp, &events.LeaveEnded{
			Hospital: auh,
		}), "MedCom SLOR; HL7 A22"},
		{env(6, "hl7v2", auh, "MSG00006", hosp, &events.DischargeExpected{
			Hospital: auh, Expected: time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC),
		}), "HL7 A16 (PV2-9)"},
		{env(7, "api", auh, "idem-7f3a", events.Actor{Org: auh, Role: "læge"}, &events.ReadyForDischarge{
			Hospital: auh, Municipality: aarhus,
		}), "XDIS19 (melding om færdigbehandling); the API"},
		{env(8, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000008", hosp, &events.PatientDischarged{
			Hospital: auh, Destination: events.DestHomeWithServices, To: aarhus,
		}), "MedCom SLHJ; HL7 A03"},
		{env(9, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000009", hosp, &events.PatientDied{
			Place: auh,
		}), "MedCom MORS; HL7 A03 with PID-30 = Y"},
		{env(10, "api", auh, "idem-offer-1", hosp, &events.HandoffOffered{
			Offer: "offer-1", From: auh, To: aarhus, What: events.HomeCare,
			Deadline: at(10*10 + 4*60), Policy: "discharge-with-municipal-services",
		}), "the API; a handoff policy (Stafet)"},
		{env(11, "api", aarhus, "idem-accept-1", kom, &events.HandoffAccepted{
			Offer: "offer-1", By: aarhus,
		}), "the API"},
		{env(12, "api", aarhus, "idem-reject-1", kom, &events.HandoffRejected{
			Offer: "offer-1", By: aarhus, Reason: "borgeren er ikke visiteret til hjemmepleje",
		}), "the API"},
		{env(13, "api", auh, "idem-withdraw-1", hosp, &events.HandoffWithdrawn{
			Offer: "offer-1", By: auh, Reason: "udskrivelse udskudt",
		}), "the API"},
		{env(14, "api", aarhus, "idem-release-1", kom, &events.ResponsibilityReleased{
			By: aarhus, What: events.HomeCare,
		}), "the API"},
		{env(15, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000015", hosp, &events.DocumentRequested{
			Document: "adm-report-1", Kind: events.AdmissionReport, From: auh, To: aarhus,
			Deadline: at(15*10 + 24*60),
		}), "MedCom STIN with reportOfAdmissionFlag"},
		{env(16, "medcom", aarhus, "c0ffee00-0000-4000-8000-000000000016", kom, &events.DocumentSent{
			Document: "c0ffee00-0000-4000-8000-000000000016", Kind: events.CareCommunication, From: aarhus, To: auh,
			InReplyTo: "adm-report-1",
		}), "MedCom CareCommunication; OIOXML XDIS16–XDIS21, DIS01"},
		{env(17, "medcom", auh, "ack-0000-0000-0000-000000000017", hosp, &events.DocumentAcknowledged{
			Document: "c0ffee00-0000-4000-8000-000000000016", By: auh, OK: true,
		}), "MedCom Acknowledgement"},
		{env(18, "api", aarhus, "idem-service-1", kom, &events.ServiceStarted{
			By: aarhus, What: events.Rehabilitation,
		}), "the API"},
		{derived(19, &events.DeadlineElapsed{
			Ref: "offer-1", Rule: "handoff-accept", Deadline: at(10*10 + 4*60),
		}, exampleID(10).String()), "Stafet's deadline service"},
		{env(20, "api", auh, "idem-close-1", hosp, &events.PathwayClosed{
			Reason: "forløb afsluttet",
		}), "the API; Stafet after a discharge with no open handoffs"},
		{env(21, "hl7v2", auh, "MSG00021", hosp, &events.PatientIdentityMerged{
			Survivor: patient, Merged: other, MergedPathway: uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa02"),
		}), "HL7 A40"},
		{env(22, "medcom", auh, "a1b2c3d4-0001-4f00-9000-000000000022", hosp, &events.Correction{
			Annuls: exampleID(8), Reason: "AN_SLHJ: udskrivelse annulleret",
		}), "MedCom AN_ and RE_ variants; HL7 A11, A12, A13"},
		{env(23, "stafet", "", "quarantine/4711", events.Actor{}, &events.QuarantineResolved{
			Seq: 4711, Hash: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Decision: events.Annul, Reason: "a test message published by hand on the production NATS",
		}), "the operator's `stafet quarantine resolve`"},
		{env(24, "hl7v2", auh, "MSG00024", hosp, &events.PatientIdentityLinked{
			Patient: patient, Other: other, Joined: uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa02"),
			Reason: "HL7 A47 change patient identifier list",
		}), "HL7 A47, A46, A40 and the older merges (a replacement CPR number that gets its CPR number), on each pathway of the two"},
	}
	if len(xs) != len(events.Types()) {
		t.Fatalf("examples: got %d; want one per type (%d)", len(xs), len(events.Types()))
	}
	for i, typ := range events.Types() {
		if xs[i].env.Type != typ {
			t.Fatalf("examples[%d]: got %s; want %s", i, xs[i].env.Type, typ)
		}
	}
	return xs
}

// equalEnvelope compares envelopes field by field, times by instant, so an
// envelope decoded from "+02:00" equals its re-encoded UTC form.
func equalEnvelope(a, b events.Envelope) bool {
	return deepEqual(reflect.ValueOf(a), reflect.ValueOf(b))
}

var timeType = reflect.TypeFor[time.Time]()

func deepEqual(a, b reflect.Value) bool {
	if a.Type() != b.Type() {
		return false
	}
	if a.Type() == timeType {
		return a.Interface().(time.Time).Equal(b.Interface().(time.Time))
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return deepEqual(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !deepEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !deepEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	}
	panic("deepEqual: unhandled kind " + a.Kind().String())
}
