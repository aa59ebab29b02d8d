package medcom

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

var ackTime = time.Date(2024, 12, 5, 11, 9, 20, 0, time.FixedZone("", 3600))

// counter returns a newID that yields UUID-shaped ids 1, 2, 3, ….
func counter() func() string {
	n := 0
	return func() string {
		n++
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
	}
}

// TestAcknowledgeRoundTrip acknowledges every non-acknowledgement message
// under testdata with each response code and reads the result back.
func TestAcknowledgeRoundTrip(t *testing.T) {
	for _, f := range validFiles(t) {
		m := mustParse(t, readFile(t, f))
		if m.Kind == KindAcknowledgement {
			continue
		}
		for _, code := range []string{"ok", "transient-error", "fatal-error"} {
			t.Run(f+"/"+code, func(t *testing.T) {
				reason := ""
				if code != "ok" {
					reason = "MSG_Mailbox_Out_Of_Operation: the mailbox is closed"
				}
				raw, err := Acknowledge(m, code, reason, ackTime, counter())
				if err != nil {
					t.Fatalf("Acknowledge: %v", err)
				}
				a := mustParse(t, raw)
				if a.Kind != KindAcknowledgement || a.BundleID != "00000000-0000-4000-8000-000000000001" || a.HeaderID != "00000000-0000-4000-8000-000000000002" {
					t.Errorf("Kind, BundleID, HeaderID = %s, %s, %s", a.Kind, a.BundleID, a.HeaderID)
				}
				if !a.Timestamp.Equal(ackTime) {
					t.Errorf("Timestamp = %v; want %v", a.Timestamp, ackTime)
				}
				if a.Sender != m.Receiver.Organization {
					t.Errorf("Sender = %+v; want the message's receiver %+v", a.Sender, m.Receiver.Organization)
				}
				if a.Receiver.Organization != m.Sender && a.Receiver.ID == m.Sender.ID {
					t.Errorf("Receiver = %+v; want the message's sender %+v", a.Receiver.Organization, m.Sender)
				}
				if a.Receiver.SOR != m.Sender.SOR || a.Receiver.EAN != m.Sender.EAN {
					t.Errorf("Receiver = %+v; want the message's sender %+v", a.Receiver.Organization, m.Sender)
				}
				if a.Receiver.Endpoint != m.SourceEndpoint || a.SourceEndpoint != m.Receiver.Endpoint {
					t.Errorf("endpoints = %q -> %q; want %q -> %q", a.SourceEndpoint, a.Receiver.Endpoint, m.Receiver.Endpoint, m.SourceEndpoint)
				}
				want := &Acknowledgement{ResponseTo: m.HeaderID, Code: code}
				if code != "ok" {
					issue := "processing"
					if code == "transient-error" {
						issue = "transient"
					}
					want.Issues = []Issue{{Severity: "error", Code: issue, Text: reason}}
				}
				if !reflect.DeepEqual(a.Acknowledgement, want) {
					t.Errorf("Acknowledgement = %+v; want %+v", a.Acknowledgement, want)
				}
				cur := a.CurrentProvenance()
				if cur == nil || cur.Activity != "acknowledgement" || cur.Role != "revision" || cur.Previous != m.HeaderID || !cur.Occurred.Equal(ackTime) {
					t.Errorf("CurrentProvenance() = %+v; want acknowledgement revising %s", cur, m.HeaderID)
				}
				if len(a.Provenances) != 1 {
					t.Errorf("%d Provenances; want 1", len(a.Provenances))
				}
			})
		}
	}
}

// TestAcknowledgeGolden keeps two acknowledgements in testdata/ack for
// review against MedCom's examples; go test -update rewrites them.
func TestAcknowledgeGolden(t *testing.T) {
	tests := []struct {
		name, file, code, reason string
	}{
		{"ok-STIN", goldenSTIN, "ok", ""},
		{"fatal-error-forward", "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json", "fatal-error", "Unknown category code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Acknowledge(mustParse(t, readFile(t, tt.file)), tt.code, tt.reason, ackTime, counter())
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "ack", tt.name+".json")
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
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Acknowledge differs from %s (go test -update rewrites it): %s", golden, firstDiff(string(got), string(want)))
			}
		})
	}
}

func TestAcknowledgeErrors(t *testing.T) {
	hn := mustParse(t, readFile(t, goldenSTIN))
	ack := mustParse(t, readFile(t, "acknowledgement/Ack_3.4.4_A_AE.json"))
	noSource := *hn
	noSource.SourceEndpoint = ""
	twice := func() string { return "00000000-0000-4000-8000-000000000001" }
	bad := func() string { return "not/an/id" }
	tests := []struct {
		name   string
		m      *Message
		code   string
		reason string
		newID  func() string
		path   string
	}{
		{"nil message", nil, "ok", "", counter(), ""},
		{"nil newID", hn, "ok", "", nil, ""},
		{"unknown code", hn, "AA", "", counter(), "Bundle.entry[0].resource.response.code"},
		{"error without reason", hn, "fatal-error", "", counter(), "Bundle.entry[0].resource.response.details"},
		{"acknowledgement of an acknowledgement", ack, "ok", "", counter(), "Bundle.entry[0].resource.eventCoding"},
		{"no source endpoint", &noSource, "ok", "", counter(), "Bundle.entry[0].resource.source.endpoint"},
		{"newID repeats itself", hn, "ok", "", twice, "newID()"},
		{"newID returns a bad id", hn, "ok", "", bad, "newID()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Acknowledge(tt.m, tt.code, tt.reason, ackTime, tt.newID)
			if !isError(err, tt.path) {
				t.Errorf("Acknowledge = %d bytes, %v; want an *Error at %q", len(raw), err, tt.path)
			}
		})
	}
}

func TestAcknowledgeSelfAddressed(t *testing.T) {
	// A message whose sender and receiver are one Organization resource
	// gives an acknowledgement with that Organization once.
	m := mustParse(t, mutate(t, goldenSTIN, func(b map[string]any) {
		d := resources(b)[0]["destination"].([]any)[0].(map[string]any)
		d["receiver"] = resources(b)[0]["sender"]
	}))
	raw, err := Acknowledge(m, "ok", "", ackTime, counter())
	if err != nil {
		t.Fatal(err)
	}
	a := mustParse(t, raw)
	if a.Sender != a.Receiver.Organization || a.Sender.SOR != "265161000016000" {
		t.Errorf("Sender, Receiver = %+v, %+v; want the same Organization", a.Sender, a.Receiver)
	}
	if n := bytes.Count(raw, []byte(`"resourceType": "Organization"`)); n != 1 {
		t.Errorf("%d Organizations in the acknowledgement; want 1", n)
	}
}

// TestAcknowledgeOutcome: a fatal-error names the element and carries
// MedCom's detail code where one fits; as XML it reads back the same.
func TestAcknowledgeOutcome(t *testing.T) {
	m := mustParse(t, readFile(t, careNew))
	tests := []struct {
		name                 string
		o                    Outcome
		wantIssue, wantCode  string
		wantElementInTheJSON bool
	}{
		{"missing element", Outcome{Code: "fatal-error", Reason: "missing: the payload identifier has no value", Problem: "missing-field",
			Element: "Bundle.entry[2].resource.payload[0].extension[1].valueIdentifier.value"}, "required", "", true},
		{"unknown message type", Outcome{Code: "fatal-error", Reason: "homecareobservation-message messages are not translated", Problem: "unknown-event",
			Element: "Bundle.entry[0].resource.eventCoding"}, "not-supported", "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE", true},
		{"unknown code", Outcome{Code: "fatal-error", Reason: "x", Problem: "unknown-notification-code"}, "code-invalid", "MSG_VALUESET_VALUE_UNKNOWN", false},
		{"transient", Outcome{Code: "transient-error", Reason: "the store is down"}, "transient", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := tt.o.Acknowledge(m, ackTime, counter())
			if err != nil {
				t.Fatal(err)
			}
			x, err := ToXML(raw)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, fromXML := mustParse(t, raw), mustParse(t, x)
			if !reflect.DeepEqual(fromJSON, fromXML) {
				t.Errorf("the XML reads differently from the JSON:\n%s", x)
			}
			want := []Issue{{Severity: "error", Code: tt.wantIssue, Detail: tt.wantCode, Text: tt.o.Reason}}
			if got := fromXML.Acknowledgement.Issues; !reflect.DeepEqual(got, want) {
				t.Errorf("Issues = %+v; want %+v", got, want)
			}
			if got := bytes.Contains(raw, []byte(`"expression": [`)); got != tt.wantElementInTheJSON {
				t.Errorf("expression in the JSON: %t; want %t", got, tt.wantElementInTheJSON)
			}
			if tt.o.Element != "" && !bytes.Contains(x, []byte(`<expression value="`+tt.o.Element+`"/>`)) {
				t.Errorf("the XML does not name %s:\n%s", tt.o.Element, x)
			}
		})
	}
}

// TestToXMLGolden keeps an acknowledgement as XML for review against
// MedCom's XML examples; go test -update rewrites it.
func TestToXMLGolden(t *testing.T) {
	raw, err := Outcome{Code: "fatal-error", Reason: "missing: a payload holds a text or an attachment", Problem: "missing-field",
		Element: "Bundle.entry[2].resource.payload[0].content[x]"}.Acknowledge(mustParse(t, readFile(t, careNew)), ackTime, counter())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToXML(raw)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "ack", "fatal-error-payload.xml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("ToXML differs from %s: %s", golden, firstDiff(string(got), string(want)))
	}
}

func TestToXMLErrors(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"id": "x"}`, `{"resourceType": "Bundle"`} {
		if _, err := ToXML([]byte(in)); err == nil {
			t.Errorf("ToXML(%q): no error", in)
		}
	}
}
