// Package medcom reads MedCom FHIR R4 messages and writes MedCom
// acknowledgements.
//
// A MedCom message is a FHIR Bundle of type message whose first entry is a
// MessageHeader; the other entries are the Organizations of sender and
// receivers, Provenances carrying the message history, and the content:
// Patient and Encounter for a HospitalNotification ("sygehusadvis"), a
// Communication for a CareCommunication ("korrespondance"), an
// OperationOutcome for an Acknowledgement. Parse reads such a Bundle in JSON
// or XML into one small Message, resolving the references between entries
// (by fullUrl, relative "Type/id" and urn:uuid), so that callers never touch
// FHIR JSON or XML themselves. NotificationCode derives the HospitalNotification
// code (STIN, STAA, STOR, SLOR, SLHJ, MORS and their RE_ and AN_ variants)
// from the message, and Acknowledge builds the acknowledgement that answers
// a message.
//
// A Translator maps a message to the domain events it means (an
// events.Translation for the ingest): a HospitalNotification to the
// admission, leave, discharge or death of its code, a CareCommunication and
// the notification itself to a DocumentSent, an Acknowledgement to a
// DocumentAcknowledged. docs/adapters.md ("MedCom FHIR") has the mapping
// tables. An acknowledgement confirms delivery only, and a CareCommunication's
// text is never read: neither ever means that a sector accepted
// responsibility.
//
// The package keeps no state and reads no clock. It does not validate
// messages against the full MedCom profiles.
//
// Messages carry patient data (CPR numbers, names, free text). Message,
// Patient, Communication and Payload implement slog.LogValuer and show only
// identifiers and codes; errors never quote patient data.
//
// The specifications are MedCom's public implementation guides
// (github.com/medcomdk: dk-medcom-messaging, -hospitalnotification,
// -carecommunication, -acknowledgement, -terminology); testdata/SOURCES.md
// lists the examples the tests use.
package medcom
