package medcom

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// Organisations of the test messages that the test directory knows. The
// MedCom examples send to "Plejecenter Herlev" (SOR 953741000016009); the
// directory knows that SOR code, and the EAN, as Herlev Kommune's, the way
// an operator configures a municipality's MedCom addresses. The hospital
// department is configured with its cluster. Every other organisation of
// the examples is left unknown, so the goldens show both paths.
const testOrganisations = `{"organisations": [
	{"id": "sor:265161000016000", "kind": "hospital", "name": "Herlev og Gentofte Hospital, Hjerteafdelingen", "region": "Hovedstaden",
	 "clusters": ["midt-hovedstaden"], "ean": "5790000209354"},
	{"id": "kommune:0163", "kind": "municipality", "name": "Herlev", "region": "Hovedstaden",
	 "aliases": ["953741000016009"], "ean": "5790001348120"}
]}`

const (
	testCPR      = "2509479989"
	testHospital = events.OrgID("sor:265161000016000")
	testHerlev   = events.OrgID("kommune:0163")
	// Plejecenter Herlev, as an unconfigured directory names it.
	testCare = events.OrgID("sor:953741000016009")
)

// More test messages by what they are (notification_test.go names the
// first ones).
const (
	goldenRESTIN = "hospitalnotification/bfab3e80-9584-11ec-b909-0242ac120002.json"
	goldenANSTIN = "hospitalnotification/c83671a4-9584-11ec-b909-0242ac120002.json"
	goldenSLOR   = "hospitalnotification/e94de8ee-bd94-475e-b454-b8fbbef8a685.json"
	careReply    = "carecommunication/Bundle-R-B-reply-91b4b79a-520f-48cb-bb9a-9c3e27301968.xml"
	careNew      = "carecommunication/Bundle-S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2.json"
	ackFatal     = "acknowledgement/Ack_3.4.4_A_AE.json"
)

func testDirectory(t testing.TB) *events.Directory {
	t.Helper()
	dir, err := events.NewDirectory(strings.NewReader(testOrganisations))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func bareDirectory(t testing.TB) *events.Directory {
	t.Helper()
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// translateFiles lists every message under testdata that Translate is
// checked against: the MedCom examples, the derived RE_ and AN_
// notifications, and the acknowledgements Acknowledge writes.
func translateFiles(t testing.TB) []string {
	t.Helper()
	files := messageFiles(t)
	for _, dir := range []string{"derived", "ack"} {
		names, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			files = append(files, strings.TrimPrefix(filepath.ToSlash(n), "testdata/"))
		}
	}
	slices.Sort(files)
	return files
}

// TestTranslateGolden checks the Translation of every test message against
// testdata/golden/<file>.json; go test -run TestTranslateGolden -update
// rewrites them.
func TestTranslateGolden(t *testing.T) {
	tr := NewTranslator(testDirectory(t))
	for _, f := range translateFiles(t) {
		t.Run(f, func(t *testing.T) {
			got := renderTranslation(t, tr, readFile(t, f))
			golden := filepath.Join("testdata", "golden", f+".json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestTranslateGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("translation of %s differs from %s (go test -run TestTranslateGolden -update rewrites it):\n%s", f, golden, got)
			}
		})
	}
}

// renderTranslation translates raw and renders the outcome as stable JSON:
// the translation with each event under its type, or the error.
func renderTranslation(t testing.TB, tr *Translator, raw []byte) []byte {
	t.Helper()
	var g goldenTranslation
	out, err := tr.Translate(raw)
	if err != nil {
		var me *events.MessageError
		if !errors.As(err, &me) {
			t.Fatalf("Translate error %T %v is not an *events.MessageError", err, err)
		}
		g.Error = &goldenError{Code: me.Code, Field: me.Field, Reason: me.Reason, Rejected: me.Rejected}
	} else {
		checkTranslation(t, out)
		g = goldenTranslation{
			Patient: &goldenPatient{CPR: out.Patient.CPR, Name: out.Patient.Name, Replacement: out.Patient.Replacement}, Episode: out.Episode,
			Cluster: out.Cluster, Municipality: out.Municipality, GP: out.GP, Hospital: out.Hospital,
			Source:     &goldenSource{System: out.Source.System, Org: out.Source.Org, MessageID: out.Source.MessageID},
			Actor:      &goldenActor{Org: out.Actor.Org, Role: out.Actor.Role},
			OccurredAt: out.OccurredAt, Document: out.Document, Cancels: out.Cancels, Parties: out.Parties,
			MergeReason: out.MergeReason,
		}
		if m := out.MergedPatient; m != nil {
			g.Merged = &goldenPatient{CPR: m.CPR, Replacement: m.Replacement}
		}
		if out.Patient == (events.Identity{}) {
			g.Patient = nil
		}
		for _, p := range out.Payloads {
			g.Events = append(g.Events, goldenEvent{Type: p.Type(), Data: p})
		}
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

type goldenTranslation struct {
	Error        *goldenError   `json:"error,omitempty"`
	Patient      *goldenPatient `json:"patient,omitempty"`
	Episode      string         `json:"episode,omitempty"`
	Cluster      string         `json:"cluster,omitempty"`
	Municipality events.OrgID   `json:"municipality,omitempty"`
	GP           events.OrgID   `json:"gp,omitempty"`
	Hospital     events.OrgID   `json:"hospital,omitempty"`
	Source       *goldenSource  `json:"source,omitempty"`
	Actor        *goldenActor   `json:"actor,omitempty"`
	OccurredAt   time.Time      `json:"occurred_at,omitzero"`
	Document     string         `json:"document,omitempty"`
	Cancels      *events.Cancel `json:"cancels,omitempty"`
	Events       []goldenEvent  `json:"events,omitempty"`
	Parties      []events.Party `json:"parties,omitempty"`
	Merged       *goldenPatient `json:"merged_patient,omitempty"`
	MergeReason  string         `json:"merge_reason,omitempty"`
}

type goldenError struct {
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Reason   string `json:"reason"`
	Rejected bool   `json:"rejected"`
}

type goldenPatient struct {
	CPR         string                `json:"cpr,omitempty"`
	Name        string                `json:"name,omitempty"`
	Replacement events.ReplacementCPR `json:"replacement,omitzero"`
}

type goldenSource struct {
	System    string       `json:"system"`
	Org       events.OrgID `json:"org"`
	MessageID string       `json:"message_id"`
}

type goldenActor struct {
	Org  events.OrgID `json:"org"`
	Role string       `json:"role,omitempty"`
}

type goldenEvent struct {
	Type events.Type    `json:"type"`
	Data events.Payload `json:"data"`
}

// checkTranslation checks what the ingest relies on in every translation.
func checkTranslation(t testing.TB, tr *events.Translation) {
	t.Helper()
	if tr.Source.System != System || tr.Source.MessageID == "" || tr.Source.Org == "" {
		t.Fatalf("source %+v; want system %s, an organisation and a message id", tr.Source, System)
	}
	if tr.Actor.Org != tr.Source.Org {
		t.Fatalf("actor %s; want the sender %s", tr.Actor.Org, tr.Source.Org)
	}
	for _, id := range []events.OrgID{tr.Source.Org, tr.Municipality, tr.GP, tr.Hospital} {
		if id == "" {
			continue
		}
		if err := id.Validate(); err != nil {
			t.Fatalf("organisation %q: %v", id, err)
		}
	}
	if y := tr.OccurredAt.UTC().Year(); y < 1 || y > 9999 {
		t.Fatalf("occurred at %v; want a year the log can hold", tr.OccurredAt)
	}
	if len(tr.Payloads) == 0 {
		t.Fatal("no events")
	}
	for _, p := range tr.Payloads {
		if err := p.Validate(); err != nil {
			t.Fatalf("%s: %v", p.Type(), err)
		}
	}
	if c := tr.Cancels; c != nil && (c.SourceMessageID == "" || c.Reason == "") {
		t.Fatalf("cancel %+v; want the earlier message and a reason", c)
	}
	if _, ack := tr.Payloads[0].(*events.DocumentAcknowledged); !ack {
		var err error
		if tr.Patient.CPR != "" || tr.Patient.Replacement.IsZero() {
			_, err = events.NormalizeCPR(tr.Patient.CPR)
		} else {
			_, err = events.NormalizeReplacement(tr.Patient.Replacement.Issuer, tr.Patient.Replacement.Number)
		}
		if err != nil {
			t.Fatalf("patient: %v", err)
		}
	}
}

// translate runs Translate on raw and fails on an error.
func translate(t *testing.T, tr *Translator, raw []byte) *events.Translation {
	t.Helper()
	out, err := tr.Translate(raw)
	if err != nil {
		t.Fatalf("Translate: %v", err)
	}
	checkTranslation(t, out)
	return out
}

// TestTranslateNotifications checks the rules each code follows, beyond
// what the goldens pin.
func TestTranslateNotifications(t *testing.T) {
	tr := NewTranslator(testDirectory(t))
	tests := []struct {
		file    string
		want    []events.Payload // before the DocumentSent of the notification
		cancels *events.Cancel
	}{
		{goldenSTIN, []events.Payload{&events.PatientAdmitted{Hospital: testHospital, Class: events.Inpatient, Episode: "bd481c38-a921-11ed-afa1-0242ac120002", Notified: testHerlev, ReportRequested: true}}, nil},
		{goldenSTAA, []events.Payload{&events.PatientAdmitted{Hospital: testHospital, Class: events.AcuteAmbulant, Episode: "bd481c38-a921-11ed-afa1-0242ac120002", Notified: testHerlev, ReportRequested: true}}, nil},
		{goldenRESTIN, []events.Payload{&events.PatientAdmitted{Hospital: testHospital, Class: events.Inpatient, Episode: "bd481c38-a921-11ed-afa1-0242ac120002", Notified: testHerlev}},
			&events.Cancel{SourceMessageID: "b9b4818e-02de-4cc4-b418-d20cbc7b5404", Reason: "RE_STIN correction"}},
		{goldenANSTIN, nil, &events.Cancel{SourceMessageID: "b9b4818e-02de-4cc4-b418-d20cbc7b5404", Reason: "AN_STIN cancellation"}},
		{goldenSTOR, []events.Payload{&events.LeaveStarted{Hospital: testHospital}}, nil},
		{"derived/RE_STOR.json", []events.Payload{&events.LeaveStarted{Hospital: testHospital, Until: time.Date(2022, 12, 14, 18, 0, 0, 0, time.FixedZone("", 2*3600))}},
			&events.Cancel{SourceMessageID: "e563a2b2-bf92-4b13-bbd2-0a021a95bded", Reason: "RE_STOR correction"}},
		{goldenSLOR, []events.Payload{&events.LeaveEnded{Hospital: testHospital}}, nil},
		{goldenSLHJ, []events.Payload{&events.PatientDischarged{Hospital: testHospital, Destination: events.DestHomeWithServices, To: testHerlev}}, nil},
		{"derived/AN_SLHJ.json", nil, &events.Cancel{SourceMessageID: "g1affa53-c157-4080-abb0-8e681524f969", Reason: "AN_SLHJ cancellation"}},
		{goldenMORS, []events.Payload{&events.PatientDied{Place: testHospital}}, nil},
		// RE_MORS cannot be told from MORS (see NotificationCode).
		{"derived/RE_MORS.json", []events.Payload{&events.PatientDied{Place: testHospital}}, nil},
		{"derived/AN_MORS.json", nil, &events.Cancel{SourceMessageID: "hefc6d95-6161-4493-99c9-f359488dedb8", Reason: "AN_MORS cancellation"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readFile(t, tt.file)
			m, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			out := translate(t, tr, raw)
			doc := &events.DocumentSent{Document: m.HeaderID, Kind: events.HospitalNotice, From: testHospital, To: testHerlev}
			want := append(slices.Clone(tt.want), doc)
			if !reflect.DeepEqual(out.Payloads, want) {
				t.Errorf("events:\n got %s\nwant %s", show(out.Payloads), show(want))
			}
			if !reflect.DeepEqual(out.Cancels, tt.cancels) {
				t.Errorf("cancels %+v; want %+v", out.Cancels, tt.cancels)
			}
			if out.Document != m.HeaderID || out.Source.MessageID != m.HeaderID {
				t.Errorf("document %q, source message %q; want the MessageHeader.id %q", out.Document, out.Source.MessageID, m.HeaderID)
			}
			if out.Patient.CPR != testCPR || out.Hospital != testHospital || out.Municipality != testHerlev || out.Cluster != "midt-hovedstaden" {
				t.Errorf("patient known %v, hospital %s, municipality %s, cluster %s; want the test patient, %s, %s, midt-hovedstaden",
					out.Patient.CPR == testCPR, out.Hospital, out.Municipality, out.Cluster, testHospital, testHerlev)
			}
		})
	}
}

func show(ps []events.Payload) string {
	var b strings.Builder
	for _, p := range ps {
		j, _ := json.Marshal(p)
		b.WriteString(string(p.Type()) + string(j) + " ")
	}
	return b.String()
}

// TestTranslateOrganisations checks how senders, receivers and hospitals
// are named with and without the directory's help.
func TestTranslateOrganisations(t *testing.T) {
	hospitalReceiver := `{"organisations": [{"id": "sor:953741000016009", "kind": "hospital", "name": "A hospital", "region": "Hovedstaden"}]}`
	withHospital, err := events.NewDirectory(strings.NewReader(hospitalReceiver))
	if err != nil {
		t.Fatal(err)
	}
	eanOnly := func(b map[string]any) { // the receiver names itself by EAN alone
		for _, r := range resources(b) {
			if r["resourceType"] == "Organization" && r["name"] == "Plejecenter Herlev" {
				r["identifier"] = []any{map[string]any{"system": "urn:oid:1.3.88", "value": "5790001348120"}}
			}
		}
	}
	tests := []struct {
		name   string
		dir    *events.Directory
		change func(map[string]any)
		// notified is PatientAdmitted.Notified and PatientDischarged.To.
		notified, municipality events.OrgID
		dest                   events.Destination
		cluster                string
	}{
		{"configured municipality", testDirectory(t), nil, testHerlev, testHerlev, events.DestHomeWithServices, "midt-hovedstaden"},
		{"municipality by EAN", testDirectory(t), eanOnly, testHerlev, testHerlev, events.DestHomeWithServices, "midt-hovedstaden"},
		{"unknown receiver", bareDirectory(t), nil, testCare, "", events.DestHomeWithServices, ""},
		{"nil directory", nil, nil, testCare, "", events.DestHomeWithServices, ""},
		{"receiver known as a hospital", withHospital, nil, "", "", events.DestHome, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			message := func(name string) []byte {
				if tt.change == nil {
					return readFile(t, name)
				}
				return mutate(t, name, tt.change)
			}
			tr := NewTranslator(tt.dir)
			in := translate(t, tr, message(goldenSTIN))
			a := in.Payloads[0].(*events.PatientAdmitted)
			if a.Notified != tt.notified || in.Municipality != tt.municipality || in.Cluster != tt.cluster {
				t.Errorf("admission notified %q, municipality %q, cluster %q; want %q, %q, %q", a.Notified, in.Municipality, in.Cluster, tt.notified, tt.municipality, tt.cluster)
			}
			out := translate(t, tr, message(goldenSLHJ))
			d := out.Payloads[0].(*events.PatientDischarged)
			if d.Destination != tt.dest || d.To != tt.notified {
				t.Errorf("discharged %s to %q; want %s to %q", d.Destination, d.To, tt.dest, tt.notified)
			}
		})
	}

	t.Run("department of a hospital", func(t *testing.T) {
		const orgs = `{"organisations": [
			{"id": "sor:1000000000001", "kind": "hospital", "name": "Herlev og Gentofte Hospital", "region": "Hovedstaden", "clusters": ["midt-hovedstaden"]},
			{"id": "sor:265161000016000", "kind": "hospital", "name": "Hjerteafdelingen", "region": "Hovedstaden", "parent": "sor:1000000000001"}]}`
		dir, err := events.NewDirectory(strings.NewReader(orgs))
		if err != nil {
			t.Fatal(err)
		}
		tr := NewTranslator(dir)
		in := translate(t, tr, readFile(t, goldenSTIN))
		a := in.Payloads[0].(*events.PatientAdmitted)
		if a.Hospital != "sor:1000000000001" || a.Department != string(testHospital) || in.Hospital != a.Hospital || in.Cluster != "midt-hovedstaden" {
			t.Errorf("admitted at %s department %q (translation %s, cluster %q); want the department's hospital sor:1000000000001, department %s, midt-hovedstaden",
				a.Hospital, a.Department, in.Hospital, in.Cluster, testHospital)
		}
		if in.Actor.Org != testHospital {
			t.Errorf("actor %s; want the sending department %s", in.Actor.Org, testHospital)
		}
		out := translate(t, tr, readFile(t, goldenSLHJ))
		if d := out.Payloads[0].(*events.PatientDischarged); d.Hospital != a.Hospital {
			t.Errorf("discharged from %s; want %s, where the admission put the stay", d.Hospital, a.Hospital)
		}
	})

	t.Run("serviceProvider is the hospital", func(t *testing.T) {
		out := translate(t, NewTranslator(testDirectory(t)), readFile(t, "hospitalnotification/m908i967-9ie3-9023-b9ec-98108695f01d.json"))
		a := out.Payloads[0].(*events.PatientAdmitted)
		if want := events.SOR("399841000016000"); a.Hospital != want || out.Hospital != want || out.Actor.Org != testHospital {
			t.Errorf("admitted at %s (translation %s) by %s; want at %s by the sender %s", a.Hospital, out.Hospital, out.Actor.Org, want, testHospital)
		}
		if out.Cluster != "" {
			t.Errorf("cluster %q for an unknown hospital; want it left to the ingest", out.Cluster)
		}
	})
}

// TestTranslateMessageHistory checks what makes a message the same as, or
// an answer to, another.
func TestTranslateMessageHistory(t *testing.T) {
	tr := NewTranslator(testDirectory(t))

	t.Run("resend", func(t *testing.T) {
		first := translate(t, tr, readFile(t, goldenSTIN))
		resent := translate(t, tr, mutate(t, goldenSTIN, func(b map[string]any) {
			b["id"] = "0f5f0f3e-6e3c-4c55-9d6f-3c3a0f1d2e4b"
			b["timestamp"] = "2022-12-07T12:31:00+02:00"
		}))
		if !reflect.DeepEqual(first, resent) {
			t.Errorf("a resend (new Bundle.id, same MessageHeader.id) translates differently:\n%+v\n%+v", first, resent)
		}
	})

	t.Run("episode as urn:uuid", func(t *testing.T) {
		out := translate(t, tr, readFile(t, "hospitalnotification/m908i967-9ie3-9023-b9ec-98108695f01d.json"))
		if want := translate(t, tr, readFile(t, goldenSTIN)).Episode; out.Episode != want {
			t.Errorf("episode %q; want %q, the same stay id written bare", out.Episode, want)
		}
	})

	t.Run("local episode id", func(t *testing.T) {
		out := translate(t, tr, mutate(t, goldenSTIN, func(b map[string]any) {
			resourceOf(t, b, "Encounter")["episodeOfCare"].([]any)[0].(map[string]any)["identifier"].(map[string]any)["value"] = "4711"
		}))
		if want := "https://sor2.sum.dsdn.dk/#id=265161000016000|4711"; out.Episode != want {
			t.Errorf("episode %q; want %q, scoped by its issuer", out.Episode, want)
		}
	})

	t.Run("XML and JSON", func(t *testing.T) {
		j := translate(t, tr, readFile(t, "hospitalnotification/hn_touchstone_STIN_a5e5b880.json"))
		x := translate(t, tr, readFile(t, "hospitalnotification/hn_touchstone_STIN_a5e5b880.xml"))
		if !reflect.DeepEqual(j, x) {
			t.Errorf("the XML rendering translates differently:\n%+v\n%+v", j, x)
		}
	})

	t.Run("CareCommunication reply", func(t *testing.T) {
		out := translate(t, tr, readFile(t, careReply))
		d := out.Payloads[0].(*events.DocumentSent)
		if d.Kind != events.CareCommunication || d.InReplyTo != "0ebb6284-eb20-45eb-8113-6620d2d08608" || out.Cancels != nil {
			t.Errorf("reply is %s in reply to %q, cancels %v; want care-communication in reply to the earlier MessageHeader, no cancel", d.Kind, d.InReplyTo, out.Cancels)
		}
		if len(out.Payloads) != 1 {
			t.Errorf("%d events; a CareCommunication is a document and nothing more", len(out.Payloads))
		}
	})

	for _, tt := range []struct{ activity, reason string }{
		{"modified-message", "CareCommunication modified-message correction"},
		{"retract-message", "CareCommunication retract-message"},
	} {
		t.Run("CareCommunication "+tt.activity, func(t *testing.T) {
			raw := mutate(t, careNew, func(b map[string]any) {
				p := currentProvenance(t, b)
				p["activity"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = tt.activity
				p["entity"] = append(p["entity"].([]any), map[string]any{"role": "revision", "what": map[string]any{"reference": "MessageHeader/42cb9200-f421-4d08-8391-7d51a2503cb4"}})
			})
			out := translate(t, tr, raw)
			want := &events.Cancel{SourceMessageID: "42cb9200-f421-4d08-8391-7d51a2503cb4", Reason: tt.reason}
			if !reflect.DeepEqual(out.Cancels, want) || len(out.Payloads) != 1 {
				t.Errorf("cancels %+v with %d events; want %+v with the new DocumentSent", out.Cancels, len(out.Payloads), want)
			}
		})
	}

	t.Run("acknowledgement", func(t *testing.T) {
		out := translate(t, tr, readFile(t, ackFatal))
		want := &events.DocumentAcknowledged{Document: "53128d9b-cede-4c7f-8904-809eab322d7d", By: testHerlev, OK: false, Reason: "fatal-error: MSG_VALUESET_VALUE_UNKNOWN"}
		if len(out.Payloads) != 1 || !reflect.DeepEqual(out.Payloads[0], want) {
			t.Errorf("events %s; want %s", show(out.Payloads), show([]events.Payload{want}))
		}
		if out.Patient != (events.Identity{}) || out.Document != "" {
			t.Errorf("an acknowledgement names a patient or a document of its own")
		}
	})
}

// TestTranslateErrors checks that each kind of bad message gets a typed
// error naming the element, and that no error names the patient.
func TestTranslateErrors(t *testing.T) {
	setActivity := func(code string) func(b map[string]any) {
		return func(b map[string]any) {
			currentProvenance(t, b)["activity"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = code
		}
	}
	org := func(b map[string]any, name string) map[string]any {
		for _, r := range resources(b) {
			if r["resourceType"] == "Organization" && strings.HasPrefix(r["name"].(string), name) {
				return r
			}
		}
		t.Fatalf("no Organization %s", name)
		return nil
	}
	stin := readFile(t, goldenSTIN)
	tests := []struct {
		name     string
		dir      *events.Directory
		raw      []byte
		code     string
		field    string
		rejected bool
	}{
		{"not JSON or XML", nil, []byte("MSH|^~\\&|"), "not-medcom", "", true},
		{"empty", nil, nil, "not-medcom", "", true},
		{"a FHIR Patient", nil, []byte(`{"resourceType": "Patient", "id": "x"}`), "not-medcom", "", true},
		{"truncated", nil, stin[:len(stin)/2], "parse", "", true},
		{"not a message Bundle", nil, mutate(t, goldenSTIN, func(b map[string]any) { b["type"] = "collection" }), "parse", "Bundle.type", false},
		{"unknown message kind", nil, readFile(t, "hospitalnotification/hn_dkmedcom_2020_example.json"), "unknown-event", "Bundle.entry[0].resource.eventCoding", false},
		{"unknown activity", nil, mutate(t, goldenSTIN, setActivity("admit-outpatient")), "unknown-notification-code", "Bundle.entry[5].resource.activity", false},
		{"class does not fit the code", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			resourceOf(t, b, "Encounter")["class"].(map[string]any)["code"] = "EMER"
		}), "unknown-notification-code", "Bundle.entry[2].resource.class", false},
		{"no CPR", nil, mutate(t, goldenSTIN, func(b map[string]any) { delete(resourceOf(t, b, "Patient"), "identifier") }), "missing-field", "Bundle.entry[1].resource.identifier", false},
		{"HospitalNotification with a replacement CPR only", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			resourceOf(t, b, "Patient")["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.208.176.1.6.1.1", "value": "0703921VJ4"}}
		}), "missing-field", "Bundle.entry[1].resource.identifier", false},
		{"CareCommunication replacement number not one", nil, mutate(t, careNew, func(b map[string]any) {
			resourceOf(t, b, "Patient")["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.208.176.1.6.1.1", "value": testCPR}}
		}), "invalid-field", "Patient.identifier", false},
		{"CPR not a date", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			resourceOf(t, b, "Patient")["identifier"].([]any)[0].(map[string]any)["value"] = "3913479989"
		}), "invalid-field", "Patient.identifier", false},
		{"CareCommunication without a CPR or replacement number", nil, mutate(t, careNew, func(b map[string]any) {
			resourceOf(t, b, "Patient")["identifier"] = []any{map[string]any{"system": "urn:oid:1.2.208.176.1.6.1.2", "value": testCPR}}
		}), "missing-field", "Bundle.entry[1].resource.identifier", false},
		{"CareCommunication payload without text", nil, mutate(t, careNew, func(b map[string]any) {
			delete(resourceOf(t, b, "Communication")["payload"].([]any)[0].(map[string]any), "contentString")
		}), "missing-field", "Bundle.entry[2].resource.payload[0].content[x]", false},
		{"CareCommunication category unknown", nil, mutate(t, careNew, func(b map[string]any) {
			resourceOf(t, b, "Communication")["category"].([]any)[0].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"] = "gossip"
		}), "invalid-field", "Bundle.entry[2].resource.category.coding.code", false},
		{"correction names no earlier message", nil, mutate(t, goldenRESTIN, func(b map[string]any) { delete(currentProvenance(t, b), "entity") }), "missing-field", "Bundle.entry[5].resource.entity", false},
		{"CareCommunication retraction names no earlier message", nil, mutate(t, careNew, setActivity("retract-message")), "missing-field", "Bundle.entry[10].resource.entity", false},
		{"unknown CareCommunication activity", nil, mutate(t, careNew, setActivity("admit-inpatient")), "unknown-activity", "Bundle.entry[10].resource.activity", false},
		{"sender without identifiers", nil, mutate(t, goldenSTIN, func(b map[string]any) { delete(org(b, "Hjerteafdelingen"), "identifier") }), "missing-field", senderPath, false},
		{"receiver known by an unknown EAN only", bareDirectory(t), mutate(t, goldenSTIN, func(b map[string]any) {
			org(b, "Plejecenter")["identifier"] = []any{map[string]any{"system": "https://www.gs1.org/gln", "value": "5790001348120"}}
		}), "unknown-organisation", receiverPath, false},
		{"SOR code with letters", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			org(b, "Hjerteafdelingen")["identifier"].([]any)[1].(map[string]any)["value"] = "26516100001600X"
		}), "invalid-field", senderPath, false},
		{"year 0 in UTC", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			currentProvenance(t, b)["occurredDateTime"] = "0000-01-01T00:30:00+01:00"
		}), "invalid-field", "Bundle.entry[5].resource.occurredDateTime", false},
		{"episode id too long", nil, mutate(t, goldenSTIN, func(b map[string]any) {
			resourceOf(t, b, "Encounter")["episodeOfCare"].([]any)[0].(map[string]any)["identifier"].(map[string]any)["value"] = strings.Repeat("7", 300)
		}), "invalid-field", "Encounter.episodeOfCare.identifier.value", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := NewTranslator(tt.dir).Translate(tt.raw)
			if err == nil {
				t.Fatalf("Translate returned %+v; want an error", out)
			}
			var me *events.MessageError
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v; want *events.MessageError", err, err)
			}
			if me.Code != tt.code || me.Field != tt.field || me.Rejected != tt.rejected {
				t.Errorf("got %s at %q, rejected %v (%s); want %s at %q, rejected %v", me.Code, me.Field, me.Rejected, me.Reason, tt.code, tt.field, tt.rejected)
			}
			if me.Reason == "" {
				t.Error("no reason")
			}
			for _, secret := range []string{testCPR, "3913479989", "Elmer", "Bruno"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q names the patient", err)
				}
			}
		})
	}
}

// FuzzTranslate feeds Translate arbitrary input. It must not panic, must
// fail only with an *events.MessageError, and a translation it returns must
// hold what the ingest relies on, the same every time.
func FuzzTranslate(f *testing.F) {
	// The larger messages add no paths the small ones lack, and large
	// inputs slow the fuzzer down; testdata/fuzz/FuzzTranslate holds
	// compact copies of some.
	for _, name := range translateFiles(f) {
		if raw := readFile(f, name); len(raw) <= 10<<10 {
			f.Add(raw)
		}
	}
	tr := NewTranslator(testDirectory(f))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := tr.Translate(raw)
		if err != nil {
			var me *events.MessageError
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not an *events.MessageError", err, err)
			}
			if me.Code == "" || me.Reason == "" {
				t.Fatalf("error %+v without code or reason", me)
			}
			if me.Rejected && me.Code != "not-medcom" && me.Code != "parse" {
				t.Fatalf("rejected with %s: only unreadable input is rejected", me.Code)
			}
			if out != nil {
				t.Fatalf("a translation with error %v", err)
			}
			return
		}
		checkTranslation(t, out)
		again, err := tr.Translate(raw)
		if err != nil || !reflect.DeepEqual(out, again) {
			t.Fatalf("a second translation differs: %v", err)
		}
	})
}
