package medcom

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
)

// Envelope is the VANS envelope a MedCom message came in. MedCom's FHIR
// messages travel the VANS network base64-encoded in
// VANSEnvelope/Message/Data, with the message type in
// Message/MetaInformation/Document (Format "HL7", Name such as
// "MCM:FDIS91#discharge") and the FHIR format in the Transport ServiceTag
// MCM:MIME (MedCom, "MedCom FHIR messages and network envelopes").
//
// The envelope's ids are the network's: a resend gets a new
// EnvelopeIdentifier, and the message inside keeps its MessageHeader.id,
// which is what Stafet de-duplicates on.
type Envelope struct {
	// ID is EnvelopeIdentifier; MessageID is Message/MetaInformation/Identifier.
	ID, MessageID string
	// Sender and Receiver are SenderID and ReceiverID, each with its
	// EndPointType (EAN, CVR or VANS).
	Sender, SenderType, Receiver, ReceiverType string
	// Format, Name and Version are Message/MetaInformation/Document's.
	Format, Name, Version string
	// MIME is the ServiceTag named MCM:MIME: application/fhir+xml or
	// application/fhir+json.
	MIME string
}

// vansEnvelope is the part of the VANS envelope schema (namespace
// urn:oio:medcom:vans-envelope:1.0.x) Stafet reads. Element names match
// in any namespace, so an envelope of another schema version reads too.
type vansEnvelope struct {
	XMLName            xml.Name `xml:"VANSEnvelope"`
	SenderID           endPoint `xml:"SenderID"`
	ReceiverID         endPoint `xml:"ReceiverID"`
	EnvelopeIdentifier string   `xml:"EnvelopeIdentifier"`
	Message            *struct {
		Identifier string `xml:"MetaInformation>Identifier"`
		Document   struct {
			Format  string `xml:"Format"`
			Name    string `xml:"Name"`
			Version string `xml:"Version"`
		} `xml:"MetaInformation>Document"`
		ServiceTags []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:",chardata"`
		} `xml:"MetaInformation>Transport>ServiceTag"`
		Data *string `xml:"Data"`
	} `xml:"Message"`
	Receipt *struct{} `xml:"Receipt"`
}

type endPoint struct {
	Type  string `xml:"EndPointType,attr"`
	Value string `xml:",chardata"`
}

// isEnvelope reports whether XML input's root element is a VANSEnvelope.
func isEnvelope(body []byte) bool {
	dec := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local == "VANSEnvelope"
		}
	}
}

// unwrap reads a VANS envelope and returns the message it carries. A
// receipt (the network's acknowledgement of an envelope) carries no
// message: it is not a MedCom message.
func unwrap(body []byte) ([]byte, *Envelope, error) {
	var v vansEnvelope
	if err := xml.Unmarshal(body, &v); err != nil {
		return nil, nil, xmlError(err)
	}
	switch {
	case v.Receipt != nil:
		return nil, nil, fmt.Errorf("%w: a VANS receipt, which acknowledges an envelope and carries no message", ErrNotMedCom)
	case v.Message == nil:
		return nil, nil, &Error{Path: "VANSEnvelope.Message", Reason: "missing; the envelope carries no message"}
	case v.Message.Data == nil || strings.TrimSpace(*v.Message.Data) == "":
		return nil, nil, &Error{Path: "VANSEnvelope.Message.Data", Reason: "missing; the FHIR message goes there base64-encoded", Code: CodeMissing}
	}
	data := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1 // base64 in XML is often wrapped in lines
		}
		return r
	}, *v.Message.Data)
	if base64.StdEncoding.DecodedLen(len(data)) > MaxSize {
		return nil, nil, &Error{Path: "VANSEnvelope.Message.Data", Reason: fmt.Sprintf("the message is over %d bytes", MaxSize), Code: CodeInvalid}
	}
	inner, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, nil, &Error{Path: "VANSEnvelope.Message.Data", Reason: "not base64: " + err.Error(), Code: CodeInvalid}
	}
	e := &Envelope{
		ID: strings.TrimSpace(v.EnvelopeIdentifier), MessageID: strings.TrimSpace(v.Message.Identifier),
		Sender: strings.TrimSpace(v.SenderID.Value), SenderType: v.SenderID.Type,
		Receiver: strings.TrimSpace(v.ReceiverID.Value), ReceiverType: v.ReceiverID.Type,
		Format: strings.TrimSpace(v.Message.Document.Format), Name: strings.TrimSpace(v.Message.Document.Name), Version: strings.TrimSpace(v.Message.Document.Version),
	}
	for _, tag := range v.Message.ServiceTags {
		if tag.Name == "MCM:MIME" {
			e.MIME = strings.TrimSpace(tag.Value)
		}
	}
	return inner, e, nil
}
