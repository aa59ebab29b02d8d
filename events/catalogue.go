package events

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Type names an event type. Stored type names never change meaning; a new
// meaning gets a new schema version with an upcaster, or a new type.
type Type string

// The event catalogue of a cross-sector pathway (docs/events.md).
const (
	TypePathwayOpened          Type = "PathwayOpened"
	TypePatientAdmitted        Type = "PatientAdmitted"
	TypePatientTransferred     Type = "PatientTransferred"
	TypeLeaveStarted           Type = "LeaveStarted"
	TypeLeaveEnded             Type = "LeaveEnded"
	TypeDischargeExpected      Type = "DischargeExpected"
	TypeReadyForDischarge      Type = "ReadyForDischarge"
	TypePatientDischarged      Type = "PatientDischarged"
	TypePatientDied            Type = "PatientDied"
	TypeHandoffOffered         Type = "HandoffOffered"
	TypeHandoffAccepted        Type = "HandoffAccepted"
	TypeHandoffRejected        Type = "HandoffRejected"
	TypeHandoffWithdrawn       Type = "HandoffWithdrawn"
	TypeResponsibilityReleased Type = "ResponsibilityReleased"
	TypeDocumentRequested      Type = "DocumentRequested"
	TypeDocumentSent           Type = "DocumentSent"
	TypeDocumentAcknowledged   Type = "DocumentAcknowledged"
	TypeServiceStarted         Type = "ServiceStarted"
	TypeDeadlineElapsed        Type = "DeadlineElapsed"
	TypePathwayClosed          Type = "PathwayClosed"
	TypePatientIdentityMerged  Type = "PatientIdentityMerged"
	TypeCorrection             Type = "Correction"
	TypeQuarantineResolved     Type = "QuarantineResolved"
	TypePatientIdentityLinked  Type = "PatientIdentityLinked"
)

// upcasts lists this build's upcasters: the step from each older schema
// version of a type to the next (docs/events.md, "Adding an event type or
// a field"). NewCodec registers them, so the current version of a type is
// one more than its newest step's. Every type is at version 1.
func upcasts() []upcast {
	return nil
}

type upcast struct {
	t    Type
	from int
	up   Upcaster
}

// Payload is the typed body of an event. Every payload validates itself.
type Payload interface {
	Type() Type
	Validate() error
}

// Responsibility is a kind of care a sector can hold for a patient.
type Responsibility string

// The kinds of responsibility that are handed over.
const (
	HospitalStay      Responsibility = "hospital-stay"
	HomeCare          Responsibility = "home-care"
	HomeNursing       Responsibility = "home-nursing"
	Rehabilitation    Responsibility = "rehabilitation"
	GPFollowUp        Responsibility = "gp-follow-up"
	NursingHome       Responsibility = "nursing-home"
	MunicipalBed      Responsibility = "municipal-bed"
	DischargePlanning Responsibility = "discharge-planning"
	// AcuteNursing is the municipal akutfunktion, from 2027 the region's
	// akutsygepleje (events/reference/handoff_receivers.csv).
	AcuteNursing Responsibility = "acute-nursing"
	// SpecialisedRehabilitation is rehabilitation at a specialised level
	// under a rehabilitation plan; the region's from 2027.
	SpecialisedRehabilitation Responsibility = "specialised-rehabilitation"
)

var responsibilities = set(HospitalStay, HomeCare, HomeNursing, Rehabilitation, GPFollowUp, NursingHome, MunicipalBed, DischargePlanning, AcuteNursing, SpecialisedRehabilitation)

// Validate reports whether r is a known kind of responsibility.
func (r Responsibility) Validate() error { return oneOf("what", r, responsibilities) }

// AdmissionClass distinguishes an acute ambulant stay from an inpatient one.
type AdmissionClass string

// Admission classes (MedCom STAA and STIN; HL7 PV1-2 E and I).
const (
	AcuteAmbulant AdmissionClass = "acute-ambulant"
	Inpatient     AdmissionClass = "inpatient"
)

var admissionClasses = set(AcuteAmbulant, Inpatient)

// Destination is where a patient goes on discharge.
type Destination string

// Discharge destinations.
const (
	DestHome               Destination = "home"
	DestHomeWithServices   Destination = "home-with-municipal-services"
	DestNursingHome        Destination = "nursing-home"
	DestMunicipalAcuteBed  Destination = "municipal-acute-bed"
	DestRehabilitationBed  Destination = "municipal-rehabilitation-bed"
	DestOtherHospital      Destination = "other-hospital"
	DestOther              Destination = "other"
	DestUnknownDestination Destination = "unknown"
)

// Receiving returns the responsibility a discharge to d needs a receiver
// for, if any: home care for home with municipal services, a nursing home
// or a municipal bed. The discharge policy and the no-owner gap share it.
func (d Destination) Receiving() (Responsibility, bool) {
	switch d {
	case DestHomeWithServices:
		return HomeCare, true
	case DestNursingHome:
		return NursingHome, true
	case DestMunicipalAcuteBed, DestRehabilitationBed:
		return MunicipalBed, true
	}
	return "", false
}

var destinations = set(DestHome, DestHomeWithServices, DestNursingHome, DestMunicipalAcuteBed, DestRehabilitationBed, DestOtherHospital, DestOther, DestUnknownDestination)

// DocumentKind is a kind of cross-sector document.
type DocumentKind string

// Document kinds (MedCom and OIOXML names in docs/events.md).
const (
	AdmissionReport     DocumentKind = "admission-report"
	CareProcessPlan     DocumentKind = "care-process-plan"
	DischargeReport     DocumentKind = "discharge-report"
	DischargeLetter     DocumentKind = "discharge-letter"
	RehabilitationPlan  DocumentKind = "rehabilitation-plan"
	CareCommunication   DocumentKind = "care-communication"
	HospitalNotice      DocumentKind = "hospital-notification"
	ReadyForDischargeNt DocumentKind = "ready-for-discharge-notice"
)

var documentKinds = set(AdmissionReport, CareProcessPlan, DischargeReport, DischargeLetter, RehabilitationPlan, CareCommunication, HospitalNotice, ReadyForDischargeNt)

// PathwayOpened starts a pathway for one patient. Patient is the keyed
// pseudonym; Identity, when present, holds the CPR number and name
// encrypted with the patient's own key.
type PathwayOpened struct {
	Patient      PatientRef      `json:"patient" codec:"unique"`
	Identity     *SealedIdentity `json:"identity,omitempty"`
	Cluster      string          `json:"cluster" codec:"repeats"`
	Municipality OrgID           `json:"municipality,omitempty"`
	GP           OrgID           `json:"gp,omitempty"`
	Episode      string          `json:"episode,omitempty"`
	// Previous is the patient's pathway this one follows: a readmission
	// after that pathway closed. Absent on a patient's first pathway and
	// on every pathway stored before readmissions were linked.
	Previous uuid.UUID `json:"previous,omitzero"`
	// AgeBand is the patient's age group at the opening, derived at ingest
	// from the CPR number (AgeBandOf); absent when unknown (a replacement
	// CPR, or a pathway stored before age bands were derived).
	AgeBand AgeBand `json:"age_band,omitempty"`
}

// PatientAdmitted says a hospital took the patient in and holds the
// hospital stay.
type PatientAdmitted struct {
	Hospital   OrgID          `json:"hospital"`
	Department string         `json:"department,omitempty" codec:"repeats"`
	Class      AdmissionClass `json:"class"`
	Episode    string         `json:"episode,omitempty"`
	// Notified is the municipality the admission was announced to, if any.
	Notified OrgID `json:"notified,omitempty"`
	// ReportRequested is MedCom's reportOfAdmissionFlag: the hospital asks
	// the municipality for an admission report.
	ReportRequested bool `json:"report_requested,omitempty"`
}

// PatientTransferred moves the hospital stay to another hospital or
// department.
type PatientTransferred struct {
	From       OrgID  `json:"from"`
	To         OrgID  `json:"to"`
	Department string `json:"department,omitempty" codec:"repeats"`
}

// LeaveStarted: the patient is on leave; the hospital stays responsible.
type LeaveStarted struct {
	Hospital OrgID     `json:"hospital"`
	Until    time.Time `json:"until,omitzero"`
}

// LeaveEnded: the patient is back from leave.
type LeaveEnded struct {
	Hospital OrgID `json:"hospital"`
}

// DischargeExpected gives the expected discharge time.
type DischargeExpected struct {
	Hospital OrgID     `json:"hospital"`
	Expected time.Time `json:"expected"`
}

// ReadyForDischarge: the patient is "færdigbehandlet". From this moment
// the municipality pays for the bed (Sundhedsloven §238).
type ReadyForDischarge struct {
	Hospital     OrgID `json:"hospital"`
	Municipality OrgID `json:"municipality,omitempty"`
}

// PatientDischarged: the hospital stay ended. To is the receiving
// organisation where one is named.
type PatientDischarged struct {
	Hospital    OrgID       `json:"hospital"`
	Destination Destination `json:"destination"`
	To          OrgID       `json:"to,omitempty"`
}

// PatientDied: the patient died.
type PatientDied struct {
	Place OrgID `json:"place,omitempty"`
}

// HandoffOffered offers a responsibility to an organisation. Policy names
// the handoff policy that implied the offer, if it was not sent explicitly.
type HandoffOffered struct {
	Offer    string         `json:"offer"`
	From     OrgID          `json:"from"`
	To       OrgID          `json:"to"`
	What     Responsibility `json:"what"`
	Deadline time.Time      `json:"deadline,omitzero"`
	Policy   string         `json:"policy,omitempty" codec:"repeats"`
}

// HandoffAccepted: the addressee took the responsibility.
type HandoffAccepted struct {
	Offer string `json:"offer"`
	By    OrgID  `json:"by"`
}

// HandoffRejected: the addressee declined, with a reason.
type HandoffRejected struct {
	Offer  string `json:"offer"`
	By     OrgID  `json:"by"`
	Reason string `json:"reason" codec:"repeats"`
}

// HandoffWithdrawn: the sender took the offer back.
type HandoffWithdrawn struct {
	Offer  string `json:"offer"`
	By     OrgID  `json:"by"`
	Reason string `json:"reason,omitempty" codec:"repeats"`
}

// ResponsibilityReleased: the holder let go of a responsibility.
type ResponsibilityReleased struct {
	By   OrgID          `json:"by"`
	What Responsibility `json:"what"`
}

// DocumentRequested asks an organisation for a document by a deadline.
type DocumentRequested struct {
	Document string       `json:"document"`
	Kind     DocumentKind `json:"kind"`
	From     OrgID        `json:"from"`
	To       OrgID        `json:"to"`
	Deadline time.Time    `json:"deadline,omitzero"`
}

// DocumentSent: a document went from one organisation to another.
// Deadline is the document's own deadline where it has one (a
// rehabilitation plan's start-by date).
type DocumentSent struct {
	Document string       `json:"document"`
	Kind     DocumentKind `json:"kind"`
	From     OrgID        `json:"from"`
	To       OrgID        `json:"to"`
	Deadline time.Time    `json:"deadline,omitzero"`
	// InReplyTo names the document this one answers, if any.
	InReplyTo string `json:"in_reply_to,omitempty"`
}

// DocumentAcknowledged confirms delivery of a document, and nothing more:
// an acknowledgement never means responsibility was accepted.
type DocumentAcknowledged struct {
	Document string `json:"document"`
	By       OrgID  `json:"by"`
	OK       bool   `json:"ok"`
	Reason   string `json:"reason,omitempty" codec:"repeats"`
}

// ServiceStarted: a receiver began delivering a service (e.g.
// rehabilitation began).
type ServiceStarted struct {
	By   OrgID          `json:"by"`
	What Responsibility `json:"what"`
}

// DeadlineElapsed records that a deadline passed, so escalations live in
// the log and a replay gives the same history. Ref names what had the
// deadline (an offer or document id, or a gap id).
type DeadlineElapsed struct {
	Ref      string    `json:"ref"`
	Rule     string    `json:"rule" codec:"repeats"`
	Deadline time.Time `json:"deadline"`
}

// PathwayClosed ends a pathway. Only a Correction may follow it.
type PathwayClosed struct {
	Reason string `json:"reason" codec:"repeats"`
}

// PatientIdentityMerged joins another pathway's patient into this one
// (HL7 A40, a CPR replacement).
type PatientIdentityMerged struct {
	Survivor      PatientRef `json:"survivor" codec:"unique"`
	Merged        PatientRef `json:"merged" codec:"unique"`
	MergedPathway uuid.UUID  `json:"merged_pathway,omitzero"`
}

// Correction annuls an earlier event of the same pathway by id. Stored
// events are never edited.
type Correction struct {
	Annuls uuid.UUID `json:"annuls"`
	Reason string    `json:"reason" codec:"repeats"`
}

// QuarantineDecision is what the operator decided about a quarantined
// message.
type QuarantineDecision string

// Quarantine decisions.
const (
	// TakeIn: a build that reads the message now takes it in, as if it had
	// never been quarantined (after an upgrade or a fix).
	TakeIn QuarantineDecision = "take-in"
	// Annul: the message is not part of the history, for good; the reason
	// says why.
	Annul QuarantineDecision = "annul"
)

var quarantineDecisions = set(TakeIn, Annul)

// QuarantineResolved records the operator's decision about the stored
// message at Seq, whose bytes have Hash. It is stored on the quarantined
// message's own subject; readers apply it in log order, so every replay
// and instance decides the same at the same point.
type QuarantineResolved struct {
	Seq      uint64             `json:"seq"`
	Hash     string             `json:"hash"`
	Decision QuarantineDecision `json:"decision"`
	Reason   string             `json:"reason,omitempty"`
}

// PatientIdentityLinked records that two identities are one patient, so
// that their pathways are one patient's: a replacement CPR number
// (erstatningspersonnummer) that now has its CPR number, or an identity
// merged into or changed to another (HL7 A40, A47). Patient is the
// identity that stays (the CPR number; HL7 PID-3), Other the one joined
// into it (the replacement number; HL7 MRG-1). Each of the two patients'
// pathways gets one, Joined naming the other pathway when there is one. A
// Correction of it undoes the join (HL7 A37, or an operator).
type PatientIdentityLinked struct {
	Patient PatientRef `json:"patient" codec:"unique"`
	Other   PatientRef `json:"other" codec:"unique"`
	Joined  uuid.UUID  `json:"joined,omitzero"`
	Reason  string     `json:"reason" codec:"repeats"`
}

// Validate implementations: each names the offending field.

func (p *PathwayOpened) Validate() error {
	if err := p.Patient.Validate(); err != nil {
		return prefix("patient", err)
	}
	if err := slug("cluster", p.Cluster); err != nil {
		return err
	}
	if p.AgeBand != "" {
		if err := oneOf("age_band", p.AgeBand, ageBands); err != nil {
			return err
		}
	}
	return firstErr(
		orgOpt("municipality", p.Municipality),
		orgOpt("gp", p.GP),
		text("episode", p.Episode, false),
	)
}

func (p *PatientAdmitted) Validate() error {
	return firstErr(
		org("hospital", p.Hospital),
		oneOf("class", p.Class, admissionClasses),
		orgOpt("notified", p.Notified),
		text("department", p.Department, false),
		text("episode", p.Episode, false),
	)
}

func (p *PatientTransferred) Validate() error {
	if err := firstErr(org("from", p.From), org("to", p.To)); err != nil {
		return err
	}
	return text("department", p.Department, false)
}

func (p *LeaveStarted) Validate() error { return org("hospital", p.Hospital) }
func (p *LeaveEnded) Validate() error   { return org("hospital", p.Hospital) }
func (p *ReadyForDischarge) Validate() error {
	return firstErr(org("hospital", p.Hospital), orgOpt("municipality", p.Municipality))
}

func (p *DischargeExpected) Validate() error {
	return firstErr(org("hospital", p.Hospital), when("expected", p.Expected))
}

func (p *PatientDischarged) Validate() error {
	return firstErr(org("hospital", p.Hospital), oneOf("destination", p.Destination, destinations), orgOpt("to", p.To))
}

func (p *PatientDied) Validate() error { return orgOpt("place", p.Place) }

func (p *HandoffOffered) Validate() error {
	if p.From != "" && p.From == p.To {
		return &ValidationError{Field: "to", Reason: "an organisation cannot offer to itself"}
	}
	return firstErr(text("offer", p.Offer, true), org("from", p.From), org("to", p.To), oneOf("what", p.What, responsibilities))
}

func (p *HandoffAccepted) Validate() error {
	return firstErr(text("offer", p.Offer, true), org("by", p.By))
}

func (p *HandoffRejected) Validate() error {
	return firstErr(text("offer", p.Offer, true), org("by", p.By), text("reason", p.Reason, true))
}

func (p *HandoffWithdrawn) Validate() error {
	return firstErr(text("offer", p.Offer, true), org("by", p.By))
}

func (p *ResponsibilityReleased) Validate() error {
	return firstErr(org("by", p.By), oneOf("what", p.What, responsibilities))
}

func (p *DocumentRequested) Validate() error {
	return firstErr(text("document", p.Document, true), oneOf("kind", p.Kind, documentKinds), org("from", p.From), org("to", p.To))
}

func (p *DocumentSent) Validate() error {
	return firstErr(text("document", p.Document, true), oneOf("kind", p.Kind, documentKinds), org("from", p.From), org("to", p.To))
}

func (p *DocumentAcknowledged) Validate() error {
	return firstErr(text("document", p.Document, true), org("by", p.By))
}

func (p *ServiceStarted) Validate() error {
	return firstErr(org("by", p.By), oneOf("what", p.What, responsibilities))
}

func (p *DeadlineElapsed) Validate() error {
	return firstErr(text("ref", p.Ref, true), text("rule", p.Rule, true), when("deadline", p.Deadline))
}

func (p *PathwayClosed) Validate() error { return text("reason", p.Reason, true) }

func (p *PatientIdentityMerged) Validate() error {
	if err := p.Survivor.Validate(); err != nil {
		return prefix("survivor", err)
	}
	if err := p.Merged.Validate(); err != nil {
		return prefix("merged", err)
	}
	if p.Survivor == p.Merged {
		return &ValidationError{Field: "merged", Reason: "same patient as survivor"}
	}
	return nil
}

func (p *PatientIdentityLinked) Validate() error {
	if err := p.Patient.Validate(); err != nil {
		return prefix("patient", err)
	}
	if err := p.Other.Validate(); err != nil {
		return prefix("other", err)
	}
	if p.Patient == p.Other {
		return &ValidationError{Field: "other", Reason: "the same patient"}
	}
	return text("reason", p.Reason, true)
}

func (p *Correction) Validate() error {
	if p.Annuls == uuid.Nil {
		return &ValidationError{Field: "annuls", Reason: "missing"}
	}
	return text("reason", p.Reason, true)
}

func (p *QuarantineResolved) Validate() error {
	switch {
	case p.Seq == 0:
		return &ValidationError{Field: "seq", Reason: "missing"}
	case !strings.HasPrefix(p.Hash, "sha256:"):
		return &ValidationError{Field: "hash", Reason: "want sha256: and the hex digest"}
	}
	if err := oneOf("decision", p.Decision, quarantineDecisions); err != nil {
		return err
	}
	return text("reason", p.Reason, p.Decision == Annul)
}

// Field checks shared by the Validate methods.

const maxText = 4096

func text(field, v string, required bool) error {
	switch {
	case required && v == "":
		return &ValidationError{Field: field, Reason: "missing"}
	case len(v) > maxText:
		return &ValidationError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", maxText)}
	}
	return nil
}

func when(field string, t time.Time) error {
	if t.IsZero() {
		return &ValidationError{Field: field, Reason: "missing"}
	}
	return nil
}

func org(field string, id OrgID) error {
	if id == "" {
		return &ValidationError{Field: field, Reason: "missing"}
	}
	return orgOpt(field, id)
}

func orgOpt(field string, id OrgID) error {
	if id == "" {
		return nil
	}
	if err := id.Validate(); err != nil {
		return &ValidationError{Field: field, Reason: err.(*ValidationError).Reason}
	}
	return nil
}

func oneOf[T ~string](field string, v T, allowed map[T]bool) error {
	if v == "" {
		return &ValidationError{Field: field, Reason: "missing"}
	}
	if !allowed[v] {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("unknown value %q", string(v))}
	}
	return nil
}

func set[T comparable](vs ...T) map[T]bool {
	m := make(map[T]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
