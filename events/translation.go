package events

import "time"

// Translation is what an adapter makes of one inbound message: the
// domain events it means, and what the ingest needs to find (or open) the
// pathway they belong to. Translators are pure; the ingest pseudonymises
// the patient at once, seals the identity, resolves the pathway and
// appends.
type Translation struct {
	// Patient is who the message is about, as the message names them. It
	// never leaves the ingest in clear: the ingest turns it into a
	// PatientRef and a SealedIdentity.
	Patient Identity
	// Episode is the episode of care the message is about (MedCom
	// Encounter.episodeOfCare identifier, the LPR3 stay id; HL7 PV1-19), if
	// any. It links messages to a pathway.
	Episode string
	// Cluster, Municipality and GP describe the pathway if the message has
	// to open one. Cluster may be empty: the ingest then takes it from the
	// directory (the hospital's or the municipality's cluster).
	Cluster      string
	Municipality OrgID
	GP           OrgID
	Hospital     OrgID

	// Source, Actor and OccurredAt go on every event.
	Source     Source
	Actor      Actor
	OccurredAt time.Time

	// Payloads are the events the message means, in order.
	Payloads []Payload
	// Cancels, if set, asks the ingest to annul earlier events with a
	// Correction (HL7 A11/A12/A13/A52/A53, MedCom AN_ and RE_ codes): the
	// translator cannot know event ids, the ingest finds them in the
	// pathway's history.
	Cancels *Cancel
	// MergedPatient, for a merge (HL7 A40), is the patient whose pathway
	// joins this one.
	MergedPatient *Identity
	// Document, for a message that is itself a document (a CareCommunication,
	// a HospitalNotification), names it for acknowledgements.
	Document string
}

// Cancel says which earlier event a message cancels: the latest event of
// Type on the pathway, or, when SourceMessageID is set, the events that
// came from that earlier message.
type Cancel struct {
	Type            Type   `json:"type,omitempty"`
	SourceMessageID string `json:"source_message_id,omitempty"`
	Reason          string `json:"reason"`
}

// MessageError is a translator's typed error: the message was understood
// but is invalid (Rejected false: HL7 AE, MedCom fatal-error with the
// field), or it could not be parsed at all (Rejected true: HL7 AR).
type MessageError struct {
	// Code is machine-readable, e.g. "unknown-trigger", "missing-field",
	// "unknown-organisation", "parse".
	Code string
	// Field names the place in the message, e.g. "PV1-3" or
	// "Bundle.entry[0].resource.eventCoding".
	Field    string
	Reason   string
	Rejected bool
}

func (e *MessageError) Error() string {
	if e.Field == "" {
		return "message: " + e.Code + ": " + e.Reason
	}
	return "message: " + e.Field + ": " + e.Reason + " (" + e.Code + ")"
}
