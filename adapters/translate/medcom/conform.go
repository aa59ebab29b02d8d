package medcom

import (
	"fmt"
	"strings"
)

// Codes of an *Error from a profile check (conform): what the
// acknowledgement's OperationOutcome reports.
const (
	// CodeMissing: an element the profile makes mandatory is absent.
	CodeMissing = "missing-field"
	// CodeInvalid: an element holds a value the profile does not allow.
	CodeInvalid = "invalid-field"
)

// careCategories are the codes of MedCom's CareCommunication category code
// system (medcom-careCommunication-categoryCodes, terminology 1.9.0, with
// assessment from its earlier versions); the code system is not case
// sensitive.
var careCategories = map[string]bool{
	"alcohol-and-drug-treatment": true, "assistive-devices": true, "carecoordination": true, "decease": true,
	"discharge": true, "examination-results": true, "healthcare": true, "home-care-assessment": true,
	"medicine": true, "nursing": true, "outpatient": true, "psychiatry-social-disability": true,
	"regarding-referral": true, "telemedicine": true, "training": true, "acute-ambulant": true,
	"extended-care-responsibility": true, "other": true, "assessment": true,
}

// conform checks the elements the MedCom profiles make mandatory, beyond
// what reading the message needs, so that an invalid message gets a
// fatal-error acknowledgement naming the element, as MedCom's test
// protocols require. It holds messages only to what every published
// version of a profile requires, so a valid message of an older version
// passes too: MedCom's own examples are the check
// (testdata/SOURCES.md). It reports the first problem, in Bundle order.
//
// Left out, and why: narratives (text.div), meta.profile and the
// MessageDefinition (informative, and they differ between versions),
// code systems other than the category (no terminology server), the
// EAN-ID and SOR-ID slices of every Organization (an organisation with
// either is one Stafet can name; MedCom's receive examples carry one
// without a system).
func (b *bundle) conform(m *Message) error {
	h, hp := b.entries[0].res, b.entries[0].path
	if h.at("eventCoding").str("system") == "" {
		return missing(hp+".eventCoding.system", "MedComMessagingMessageHeader requires the code system of the event")
	}
	if h.at("source").str("endpoint") == "" {
		return missing(hp+".source.endpoint", "MessageHeader.source.endpoint is mandatory (FHIR MessageHeader, 1..1)")
	}
	provenances := 0
	for i, e := range b.entries {
		if e.res.rtype != "Provenance" {
			continue
		}
		provenances++
		if err := conformProvenance(b.entries[i]); err != nil {
			return err
		}
	}
	if provenances == 0 {
		return missing("Bundle.entry", "a MedCom message holds at least one Provenance (medcom-messaging-2)")
	}
	switch m.Kind {
	case KindHospitalNotification:
		if err := b.conformNotification(m, h, hp); err != nil {
			return err
		}
	case KindCareCommunication:
		if err := b.conformCareCommunication(m); err != nil {
			return err
		}
	}
	if m.Kind == KindHospitalNotification || m.Kind == KindCareCommunication {
		return b.conformPatient(m)
	}
	return nil
}

// conformProvenance checks MedComMessagingProvenance: target 1..1,
// occurredDateTime 1.., activity.coding 1..1 with code and system,
// agent.who 1...
func conformProvenance(e entry) error {
	r, p := e.res, e.path
	switch {
	case r.at("target").str("reference") == "" && r.at("target", "identifier").str("value") == "":
		return missing(p+".target", "MedComMessagingProvenance requires the MessageHeader it describes")
	case r.child("occurredDateTime") == nil || !r.child("occurredDateTime").has:
		return missing(p+".occurredDateTime", "MedComMessagingProvenance requires when the activity occurred")
	case r.at("activity", "coding").str("code") == "":
		return missing(p+".activity.coding.code", "MedComMessagingProvenance requires the activity code")
	case r.at("activity", "coding").str("system") == "":
		return missing(p+".activity.coding.system", "MedComMessagingProvenance requires the activity's code system")
	case r.at("agent", "who").str("reference") == "" && r.at("agent", "who", "identifier").str("value") == "":
		return missing(p+".agent.who", "MedComMessagingProvenance requires the agent who performed the activity")
	}
	return nil
}

// conformNotification checks MedComHospitalNotificationMessageHeader
// (focus 1..1) and MedComHospitalNotificationEncounter (status 1..1,
// episodeOfCare.identifier 1.., period.start 1.., serviceProvider 1..).
func (b *bundle) conformNotification(m *Message, h *node, hp string) error {
	if len(h.all("focus")) == 0 {
		return missing(hp+".focus", "a HospitalNotification's MessageHeader points at its Encounter")
	}
	e := m.Encounter
	ep := strings.TrimSuffix(m.classPath, ".class")
	switch {
	case e.Status == "":
		return missing(ep+".status", "MedComHospitalNotificationEncounter requires the status")
	case e.Class == "":
		return missing(ep+".class", "MedComHospitalNotificationEncounter requires the class")
	case len(e.EpisodeOfCare) == 0 || e.StayID.Value == "":
		return missing(ep+".episodeOfCare.identifier", "MedComHospitalNotificationEncounter requires the episode of care identifier")
	case e.Period.Start.IsZero():
		return missing(ep+".period.start", "MedComHospitalNotificationEncounter requires the start of the stay")
	case e.ServiceProvider == nil:
		return missing(ep+".serviceProvider", "MedComHospitalNotificationEncounter requires the service provider")
	}
	return nil
}

// conformCareCommunication checks MedComCareCommunication: identifier,
// a category from MedCom's code system, a topic text for category other
// and where a topic is given, priority only for regarding-referral,
// and payloads: at least one text, each text with its date, identifier
// and author, each attachment with its date, identifier and title.
func (b *bundle) conformCareCommunication(m *Message) error {
	c := b.entries[m.commAt]
	r, p := c.res, c.path
	cat := r.at("category", "coding")
	switch code := strings.ToLower(cat.str("code")); {
	case r.at("identifier").str("value") == "":
		return missing(p+".identifier.value", "MedComCareCommunication requires the communication identifier")
	case code == "":
		return missing(p+".category.coding.code", "MedComCareCommunication requires a category")
	case cat.str("system") == "":
		return missing(p+".category.coding.system", "MedComCareCommunication requires the category's code system")
	case !careCategories[code]:
		return invalid(p+".category.coding.code", fmt.Sprintf("%s is not a MedCom CareCommunication category", quote(cat.str("code"))))
	case r.child("topic") != nil && r.at("topic").str("text") == "":
		return missing(p+".topic.text", "a topic is given as text (MedComCareCommunication)")
	case code == "other" && r.at("topic").str("text") == "":
		return missing(p+".topic", "category other needs a topic (medcom-careCommunication-6)")
	case code != "regarding-referral" && r.str("priority") != "":
		return invalid(p+".priority", "a priority is allowed only with category regarding-referral (medcom-careCommunication-5)")
	case r.child("subject") == nil:
		return missing(p+".subject", "MedComCareCommunication requires the patient")
	}
	texts := 0
	for i, pl := range r.all("payload") {
		pp := fmt.Sprintf("%s.payload[%d]", p, i)
		text, att := pl.child("contentString"), pl.child("contentAttachment")
		if text == nil && att == nil {
			return missing(pp+".content[x]", "a payload holds a text or an attachment")
		}
		if text != nil {
			texts++
		}
		need := []string{extDateTime, extIdentifier}
		if text != nil {
			need = append(need, extAuthor)
		}
		for _, ext := range need {
			v, at := payloadExtension(pl, pp, ext)
			if v == nil {
				return missing(at, "a payload carries its "+ext)
			}
			if ext == extIdentifier && v.at("valueIdentifier").str("value") == "" {
				return missing(at+".valueIdentifier.value", "the payload identifier has no value")
			}
		}
		if att != nil && att.str("title") == "" {
			return missing(pp+".contentAttachment.title", "an attachment has a title (MedComCareCommunication)")
		}
	}
	if texts == 0 {
		return missing(p+".payload", "at least one payload holds a message text (contentString)")
	}
	return nil
}

// payloadExtension finds the extension whose url ends in name; at is its
// path, or the path it is missing from.
func payloadExtension(pl *node, pp, name string) (*node, string) {
	for k, ext := range pl.all("extension") {
		if strings.HasSuffix(ext.str("url"), "/"+name) {
			return ext, fmt.Sprintf("%s.extension[%d]", pp, k)
		}
	}
	return nil, pp + ".extension:" + name
}

// conformPatient checks the patient's identifier: a CPR number, or a
// replacement number where the profile allows one. A HospitalNotification
// names its patient by CPR number (medcom-hospitalNotification-4); a
// CareCommunication may use a replacement number (MedComCorePatient's
// x-ecpr and d-ecpr slices).
func (b *bundle) conformPatient(m *Message) error {
	pp := b.entries[m.patientAt].path
	switch {
	case m.Patient.CPR != "":
		return nil
	case m.Kind == KindHospitalNotification:
		return missing(pp+".identifier", "a HospitalNotification names its patient by CPR number (system "+systemCPR+", medcom-hospitalNotification-4)")
	case m.Patient.Replacement == (Identifier{}):
		return missing(pp+".identifier", "no CPR number (system "+systemCPR+") and no replacement CPR number (systems urn:oid:1.2.208.176.1.6.1.1 and urn:oid:1.2.208.176.1.6.1.3[.n])")
	}
	return nil
}

func missing(path, reason string) *Error {
	return &Error{Path: path, Reason: "missing: " + reason, Code: CodeMissing}
}

func invalid(path, reason string) *Error {
	return &Error{Path: path, Reason: reason, Code: CodeInvalid}
}
