package medcom

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// envelopeOf wraps data in a VANS envelope as MedCom describes it.
func envelopeOf(data string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?>
<VANSEnvelope xmlns="urn:oio:medcom:vans-envelope:1.0.4">
  <SenderID EndPointType="EAN">5790001987244</SenderID>
  <ReceiverID EndPointType="EAN">5790001353308</ReceiverID>
  <EnvelopeIdentifier>6a7d1e9c-3f52-4b8e-9d41-0c2f7e8a5b99</EnvelopeIdentifier>
  <SentDateTime>2024-08-15T12:00:05</SentDateTime>
  <Message>
    <MetaInformation>
      <Identifier>6a7d1e9c-3f52-4b8e-9d41-0c2f7e8a5b98</Identifier>
      <Document><Format>HL7</Format><Name>MCM:FDIS91#discharge</Name><Version>5.0</Version><SizeInBytes>1</SizeInBytes></Document>
      <Transport><TransformMessage>false</TransformMessage><ServiceTag name="MCM:MIME">application/fhir+json</ServiceTag></Transport>
    </MetaInformation>
    <Data>` + data + `</Data>
  </Message>
</VANSEnvelope>`)
}

// TestEnvelope: a message in a VANS envelope reads as the message itself,
// with the envelope described beside it.
func TestEnvelope(t *testing.T) {
	for _, f := range []string{careNew, goldenSTIN, "hospitalnotification/hn_touchstone_STIN_a5e5b880.xml", "carecommunication/Bundle-R-Tek-CPR-3-4d9d90c5-5647-4b4a-8c61-770bc5c3e092.json"} {
		t.Run(f, func(t *testing.T) {
			raw := readFile(t, f)
			bare := mustParse(t, raw)
			wrapped := mustParse(t, envelopeOf(base64.StdEncoding.EncodeToString(raw)))
			e := wrapped.Envelope
			if e == nil || e.ID != "6a7d1e9c-3f52-4b8e-9d41-0c2f7e8a5b99" || e.MessageID != "6a7d1e9c-3f52-4b8e-9d41-0c2f7e8a5b98" ||
				e.Sender != "5790001987244" || e.SenderType != "EAN" || e.Name != "MCM:FDIS91#discharge" || e.MIME != "application/fhir+json" {
				t.Errorf("Envelope = %+v", e)
			}
			wrapped.Envelope = nil
			if !reflect.DeepEqual(bare, wrapped) {
				t.Error("the message in the envelope reads differently from the message alone")
			}
		})
	}
}

func TestEnvelopeErrors(t *testing.T) {
	stin := base64.StdEncoding.EncodeToString(readFile(t, goldenSTIN))
	tests := []struct {
		name, in string
		path     string // "" for ErrNotMedCom
	}{
		{"receipt", `<VANSEnvelope xmlns="urn:oio:medcom:vans-envelope:1.0.4"><SenderID EndPointType="EAN">1</SenderID><ReceiverID EndPointType="EAN">2</ReceiverID><EnvelopeIdentifier>x</EnvelopeIdentifier><SentDateTime>2024-01-01T00:00:00</SentDateTime><Receipt><PositiveMessage/></Receipt></VANSEnvelope>`, ""},
		{"no data", string(envelopeOf("")), "VANSEnvelope.Message.Data"},
		{"not base64", string(envelopeOf("not*base64")), "VANSEnvelope.Message.Data"},
		{"no message", `<VANSEnvelope><EnvelopeIdentifier>x</EnvelopeIdentifier></VANSEnvelope>`, "VANSEnvelope.Message"},
		{"an envelope in an envelope", string(envelopeOf(base64.StdEncoding.EncodeToString(envelopeOf(stin)))), "VANSEnvelope.Message.Data"},
		{"something else inside", string(envelopeOf(base64.StdEncoding.EncodeToString([]byte("MSH|^~\\&|")))), ""},
		{"a broken message inside", string(envelopeOf(base64.StdEncoding.EncodeToString([]byte(`{"resourceType":"Bundle","type":"message"}`)))), "Bundle.id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.in))
			if m != nil {
				t.Fatalf("got a message; want an error")
			}
			if tt.path == "" {
				if !errors.Is(err, ErrNotMedCom) {
					t.Fatalf("got %v; want ErrNotMedCom", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Path != tt.path {
				t.Fatalf("got %v; want an *Error at %s", err, tt.path)
			}
		})
	}
	t.Run("a wrapped base64 body", func(t *testing.T) {
		var lines []string
		for s := stin; s != ""; s = s[min(76, len(s)):] {
			lines = append(lines, s[:min(76, len(s))])
		}
		if _, err := Parse(envelopeOf("\n" + strings.Join(lines, "\r\n") + "\n    ")); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzEnvelope: Parse of a VANS envelope, whole or around arbitrary data,
// never panics, fails only with its typed errors, and an envelope it
// accepts is described.
func FuzzEnvelope(f *testing.F) {
	for _, name := range []string{"vans/VANS-CareCommunication-S-A-new-json.xml", "vans/VANS-HospitalNotification-STIN-xml.xml"} {
		f.Add(readFile(f, name), false)
	}
	f.Add(readFile(f, goldenSTIN), true)
	f.Add([]byte("<VANSEnvelope><Receipt/></VANSEnvelope>"), false)
	f.Fuzz(func(t *testing.T, raw []byte, wrap bool) {
		if wrap {
			raw = envelopeOf(base64.StdEncoding.EncodeToString(raw))
		}
		m, err := Parse(raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, ErrNotMedCom) {
				t.Fatalf("Parse error %T %v is neither *Error nor ErrNotMedCom", err, err)
			}
			return
		}
		if isEnvelope(raw) && m.Envelope == nil {
			t.Fatal("an envelope read without its description")
		}
	})
}
