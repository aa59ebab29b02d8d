package medcom

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// System is the Source.System of every event translated from a MedCom
// message, and the ingest channel the translator serves.
const System = "medcom"

// maxEpisode bounds the episode-of-care id taken from a message; LPR3 ids
// are UUIDs, and the id ends up in PathwayOpened.
const maxEpisode = 256

// Translator turns MedCom messages into domain events, naming
// organisations by the directory's ids. It is pure and safe for
// concurrent use; docs/adapters.md ("MedCom FHIR") has the mapping tables.
type Translator struct {
	dir *events.Directory
}

// NewTranslator returns a Translator that resolves SOR and EAN identifiers
// through dir. A nil dir knows no organisation: every organisation is then
// named by its SOR code.
func NewTranslator(dir *events.Directory) *Translator {
	return &Translator{dir: dir}
}

// Translate parses a MedCom message (JSON or XML) and returns the events it
// means, with what the ingest needs to find the pathway:
//
//   - a HospitalNotification yields the admission, leave, discharge or
//     death its code means, and a DocumentSent for the notification itself;
//     its RE_ and AN_ variants ask the ingest, through Cancels, to annul the
//     events of the earlier message they correct or cancel;
//   - a CareCommunication yields a DocumentSent. Its free text is never
//     read: accepting responsibility is an explicit act through the API,
//     never inferred from a reply;
//   - an Acknowledgement yields a DocumentAcknowledged, which confirms
//     delivery and never means that responsibility was accepted.
//
// Source.MessageID is MessageHeader.id, which MedCom keeps on a resend (the
// Bundle.id is new on every send), so a resent message is appended once.
//
// Every error is an *events.MessageError whose Field is a FHIR path;
// Rejected is true only when body is not a FHIR message at all. No error
// names the patient.
func (t *Translator) Translate(body []byte) (*events.Translation, error) {
	m, err := Parse(body)
	if err != nil {
		return nil, parseError(err)
	}
	tr, err := t.translate(m)
	if err != nil {
		return nil, err
	}
	// The mapping keeps every event valid; this guards the invariant the
	// ingest relies on, so a gap in it is a clear error and not a rejected
	// append.
	for _, p := range tr.Payloads {
		if err := p.Validate(); err != nil {
			var ve *events.ValidationError
			reason := err.Error()
			if errors.As(err, &ve) {
				reason = fmt.Sprintf("%s.%s: %s", p.Type(), ve.Field, ve.Reason)
			}
			return nil, &events.MessageError{Code: "invalid-event", Reason: reason}
		}
	}
	return tr, nil
}

func parseError(err error) error {
	var e *Error
	switch {
	case errors.Is(err, ErrNotMedCom):
		return &events.MessageError{Code: "not-medcom", Reason: strings.TrimPrefix(err.Error(), "medcom: "), Rejected: true}
	case errors.As(err, &e):
		// An *Error without a path is input that could not be decoded.
		code := e.Code
		if code == "" {
			code = "parse"
		}
		return &events.MessageError{Code: code, Field: e.Path, Reason: e.Reason, Rejected: e.Path == ""}
	}
	return &events.MessageError{Code: "parse", Reason: err.Error(), Rejected: true}
}

func (t *Translator) translate(m *Message) (*events.Translation, error) {
	switch m.Kind {
	case KindHospitalNotification:
		return t.notification(m)
	case KindCareCommunication:
		return t.careCommunication(m)
	case KindAcknowledgement:
		return t.acknowledgement(m)
	case KindEmpty:
		// MedCom's message with no content: delivered, and nothing for a
		// pathway.
		return &events.Translation{Source: events.Source{System: System, MessageID: m.HeaderID}}, nil
	}
	return nil, &events.MessageError{Code: "unknown-event", Field: m.eventPath, Reason: fmt.Sprintf("%s messages are not translated; Stafet reads %s, %s and %s",
		quote(string(m.Kind)), KindHospitalNotification, KindCareCommunication, KindAcknowledgement)}
}

// party is an organisation named in a message, as the directory knows it.
type party struct {
	id events.OrgID
	// kind is the organisation's kind in the directory; empty when the
	// directory does not know it.
	kind events.Kind
	// how says how the directory matched it, for stafet translate.
	how string
}

func (p party) known() bool { return p.kind != "" }

// of describes the party as Translation.Parties lists it.
func (p party) of(role, field string, o Organization) events.Party {
	var ids []string
	if o.SOR != "" {
		ids = append(ids, "SOR "+o.SOR)
	}
	if o.EAN != "" {
		ids = append(ids, "EAN "+o.EAN)
	}
	read := strings.Join(ids, ", ")
	if o.Name != "" {
		read += " (" + o.Name + ")"
	}
	return events.Party{Role: role, Field: field, Read: strings.TrimSpace(read), Org: p.id, Kind: p.kind, How: p.how}
}

// Parties returns the sender and receiver of a message and what the
// directory makes of them, also for a message that does not translate
// (one a profile check refuses included); nil if it cannot be read.
func (t *Translator) Parties(body []byte) []events.Party {
	m, err := ParseUnchecked(body)
	if err != nil {
		return nil
	}
	var out []events.Party
	for _, x := range []struct {
		role, path string
		o          Organization
	}{{"sender", senderPath, m.Sender}, {"receiver", receiverPath, m.Receiver.Organization}} {
		p, err := t.resolve(x.o, x.path)
		if err != nil {
			p.how = "not mapped: " + strings.TrimPrefix(err.Error(), "message: ")
		}
		out = append(out, p.of(x.role, x.path, x.o))
	}
	return out
}

// Paths of the MessageHeader elements that name organisations; Parse
// guarantees the MessageHeader is the first entry.
const (
	senderPath   = "Bundle.entry[0].resource.sender"
	receiverPath = "Bundle.entry[0].resource.destination"
)

// resolve names an Organization by the directory: by its SOR code (the
// directory may know a municipality's SOR codes as aliases), else by its
// EAN/GLN number, else, unknown, as sor:<code>. An organisation known by
// neither is an error: Stafet has no id for it.
func (t *Translator) resolve(o Organization, path string) (party, error) {
	sor := o.SOR
	if sor != "" && (len(sor) > 32 || !isDigits(sor)) {
		return party{}, &events.MessageError{Code: "invalid-field", Field: path, Reason: fmt.Sprintf("the SOR identifier of Organization/%s is not 1 to 32 digits", quote(o.ID))}
	}
	if t.dir != nil {
		if sor != "" {
			org, ok := t.dir.Lookup(events.SOR(sor))
			how := "SOR code"
			if !ok && len(sor) != 4 { // four digits would be taken for a municipality code
				org, how, ok = t.dir.Match(sor)
			}
			if ok {
				return party{id: org.ID, kind: org.Kind, how: how + " in the directory"}, nil
			}
		}
		if o.EAN != "" {
			if org, ok := t.dir.ByEAN(o.EAN); ok {
				return party{id: org.ID, kind: org.Kind, how: "EAN in the directory"}, nil
			}
		}
	}
	switch {
	case sor != "":
		return party{id: events.SOR(sor), how: "not in the directory: named by its SOR code"}, nil
	case o.EAN != "":
		return party{}, &events.MessageError{Code: "unknown-organisation", Field: path, Reason: fmt.Sprintf("Organization/%s has no SOR identifier and its EAN %s is not in the directory", quote(o.ID), quote(o.EAN))}
	}
	return party{}, &events.MessageError{Code: "missing-field", Field: path, Reason: fmt.Sprintf("Organization/%s has neither a SOR nor an EAN identifier", quote(o.ID))}
}

// base builds the parts every translation shares: sender and receiver,
// source, actor and time.
func (t *Translator) base(m *Message) (tr *events.Translation, sender, receiver party, err error) {
	if sender, err = t.resolve(m.Sender, senderPath); err != nil {
		return nil, sender, receiver, err
	}
	if receiver, err = t.resolve(m.Receiver.Organization, receiverPath); err != nil {
		return nil, sender, receiver, err
	}
	tr = &events.Translation{
		Source:  events.Source{System: System, Org: sender.id, MessageID: m.HeaderID},
		Actor:   events.Actor{Org: sender.id},
		Parties: []events.Party{sender.of("sender", senderPath, m.Sender), receiver.of("receiver", receiverPath, m.Receiver.Organization)},
	}
	if tr.OccurredAt, err = occurredAt(m); err != nil {
		return nil, sender, receiver, err
	}
	return tr, sender, receiver, nil
}

// occurredAt is when the message says the activity took place: the current
// Provenance's occurredDateTime, else the Encounter's period (its end once
// the stay is over), else Bundle.timestamp.
func occurredAt(m *Message) (time.Time, error) {
	at, field := m.Timestamp, "Bundle.timestamp"
	if p := m.CurrentProvenance(); p != nil && !p.Occurred.IsZero() {
		at, field = p.Occurred, p.path+".occurredDateTime"
	} else if e := m.Encounter; e != nil && !e.Period.End.IsZero() {
		at, field = e.Period.End, "Encounter.period.end"
	} else if e != nil && !e.Period.Start.IsZero() {
		at, field = e.Period.Start, "Encounter.period.start"
	}
	// The event log writes times in UTC, and JSON holds years 0 to 9999.
	if y := at.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, &events.MessageError{Code: "invalid-field", Field: field, Reason: "year outside 1-9999 in UTC"}
	}
	return at, nil
}

// setPatient sets the patient and, from the Encounter, the episode of care.
//
// The patient is named by the CPR number, else by a replacement number
// (erstatningspersonnummer), which CareCommunication allows; Parse has
// refused a message that names the patient by neither.
func setPatient(tr *events.Translation, m *Message) error {
	name := append(slices.Clone(m.Patient.Given), m.Patient.Family)
	tr.Patient = events.Identity{Name: strings.TrimSpace(strings.Join(name, " "))}
	if m.Patient.CPR != "" {
		cpr, err := events.NormalizeCPR(m.Patient.CPR)
		if err != nil {
			return &events.MessageError{Code: "invalid-field", Field: "Patient.identifier", Reason: "the CPR identifier is not a CPR number (want 10 digits, DDMMYY first)"}
		}
		tr.Patient.CPR = cpr
		if r, err := events.NormalizeReplacement(m.Patient.Replacement.System, m.Patient.Replacement.Value); err == nil {
			// The Patient names both: the replacement number is this
			// patient's, so its pathway, if any, joins this one. MedCom has
			// no patient-link message; this is where its messages link.
			tr.MergedPatient = &events.Identity{Replacement: r}
			tr.MergeReason = "MedCom Patient named by a CPR number and a replacement number"
		}
	} else {
		r, err := events.NormalizeReplacement(m.Patient.Replacement.System, m.Patient.Replacement.Value)
		if err != nil {
			return &events.MessageError{Code: "invalid-field", Field: "Patient.identifier", Reason: "the replacement CPR identifier is not a replacement CPR number (want DDMMYY, a digit, two letters and a digit)"}
		}
		tr.Patient.Replacement = r
	}
	if m.Encounter != nil {
		ep := episode(m.Encounter.StayID)
		if len(ep) > maxEpisode {
			return &events.MessageError{Code: "invalid-field", Field: "Encounter.episodeOfCare.identifier.value", Reason: fmt.Sprintf("longer than %d bytes", maxEpisode)}
		}
		tr.Episode = ep
	}
	return nil
}

// episode returns the stay id as the pathway index keys it. Senders write
// the same UUID bare and as a urn:uuid: URI, in either case; a UUID is
// kept in its canonical form so that both find the same pathway. Any other
// id is unique only within its issuer, which the identifier's system names,
// so it is kept with the system: the index must never join two patients'
// stays.
func episode(id Identifier) string {
	v := strings.TrimSpace(id.Value)
	if u, err := uuid.Parse(v); err == nil {
		return u.String()
	}
	if v == "" || id.System == "" {
		return v
	}
	return id.System + "|" + v
}

// notification translates a HospitalNotification by its code.
func (t *Translator) notification(m *Message) (*events.Translation, error) {
	code, err := m.NotificationCode()
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, &events.MessageError{Code: "unknown-notification-code", Field: e.Path, Reason: e.Reason}
		}
		return nil, &events.MessageError{Code: "unknown-notification-code", Reason: err.Error()}
	}
	tr, sender, receiver, err := t.base(m)
	if err != nil {
		return nil, err
	}
	if err := setPatient(tr, m); err != nil {
		return nil, err
	}
	hospital := sender
	if sp := m.Encounter.ServiceProvider; sp != nil {
		if hospital, err = t.resolve(*sp, strings.TrimSuffix(m.classPath, ".class")+".serviceProvider"); err != nil {
			return nil, err
		}
	}
	if sp := m.Encounter.ServiceProvider; sp != nil {
		tr.Parties = append(tr.Parties, hospital.of("hospital", strings.TrimSuffix(m.classPath, ".class")+".serviceProvider", *sp))
	}
	var department string
	tr.Hospital, department = t.hospitalOf(hospital)
	if hospital.known() {
		tr.Cluster = t.dir.ClusterOf(tr.Hospital)
	}
	// A HospitalNotification goes to the municipality that provides the
	// patient's services. The receiver counts as that municipality unless
	// the directory knows it as something else; only a receiver the
	// directory knows as a municipality describes the pathway.
	var notified events.OrgID
	if !receiver.known() || receiver.kind == events.KindMunicipality {
		notified = receiver.id
	}
	if receiver.kind == events.KindMunicipality {
		tr.Municipality = receiver.id
	}

	// RE_ and AN_ name the message they correct or cancel in the current
	// Provenance (NotificationCode found it, so it is there).
	prov := m.CurrentProvenance()
	variant, base := "", code
	if v, b, ok := strings.Cut(code, "_"); ok {
		variant, base = v, b
	}
	if variant != "" {
		what := map[string]string{"RE": "correction", "AN": "cancellation"}[variant]
		if prov.Previous == "" {
			return nil, &events.MessageError{Code: "missing-field", Field: prov.path + ".entity", Reason: fmt.Sprintf("a %s (%s) names no earlier MessageHeader", what, code)}
		}
		tr.Cancels = &events.Cancel{SourceMessageID: prov.Previous, Reason: code + " " + what}
	}
	if variant != "AN" {
		tr.Payloads = append(tr.Payloads, notificationEvent(base, m, tr.Episode, tr.Hospital, department, notified))
	}
	tr.Document = m.HeaderID
	tr.Payloads = append(tr.Payloads, &events.DocumentSent{Document: m.HeaderID, Kind: events.HospitalNotice, From: sender.id, To: receiver.id})
	return tr, nil
}

// notificationEvent is the event a notification code (without its RE_ or
// AN_ prefix) means; notified is the receiving municipality, if the
// receiver is one. NotificationCode returns no other codes.
func notificationEvent(code string, m *Message, episode string, hospital events.OrgID, department string, notified events.OrgID) events.Payload {
	switch code {
	case "STIN", "STAA":
		class := events.Inpatient
		if code == "STAA" {
			class = events.AcuteAmbulant
		}
		return &events.PatientAdmitted{Hospital: hospital, Department: department, Class: class, Episode: episode, Notified: notified, ReportRequested: m.Encounter.ReportOfAdmission}
	case "STOR":
		p := &events.LeaveStarted{Hospital: hospital}
		if l := m.Encounter.Leave; l != nil {
			p.Until = l.End
		}
		return p
	case "SLOR":
		return &events.LeaveEnded{Hospital: hospital}
	case "SLHJ":
		p := &events.PatientDischarged{Hospital: hospital, Destination: events.DestHome}
		if notified != "" {
			p.Destination, p.To = events.DestHomeWithServices, notified
		}
		return p
	}
	// MORS: a death in hospital ends the stay; the pathway rules need no
	// discharge besides it.
	return &events.PatientDied{Place: hospital}
}

// hospitalOf returns the hospital a unit belongs to, walking up the
// directory's parents while they are hospitals, and the unit as the
// department when it is not the hospital itself. The HL7 v2 translator
// names a stay's hospital the same way, so that the two feeds of one
// hospital agree on who holds the stay.
func (t *Translator) hospitalOf(unit party) (hospital events.OrgID, department string) {
	if unit.kind != events.KindHospital {
		return unit.id, ""
	}
	h := unit.id
	for range 8 {
		o, _ := t.dir.Lookup(h)
		p, ok := t.dir.Lookup(o.Parent)
		if o.Parent == "" || !ok || p.Kind != events.KindHospital {
			break
		}
		h = p.ID
	}
	if h == unit.id {
		return h, ""
	}
	return h, string(unit.id)
}

// careCommunication translates a CareCommunication into the document it is.
func (t *Translator) careCommunication(m *Message) (*events.Translation, error) {
	prov := m.CurrentProvenance()
	if prov == nil {
		return nil, &events.MessageError{Code: "missing-field", Field: "Bundle.entry", Reason: "no Provenance has MessageHeader/" + m.HeaderID + " as its target"}
	}
	tr, sender, receiver, err := t.base(m)
	if err != nil {
		return nil, err
	}
	if err := setPatient(tr, m); err != nil {
		return nil, err
	}
	for _, p := range []party{sender, receiver} {
		switch {
		case p.kind == events.KindHospital && tr.Hospital == "":
			tr.Hospital = p.id
			tr.Cluster = t.dir.ClusterOf(p.id)
		case p.kind == events.KindMunicipality && tr.Municipality == "":
			tr.Municipality = p.id
		case p.kind == events.KindGP && tr.GP == "":
			tr.GP = p.id
		}
	}
	doc := &events.DocumentSent{Document: m.HeaderID, Kind: events.CareCommunication, From: sender.id, To: receiver.id}
	earlier := func(verb string) error {
		if prov.Previous == "" {
			return &events.MessageError{Code: "missing-field", Field: prov.path + ".entity", Reason: "a " + prov.Activity + " names no earlier MessageHeader to " + verb}
		}
		return nil
	}
	switch prov.Activity {
	case "new-message", "forward-message":
	case "reply-message":
		doc.InReplyTo = prov.Previous
	case "modified-message":
		if err := earlier("correct"); err != nil {
			return nil, err
		}
		tr.Cancels = &events.Cancel{SourceMessageID: prov.Previous, Reason: "CareCommunication modified-message correction"}
	case "retract-message":
		if err := earlier("retract"); err != nil {
			return nil, err
		}
		tr.Cancels = &events.Cancel{SourceMessageID: prov.Previous, Reason: "CareCommunication retract-message"}
	default:
		return nil, &events.MessageError{Code: "unknown-activity", Field: prov.path + ".activity", Reason: fmt.Sprintf("%s is not a CareCommunication activity", quote(prov.Activity))}
	}
	tr.Document = m.HeaderID
	tr.Payloads = []events.Payload{doc}
	return tr, nil
}

// acknowledgement translates an Acknowledgement. It names no patient: the
// acknowledged document does.
func (t *Translator) acknowledgement(m *Message) (*events.Translation, error) {
	tr, sender, _, err := t.base(m)
	if err != nil {
		return nil, err
	}
	a := m.Acknowledgement
	tr.Payloads = []events.Payload{&events.DocumentAcknowledged{Document: a.ResponseTo, By: sender.id, OK: a.Code == "ok", Reason: ackReason(a)}}
	return tr, nil
}

// ackReason sums up a negative acknowledgement by its codes. The issues'
// texts are left out: they are free text from another system and could
// name the patient, and the event log keeps no patient data in clear.
func ackReason(a *Acknowledgement) string {
	var codes []string
	for _, is := range a.Issues {
		c := is.Detail
		if c == "" {
			c = is.Code
		}
		if isCode(c) {
			codes = append(codes, c)
		}
	}
	switch {
	case a.Code == "ok" && len(codes) == 0:
		return ""
	case len(codes) == 0:
		return a.Code
	}
	return a.Code + ": " + strings.Join(codes, ", ")
}

// isCode reports whether s looks like a code from a code system, and so is
// safe to keep.
func isCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
