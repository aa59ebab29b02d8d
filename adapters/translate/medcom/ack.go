package medcom

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Canonical URLs of the MedCom Acknowledgement IG and the code systems it uses.
const (
	ackBase          = "https://medcomfhir.dk/ig/acknowledgement/"
	profileAck       = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement"
	profileAckHeader = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
	profileOutcome   = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
	profileProv      = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
	profileOrg       = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
	ackDefinition    = "http://medcomfhir.dk/ig/acknowledgement/medcom-acknowledgement-message-definition|2.0.0"
	systemEvents     = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
	systemActivities = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
	systemDestUse    = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
	urlDestUse       = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
)

// Acknowledge builds the MedCom Acknowledgement that answers m, as a FHIR JSON
// Bundle shaped like MedCom's published acknowledgement examples: a
// MessageHeader from m's receiver back to m's sender, with source.endpoint
// the endpoint m was sent to and destination.endpoint m's source.endpoint;
// response.identifier m.HeaderID and response.code code; a Provenance of the
// acknowledgement (activity acknowledgement, entity revision of m's
// MessageHeader); the two Organizations; and, when code is not ok, an
// OperationOutcome whose issue carries reason as details.text. MedCom's
// examples also repeat the acknowledged message's own Provenance; the model
// does not keep it whole, so it is left out rather than copied in part.
//
// code is ok, transient-error or fatal-error; reason is required for the two
// errors and ignored for ok. now is the acknowledgement's timestamp. newID
// must return a new FHIR id (a UUID) on every call; it is called for the
// Bundle, the MessageHeader, the Provenance and the OperationOutcome, in that
// order. Acknowledgements are not acknowledged, so m must not be one.
func Acknowledge(m *Message, code string, reason string, now time.Time, newID func() string) ([]byte, error) {
	return Outcome{Code: code, Reason: reason}.Acknowledge(m, now, newID)
}

// Outcome is how a message is answered: its response code and, for an
// error, what is wrong with it.
type Outcome struct {
	// Code is ok, transient-error or fatal-error.
	Code string
	// Reason says what is wrong, as the issue's details.text; required
	// for the errors.
	Reason string
	// Problem is Stafet's code for what is wrong (missing-field,
	// invalid-field, unknown-event, parse, …). It picks the issue's type
	// and, where one fits, MedCom's issue detail code (details.coding).
	Problem string
	// Element is the FHIR path of the element that is wrong, sent as the
	// issue's expression; empty when no element is to blame.
	Element string
}

// Acknowledge builds the acknowledgement of m as Acknowledge does, with
// the outcome's issue in its OperationOutcome.
func (o Outcome) Acknowledge(m *Message, now time.Time, newID func() string) ([]byte, error) {
	code, reason := o.Code, o.Reason
	const hp = "Bundle.entry[0].resource"
	switch {
	case m == nil:
		return nil, &Error{Reason: "no message to acknowledge"}
	case newID == nil:
		return nil, &Error{Reason: "no id generator"}
	case !validResponse(code):
		return nil, &Error{Path: hp + ".response.code", Reason: fmt.Sprintf("want ok, transient-error or fatal-error, got %s", quote(code))}
	case code != "ok" && reason == "":
		return nil, &Error{Path: hp + ".response.details", Reason: "a " + code + " needs a reason"}
	case m.Kind == KindAcknowledgement:
		return nil, &Error{Path: m.eventPath, Reason: "an acknowledgement is not acknowledged"}
	case m.HeaderID == "":
		return nil, &Error{Path: hp + ".id", Reason: "the message has no MessageHeader.id to acknowledge"}
	case m.SourceEndpoint == "":
		return nil, &Error{Path: hp + ".source.endpoint", Reason: "the message has no endpoint to send the acknowledgement to"}
	case m.Receiver.Endpoint == "":
		return nil, &Error{Path: hp + ".destination", Reason: "the message has no endpoint it was sent to"}
	}
	used := make(map[string]bool)
	fresh := func() (string, error) {
		id := newID()
		if err := checkID(id, "newID()"); err != nil {
			return "", err
		}
		if used[id] {
			return "", &Error{Path: "newID()", Reason: quote(id) + " was returned twice"}
		}
		used[id] = true
		return id, nil
	}
	bundleID, err := fresh()
	if err != nil {
		return nil, err
	}
	headerID, err := fresh()
	if err != nil {
		return nil, err
	}
	provID, err := fresh()
	if err != nil {
		return nil, err
	}
	// The acknowledgement goes from m's receiver to m's sender. The
	// organisations keep their ids from m unless those are not FHIR ids or
	// clash.
	from, to := m.Receiver.Organization, m.Sender
	if checkID(from.ID, "") != nil || used[from.ID] {
		if from.ID, err = fresh(); err != nil {
			return nil, err
		}
	}
	used[from.ID] = true
	// A message to oneself names one Organization twice; keep it once.
	if checkID(to.ID, "") != nil || used[to.ID] && to != from {
		if to.ID, err = fresh(); err != nil {
			return nil, err
		}
	}
	used[to.ID] = true
	stamp := now.Format(time.RFC3339)
	header := ackHeader{
		ResourceType: "MessageHeader",
		ID:           headerID,
		Meta:         meta{Profile: []string{profileAckHeader}},
		EventCoding:  coding{System: systemEvents, Code: string(KindAcknowledgement)},
		Destination: []destination{{
			Extension: []extension{{URL: urlDestUse, ValueCoding: &coding{System: systemDestUse, Code: "primary"}}},
			Endpoint:  m.SourceEndpoint,
			Receiver:  ref("Organization", to.ID),
		}},
		Sender:     ref("Organization", from.ID),
		Source:     source{Endpoint: m.Receiver.Endpoint},
		Response:   response{Identifier: m.HeaderID, Code: code},
		Definition: ackDefinition,
	}
	var entries []fhirEntry
	add := func(typ, id string, res any) {
		entries = append(entries, fhirEntry{FullURL: ackBase + typ + "/" + id, Resource: res})
	}
	add("MessageHeader", headerID, &header)
	add("Provenance", provID, provenance{
		ResourceType: "Provenance",
		ID:           provID,
		Meta:         meta{Profile: []string{profileProv}},
		Target:       []reference{ref("MessageHeader", headerID)},
		Occurred:     stamp,
		Recorded:     stamp,
		Activity:     concept{Coding: []coding{{System: systemActivities, Code: "acknowledgement"}}},
		Agent:        []agent{{Who: ref("Organization", from.ID)}},
		Entity:       []entity{{Role: "revision", What: ref("MessageHeader", m.HeaderID)}},
	})
	add("Organization", from.ID, organizationResource(from))
	if to.ID != from.ID {
		add("Organization", to.ID, organizationResource(to))
	}
	if code != "ok" {
		ooID, err := fresh()
		if err != nil {
			return nil, err
		}
		header.Response.Details = &reference{Reference: "OperationOutcome/" + ooID}
		add("OperationOutcome", ooID, operationOutcome{
			ResourceType: "OperationOutcome",
			ID:           ooID,
			Meta:         meta{Profile: []string{profileOutcome}},
			Issue:        []issue{o.issue()},
		})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	err = enc.Encode(fhirBundle{
		ResourceType: "Bundle",
		ID:           bundleID,
		Meta:         meta{Profile: []string{profileAck}},
		Type:         "message",
		Timestamp:    stamp,
		Entry:        entries,
	})
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Code systems of the issue details of MedCom's acknowledgements
// (medcom-acknowledgement-issue-details): FHIR's operation outcome codes
// and MedCom's own.
const (
	systemOutcome     = "http://terminology.hl7.org/CodeSystem/operation-outcome"
	systemMedComError = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
)

// issue is the outcome's OperationOutcome issue: its type (FHIR
// issue-type) and MedCom detail code follow the problem.
func (o Outcome) issue() issue {
	is := issue{Severity: "error", Code: "processing", Details: &details{Text: o.Reason}}
	if o.Code == "transient-error" {
		is.Code = "transient"
	}
	if o.Element != "" {
		is.Expression = []string{o.Element}
	}
	detail := func(system, code string) { is.Details.Coding = []coding{{System: system, Code: code}} }
	switch o.Problem {
	case "missing-field":
		is.Code = "required"
	case "invalid-field", "invalid-event":
		is.Code = "value"
	case "unknown-event":
		is.Code = "not-supported"
		detail(systemMedComError, "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE")
	case "unknown-notification-code", "unknown-activity":
		is.Code = "code-invalid"
		detail(systemMedComError, "MSG_VALUESET_VALUE_UNKNOWN")
	case "unknown-organisation":
		is.Code = "not-found"
	case "parse", "not-medcom":
		is.Code = "structure"
		detail(systemOutcome, "MSG_BAD_SYNTAX")
	}
	return is
}

func organizationResource(o Organization) orgResource {
	r := orgResource{ResourceType: "Organization", ID: o.ID, Meta: meta{Profile: []string{profileOrg}}, Name: o.Name}
	if o.EAN != "" {
		r.Identifier = append(r.Identifier, identifier{System: systemGLN, Value: o.EAN})
	}
	if o.SOR != "" {
		r.Identifier = append(r.Identifier, identifier{System: systemSOR, Value: o.SOR})
	}
	return r
}

func ref(typ, id string) reference { return reference{Reference: typ + "/" + id} }

// The FHIR JSON shapes Acknowledge writes, with fields in FHIR order.
type (
	fhirBundle struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		Meta         meta        `json:"meta"`
		Type         string      `json:"type"`
		Timestamp    string      `json:"timestamp"`
		Entry        []fhirEntry `json:"entry"`
	}
	fhirEntry struct {
		FullURL  string `json:"fullUrl"`
		Resource any    `json:"resource"`
	}
	meta struct {
		Profile []string `json:"profile"`
	}
	coding struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
	concept struct {
		Coding []coding `json:"coding"`
	}
	reference struct {
		Reference string `json:"reference"`
	}
	extension struct {
		URL         string  `json:"url"`
		ValueCoding *coding `json:"valueCoding,omitempty"`
	}
	identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	ackHeader struct {
		ResourceType string        `json:"resourceType"`
		ID           string        `json:"id"`
		Meta         meta          `json:"meta"`
		EventCoding  coding        `json:"eventCoding"`
		Destination  []destination `json:"destination"`
		Sender       reference     `json:"sender"`
		Source       source        `json:"source"`
		Response     response      `json:"response"`
		Definition   string        `json:"definition"`
	}
	destination struct {
		Extension []extension `json:"extension"`
		Endpoint  string      `json:"endpoint"`
		Receiver  reference   `json:"receiver"`
	}
	source struct {
		Endpoint string `json:"endpoint"`
	}
	response struct {
		Identifier string     `json:"identifier"`
		Code       string     `json:"code"`
		Details    *reference `json:"details,omitempty"`
	}
	provenance struct {
		ResourceType string      `json:"resourceType"`
		ID           string      `json:"id"`
		Meta         meta        `json:"meta"`
		Target       []reference `json:"target"`
		Occurred     string      `json:"occurredDateTime"`
		Recorded     string      `json:"recorded"`
		Activity     concept     `json:"activity"`
		Agent        []agent     `json:"agent"`
		Entity       []entity    `json:"entity,omitempty"`
	}
	agent struct {
		Who reference `json:"who"`
	}
	entity struct {
		Role string    `json:"role"`
		What reference `json:"what"`
	}
	orgResource struct {
		ResourceType string       `json:"resourceType"`
		ID           string       `json:"id"`
		Meta         meta         `json:"meta"`
		Identifier   []identifier `json:"identifier,omitempty"`
		Name         string       `json:"name,omitempty"`
	}
	operationOutcome struct {
		ResourceType string  `json:"resourceType"`
		ID           string  `json:"id"`
		Meta         meta    `json:"meta"`
		Issue        []issue `json:"issue"`
	}
	issue struct {
		Severity   string   `json:"severity"`
		Code       string   `json:"code"`
		Details    *details `json:"details,omitempty"`
		Expression []string `json:"expression,omitempty"`
	}
	details struct {
		Coding []coding `json:"coding,omitempty"`
		Text   string   `json:"text,omitempty"`
	}
)
