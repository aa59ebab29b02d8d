package medcom

import (
	"log/slog"
	"time"
)

// Kind is the message type, the code of MessageHeader.eventCoding from
// http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes.
// Parse passes other codes through unchanged, so that a receiver can still
// answer them with a fatal-error acknowledgement.
type Kind string

// The message kinds this package reads in full.
const (
	KindHospitalNotification Kind = "hospital-notification-message"
	KindCareCommunication    Kind = "care-communication-message"
	KindAcknowledgement      Kind = "acknowledgement-message"
	// KindEmpty is MedCom's "Message with no content"; it means nothing
	// for a pathway.
	KindEmpty Kind = "empty-message"
)

// Message is one MedCom FHIR message: a Bundle of type message whose first
// entry is the MessageHeader. Parse guarantees BundleID, Timestamp, Kind,
// HeaderID, Sender and Receiver; and by kind:
//   - KindHospitalNotification: Patient and Encounter are set;
//   - KindCareCommunication: Patient and Communication are set;
//   - KindAcknowledgement: Acknowledgement is set.
//
// A Message carries patient data; its LogValue shows identifiers and codes
// only.
type Message struct {
	// BundleID is Bundle.id, new on every send and resend.
	BundleID string
	// Timestamp is Bundle.timestamp.
	Timestamp time.Time
	// Kind is MessageHeader.eventCoding.code.
	Kind Kind
	// HeaderID is MessageHeader.id, kept on a resend; an acknowledgement
	// names it in its response.identifier.
	HeaderID string
	// Sender is MessageHeader.sender.
	Sender Organization
	// SourceEndpoint is MessageHeader.source.endpoint, where the sender
	// expects the acknowledgement.
	SourceEndpoint string
	// Receiver is the primary destination.
	Receiver Destination
	// CC are the carbon-copy destinations.
	CC []Destination
	// Patient is the subject of the Encounter or Communication, else the
	// Bundle's only Patient; nil if there is none.
	Patient *Patient
	// Encounter is MessageHeader.focus for a HospitalNotification, or
	// Communication.encounter for a CareCommunication; nil if there is none.
	Encounter *Encounter
	// Provenances hold the message history, in Bundle order.
	Provenances []Provenance
	// Communication is the CareCommunication content; nil otherwise.
	Communication *Communication
	// Acknowledgement is MessageHeader.response; nil for messages that do
	// not answer another.
	Acknowledgement *Acknowledgement
	// Envelope is the VANS envelope the message came in; nil when it came
	// bare.
	Envelope *Envelope

	// paths of the elements NotificationCode reports on.
	eventPath, classPath, statusPath string
	// patientAt and commAt are the entries of the Patient and the
	// Communication, for the profile checks.
	patientAt, commAt int
}

// LogValue implements slog.LogValuer; it leaves out the patient and all texts.
func (m *Message) LogValue() slog.Value {
	if m == nil {
		return slog.Value{}
	}
	return slog.GroupValue(
		slog.String("kind", string(m.Kind)),
		slog.String("bundle", m.BundleID),
		slog.String("header", m.HeaderID),
		slog.String("sender_sor", m.Sender.SOR),
		slog.String("receiver_sor", m.Receiver.SOR),
	)
}

// CurrentProvenance returns the Provenance whose target is this message's
// MessageHeader (the last such in Bundle order), or nil. Its Activity says
// what the message does: new-message, reply-message, forward-message,
// modified-message, retract-message for a CareCommunication; admit-inpatient
// and the like for a HospitalNotification.
func (m *Message) CurrentProvenance() *Provenance {
	for i := len(m.Provenances) - 1; i >= 0; i-- {
		if m.Provenances[i].Target == m.HeaderID {
			return &m.Provenances[i]
		}
	}
	return nil
}

// Organization is a FHIR Organization from the Bundle.
type Organization struct {
	// ID is the resource id within the Bundle.
	ID   string
	Name string
	// SOR is the identifier with system urn:oid:1.2.208.176.1.1.
	SOR string
	// EAN is the EAN/GLN location number, system https://www.gs1.org/gln
	// or the older urn:oid:1.3.88.
	EAN string
}

// Destination is a receiver of the message with the endpoint it was sent to.
type Destination struct {
	Organization
	// Endpoint is MessageHeader.destination.endpoint.
	Endpoint string
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string
	Value  string
}

// Period is a FHIR Period; a zero time means the bound is absent.
type Period struct {
	Start time.Time
	End   time.Time
}

// Patient is the FHIR Patient of the message. It implements slog.LogValuer
// and never shows its CPR number or name in a log.
type Patient struct {
	ID string
	// CPR is the identifier with system urn:oid:1.2.208.176.1.2; empty when
	// the patient has only a replacement number (see Identifiers).
	CPR string
	// Replacement is a replacement CPR number: an identifier whose system
	// is urn:oid:1.2.208.176.1.6.1.1 (national, preferred) or
	// urn:oid:1.2.208.176.1.6.1.3 or one of its regional branches.
	Replacement Identifier
	// Identifiers are all of Patient.identifier, CPR included.
	Identifiers []Identifier
	// Family and Given are from the official name, else the first.
	Family string
	Given  []string
	// Deceased is true when deceasedBoolean is true or deceasedDateTime is
	// given; DeceasedAt is that time, or zero.
	Deceased   bool
	DeceasedAt time.Time
}

// LogValue implements slog.LogValuer; it shows no patient data.
func (p Patient) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", p.ID), slog.Bool("cpr_known", p.CPR != ""), slog.Bool("replacement_known", p.Replacement != Identifier{}))
}

// Encounter is the hospital stay a message is about.
type Encounter struct {
	ID string
	// Class is the code of Encounter.class (v3 ActCode): IMP or EMER.
	Class string
	// Status is in-progress, onleave, finished, cancelled or entered-in-error.
	Status string
	// EpisodeOfCare are the identifiers of Encounter.episodeOfCare.
	EpisodeOfCare []Identifier
	// StayID is the one of them that identifies the whole stay: the LPR3
	// identifier (a system under https://www.esundhed.dk/Registre/) if
	// present, else the first. It joins CareCommunication to
	// HospitalNotification.
	StayID Identifier
	// Period is Encounter.period.
	Period Period
	// ServiceProvider is Encounter.serviceProvider; nil if absent.
	ServiceProvider *Organization
	// Leave is the leave-period extension; nil if absent.
	Leave *Period
	// ReportOfAdmission is the reportOfAdmissionFlag extension: the
	// receiver is asked for an admission report. MedCom places it, and
	// ReportOfAdmissionRecipient, on the MessageHeader; Parse also accepts
	// them on the Encounter.
	ReportOfAdmission bool
	// ReportOfAdmissionRecipient is who should receive the admission report
	// when it is not the sender; nil if absent.
	ReportOfAdmissionRecipient *Organization
}

// Provenance is one entry of the message history.
type Provenance struct {
	ID string
	// Activity is the code from medcom-messaging-activityCodes.
	Activity string
	// Occurred is occurredDateTime; Recorded is recorded.
	Occurred time.Time
	Recorded time.Time
	// Target is the id of the MessageHeader the Provenance describes.
	Target string
	// Role is the entity role of the earlier message this one revises or
	// removes: revision or removal; empty for a first message.
	Role string
	// Previous is the MessageHeader id of that earlier message.
	Previous string
	// Sources are the identifiers of entities with role source (the
	// CareCommunication payloads the activity concerns).
	Sources []string

	path string // FHIR path of the resource, for errors
}

// Communication is the content of a CareCommunication.
type Communication struct {
	ID string
	// Identifier is Communication.identifier, kept across a conversation.
	Identifier string
	// Category is the code of Communication.category, e.g. discharge or
	// carecoordination.
	Category string
	// Topic is Communication.topic.text.
	Topic string
	// Priority is Communication.priority, e.g. asap; empty if absent.
	Priority string
	// Payloads are the messages of the conversation, oldest first as sent.
	Payloads []Payload
}

// LogValue implements slog.LogValuer; it leaves out topic and texts.
func (c Communication) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("category", c.Category), slog.Int("payloads", len(c.Payloads)))
}

// Payload is one message text or attachment of a CareCommunication.
type Payload struct {
	// Text is contentString; empty for an attachment.
	Text string
	// Attachment is contentAttachment without its data; nil for a text.
	Attachment *Attachment
	// Time is the medcom-core-datetime-extension.
	Time time.Time
	// Identifier is the medcom-core-identifier-extension value.
	Identifier string
	// Organization is the identifier's assigner: the organisation that
	// wrote the payload; nil if absent.
	Organization *Organization
	// Author is the medcom-core-practitioner-extension; nil if absent.
	Author *Author
}

// LogValue implements slog.LogValuer; it leaves out the text.
func (p Payload) LogValue() slog.Value {
	return slog.GroupValue(slog.String("identifier", p.Identifier), slog.Time("time", p.Time))
}

// Attachment describes an attached file or link.
type Attachment struct {
	ContentType string
	Title       string
	// URL is set for a link; attached data is left out of the model.
	URL string
}

// Author is the practitioner who wrote a payload.
type Author struct {
	// Name is the given names and family name.
	Name string
	// Role is the code of PractitionerRole.code, e.g. sygeplejerske.
	Role string
}

// Acknowledgement is MessageHeader.response.
type Acknowledgement struct {
	// ResponseTo is response.identifier: the acknowledged MessageHeader.id.
	ResponseTo string
	// Code is ok, transient-error or fatal-error.
	Code string
	// Issues are the OperationOutcome issues.
	Issues []Issue
}

// Issue is one OperationOutcome issue.
type Issue struct {
	Severity string
	Code     string
	// Detail is the code of details.coding, e.g. from
	// medcom-acknowledgement-error-codes.
	Detail string
	// Text is details.text, else diagnostics.
	Text string
}
