package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

const medcomTestdata = "../../translate/medcom/testdata/"

func readMedCom(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(medcomTestdata + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ackOf reads the acknowledgement an answer holds, in JSON or XML.
func ackOf(t *testing.T, res response, wantType string) *medcom.Message {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != wantType {
		t.Fatalf("content type %q; want %s (%s)", ct, wantType, res.body)
	}
	m, err := medcom.Parse(res.body)
	if err != nil || m.Kind != medcom.KindAcknowledgement {
		t.Fatalf("the answer is no acknowledgement: %v\n%s", err, res.body)
	}
	return m
}

// TestMedComRealMessages posts MedCom's own published examples: a
// CareCommunication whose patient has only a replacement CPR number, one
// in a VANS envelope, an invalid one, one of a message type Stafet does
// not take, and a valid one against the pathway's state.
func TestMedComRealMessages(t *testing.T) {
	e := newEnvWith(t, true)
	fhirJSON := []string{"Content-Type", "application/fhir+json"}

	t.Run("a replacement-CPR CareCommunication is acknowledged ok", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", adminToken, readMedCom(t, "carecommunication/Bundle-R-Tek-CPR-3-4d9d90c5-5647-4b4a-8c61-770bc5c3e092.json"), fhirJSON...)
		a := ackOf(t, res, "application/fhir+json").Acknowledgement
		if res.status != http.StatusOK || a.Code != "ok" {
			t.Fatalf("status %d, %+v; want 200 ok", res.status, a)
		}
		if res.header.Get("Stafet-Pathway") == "" {
			t.Error("no pathway: want the patient's pathway opened under the replacement number")
		}
	})
	t.Run("the answer is XML when the sender asks for it", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", adminToken, readMedCom(t, "carecommunication/Bundle-R-Tek-B-82875f08-4b9e-4a23-b81a-e23ec1251334.json"),
			"Content-Type", "application/fhir+json", "Accept", "application/fhir+json;q=0.5, application/fhir+xml")
		if !bytes.HasPrefix(res.body, []byte("<?xml")) {
			t.Fatalf("got %.60q; want XML", res.body)
		}
		if a := ackOf(t, res, "application/fhir+xml").Acknowledgement; res.status != http.StatusOK || a.Code != "ok" {
			t.Errorf("status %d, %+v; want 200 ok", res.status, a)
		}
	})
	t.Run("a message in a VANS envelope", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", adminToken, readMedCom(t, "vans/VANS-CareCommunication-S-A-new-json.xml"), "Content-Type", "application/xml")
		a := ackOf(t, res, "application/fhir+json")
		if res.status != http.StatusOK || a.Acknowledgement.Code != "ok" || a.Acknowledgement.ResponseTo != "0ebb6284-eb20-45eb-8113-6620d2d08608" {
			t.Fatalf("status %d, %+v; want 200 ok for the message inside", res.status, a.Acknowledgement)
		}
		before, _ := e.store.Log().LastSeq(t.Context())
		bare := e.do("POST", "/v1/medcom", adminToken, readMedCom(t, "carecommunication/Bundle-S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2.json"), fhirJSON...)
		if ackOf(t, bare, "application/fhir+json").Acknowledgement.Code != "ok" {
			t.Error("the same message bare: not ok")
		}
		if after, _ := e.store.Log().LastSeq(t.Context()); after != before {
			t.Errorf("the bare message appended again (log %d → %d); want it taken for the enveloped one", before, after)
		}
	})
	t.Run("MedCom's invalid example is fatal-error naming the element", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", adminToken, readMedCom(t, "carecommunication-4.1.0/Bundle-R-Tek-O-invalid-3d1149cd-d3e3-421a-ae31-4860decb4272.xml"),
			"Content-Type", "application/fhir+xml", "Accept", "application/fhir+xml")
		a := ackOf(t, res, "application/fhir+xml").Acknowledgement
		if res.status != http.StatusUnprocessableEntity || a.Code != "fatal-error" || len(a.Issues) != 1 || a.Issues[0].Code != "required" ||
			!strings.Contains(a.Issues[0].Text, "payload[0].content[x]") {
			t.Errorf("status %d, %+v; want 422 fatal-error, required, naming the payload", res.status, a)
		}
		if !bytes.Contains(res.body, []byte(`<expression value="Bundle.entry[2].resource.payload[0].content[x]"/>`)) {
			t.Errorf("the OperationOutcome does not name the element:\n%s", res.body)
		}
	})
	t.Run("a message type Stafet does not take is fatal-error, unable to receive", func(t *testing.T) {
		body := bytes.Replace(readMedCom(t, "carecommunication/Bundle-S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2.json"),
			[]byte(`"code" : "care-communication-message"`), []byte(`"code" : "homecareobservation-message"`), 1)
		body = bytes.Replace(body, []byte(`"id" : "0ebb6284-eb20-45eb-8113-6620d2d08608"`), []byte(`"id" : "0ebb6284-eb20-45eb-8113-6620d2d08609"`), 1)
		res := e.do("POST", "/v1/medcom", adminToken, body, fhirJSON...)
		a := ackOf(t, res, "application/fhir+json").Acknowledgement
		if res.status != http.StatusUnprocessableEntity || a.Code != "fatal-error" || len(a.Issues) != 1 || a.Issues[0].Detail != "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE" {
			t.Errorf("status %d, %+v; want fatal-error MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE", res.status, a)
		}
	})
	t.Run("a valid discharge before its admission is ok and kept for the operator", func(t *testing.T) {
		// A patient new to Stafet: the message opens the pathway it breaks
		// the rules of.
		body := readMedCom(t, "hospitalnotification-testscripts/HospitalNotification_Ex_SLHJ_H.json")
		for old, new := range map[string]string{"2509479989": "1502703456", "5be3a118-64e4": "5be3a118-0000", "g1affa53-c157": "g1affa53-0000"} {
			body = bytes.ReplaceAll(body, []byte(old), []byte(new))
		}
		res := e.do("POST", "/v1/medcom", adminToken, body, fhirJSON...)
		a := ackOf(t, res, "application/fhir+json").Acknowledgement
		if res.status != http.StatusOK || a.Code != "ok" {
			t.Fatalf("status %d, %+v; want 200 ok: the message is valid and delivered", res.status, a)
		}
		seq := res.header.Get("Stafet-Raw-Seq")
		var d struct {
			Code string `json:"code"`
		}
		e.do("GET", "/v1/dead-letters/"+seq, adminToken, nil).json(t, &d)
		if !strings.HasPrefix(d.Code, "rule:") {
			t.Errorf("dead letter %s: code %q; want a pathway rule", seq, d.Code)
		}
	})
	t.Run("a discharge from a hospital not party to the patient's pathway is fatal-error", func(t *testing.T) {
		// Another hospital holds the test patient's stay; the sender of
		// this discharge is not party to the pathway (the care
		// relationship rule, docs/security.md).
		e.admitted("1602703456", aarhus, t0)
		body := readMedCom(t, "hospitalnotification-testscripts/HospitalNotification_Ex_SLHJ_H.json")
		for old, new := range map[string]string{"2509479989": "1602703456", "5be3a118-64e4": "5be3a118-1111", "g1affa53-c157": "g1affa53-1111", "d3d03544-f116": "d3d03544-1111"} {
			body = bytes.ReplaceAll(body, []byte(old), []byte(new))
		}
		res := e.do("POST", "/v1/medcom", adminToken, body, fhirJSON...)
		a := ackOf(t, res, "application/fhir+json").Acknowledgement
		if res.status != http.StatusUnprocessableEntity || a.Code != "fatal-error" || len(a.Issues) != 1 || !strings.Contains(a.Issues[0].Text, "not party") {
			t.Fatalf("status %d, %+v; want 422 fatal-error saying the sender is not party", res.status, a)
		}
		var d struct {
			Code string `json:"code"`
		}
		e.do("GET", "/v1/dead-letters/"+res.header.Get("Stafet-Raw-Seq"), adminToken, nil).json(t, &d)
		if d.Code != "rule:"+events.RuleNotParty {
			t.Errorf("dead letter: code %q; want rule:%s", d.Code, events.RuleNotParty)
		}
	})
	t.Run("a token may send only as its own organisation", func(t *testing.T) {
		// A municipality's token posts a hospital's real notification:
		// refused, but kept (raw, dead letter not-sender) for the
		// operator to see; a resend is the same refusal, not a second copy.
		body := readMedCom(t, "hospitalnotification-testscripts/HospitalNotification_Ex_SLHJ_H.json")
		var first uint64
		for try := range 2 {
			res := e.do("POST", "/v1/medcom", e.token(aarhus), body, fhirJSON...)
			p := res.problem(t)
			if res.status != http.StatusForbidden || p.Code != events.CodeNotSender || p.RawSeq == 0 || !strings.Contains(p.Detail, "does not speak for") {
				t.Fatalf("try %d: status %d, %+v; want 403 not-sender with the raw sequence", try+1, res.status, p)
			}
			if try == 0 {
				first = p.RawSeq
			} else if p.RawSeq != first {
				t.Errorf("resend stored as %d; want the first copy %d", p.RawSeq, first)
			}
		}
		var d struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		}
		e.do("GET", "/v1/dead-letters/"+strconv.FormatUint(first, 10), adminToken, nil).json(t, &d)
		if d.Code != events.CodeNotSender || d.Field != "MessageHeader.sender" {
			t.Errorf("dead letter: %+v; want not-sender at MessageHeader.sender", d)
		}
	})
	t.Run("a valid message too large to store is fatal-error 413, every time", func(t *testing.T) {
		// 905 KiB: under the HTTP limit, over what the raw store takes in
		// one piece. Resending cannot help, so it must not be "transient".
		body := readMedCom(t, "carecommunication/Bundle-S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2.json")
		body = bytes.Replace(body, []byte(`"id" : "0ebb6284-eb20-45eb-8113-6620d2d08608"`), []byte(`"id" : "0ebb6284-eb20-45eb-8113-6620d2d08699"`), 1)
		i := bytes.LastIndexByte(body, '}')
		big := append(append(bytes.Clone(body[:i]), bytes.Repeat([]byte(" "), 905<<10-len(body))...), body[i:]...)
		for try := range 2 {
			res := e.do("POST", "/v1/medcom", adminToken, big, fhirJSON...)
			a := ackOf(t, res, "application/fhir+json").Acknowledgement
			if res.status != http.StatusRequestEntityTooLarge || a.Code != "fatal-error" {
				t.Errorf("try %d: status %d, %+v; want 413 fatal-error", try+1, res.status, a)
			}
		}
	})
	t.Run("a VANS receipt is no MedCom message", func(t *testing.T) {
		receipt := `<VANSEnvelope xmlns="urn:oio:medcom:vans-envelope:1.0.4"><EnvelopeIdentifier>` + base64.StdEncoding.EncodeToString([]byte("x")) + `</EnvelopeIdentifier><Receipt><PositiveMessage/></Receipt></VANSEnvelope>`
		res := e.do("POST", "/v1/medcom", adminToken, receipt, "Content-Type", "application/xml")
		if p := res.problem(t); res.status != http.StatusUnprocessableEntity || p.RawSeq == 0 {
			t.Errorf("got %d %+v; want 422 with the receipt stored raw", res.status, p)
		}
	})
}
