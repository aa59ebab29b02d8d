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
	// MergedPatient, for a message that says two identities are one
	// patient, is the other identity: the prior patient of an HL7 merge
	// (A40, A18, A30, A34, A36, A39) or change of identifier (A46, A47),
	// the second patient of a link (A24), the replacement number of a
	// MedCom Patient that also has a CPR number. The ingest joins that
	// patient's pathway to this one.
	MergedPatient *Identity
	// MergeReason names the message that joins the two, e.g. "HL7 A47
	// change patient identifier list"; it becomes the link's reason.
	MergeReason string
	// Unlink asks instead to undo an earlier join of the patient and
	// MergedPatient (HL7 A37).
	Unlink bool
	// Document, for a message that is itself a document (a CareCommunication,
	// a HospitalNotification), names it for acknowledgements.
	Document string
	// Parties are the organisations the message names and what the
	// translator made of them, for people checking a feed's mapping
	// (stafet translate). They go on no event.
	Parties []Party
}

// Party is one organisation a message names, as the translator read it
// and mapped it to the directory.
type Party struct {
	// Role is what the organisation is to the message: "sender",
	// "receiver", "hospital", "cc", "discharged-to", ….
	Role string `json:"role"`
	// Field is where the translator read it, e.g. "MSH-4" or
	// "MessageHeader.sender".
	Field string `json:"field"`
	// Read is the organisation as the message writes it: a code, or
	// identifiers such as "SOR 265161000016000, EAN 5790000209354".
	Read string `json:"read"`
	// Org is the organisation Stafet takes it for; empty when it takes it
	// for none.
	Org OrgID `json:"org,omitempty"`
	// Kind is Org's kind in the directory; empty when the directory does
	// not know Org.
	Kind Kind `json:"kind,omitempty"`
	// How says how Read became Org, e.g. "SOR code in the directory",
	// "alias in the directory", "EAN in the directory", "not in the
	// directory".
	How string `json:"how"`
}

// Cancel says which earlier event a message cancels: the latest event of
// Type on the pathway, or, when SourceMessageID is set, the events that
// came from that earlier message.
type Cancel struct {
	Type            Type   `json:"type,omitempty"`
	SourceMessageID string `json:"source_message_id,omitempty"`
	Reason          string `json:"reason"`
}

// CodeNotSender is the dead letter code of a message whose sender (HL7
// MSH-4 or the organisation it says acts, a MedCom MessageHeader.sender)
// is not an organisation the connection or token speaks for. Every
// channel uses it, so an operator finds forged messages under one code.
const CodeNotSender = "not-sender"

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
