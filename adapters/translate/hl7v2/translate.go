package hl7v2

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/events"
)

// System names the HL7 v2 channel: RawMessage.System, Source.System and
// the key of the ingest's translator map.
const System = "hl7v2"

// Translator reads HL7 v2 ADT messages as pathway events. It is pure: the
// same message and directory always give the same Translation. It is safe
// for concurrent use.
//
// The mapping (docs/adapters.md has the tables):
//
//	A01 admit, A04 register       PatientAdmitted, class from PV1-2 (E acute-ambulant, I/B inpatient)
//	A06 outpatient → inpatient    PatientAdmitted with the new class (a class change at the same hospital)
//	A07 inpatient → outpatient    PatientAdmitted acute-ambulant for PV1-2 E, else PatientDischarged
//	A02 transfer                  PatientTransferred, from PV1-6, to PV1-3
//	A03 discharge                 PatientDischarged (PV1-36, PV1-37); PatientDied instead on a death
//	A08 update                    DischargeExpected when PV2-9 is set, else nothing
//	A16 pending discharge         DischargeExpected (PV2-9, else EVN-3, else PV1-45)
//	A21, A22 leave out, return    LeaveStarted (until PV2-47), LeaveEnded
//	A11, A12, A13, A25, A52, A53  Cancels the latest admission, transfer, discharge, expected discharge, leave start, leave end
//	A40, A18, A30, A34, A36, A39  merges: MergedPatient from MRG-1
//	A46, A47                      changes of identifier: MergedPatient from MRG-1 (the old identifier)
//	A24, A37                      link, unlink: MergedPatient from the second PID-3 (Unlink for A37)
//	A43, A45                      error unsupported-trigger: moving records between patients is done by hand
//	A05, A14, A15, A26, A27, …    nothing: pre-admissions, pending events, demographics, accounts (table in docs/adapters.md)
//
// A message that means nothing for a pathway (the last row, an outpatient
// class O, R or P on a stay trigger, an A08 without PV2-9, a merge whose
// MRG-1 names no CPR or replacement number) gives a Translation with no
// payloads, no Cancels and no MergedPatient, and no patient, so that
// nothing is appended and no pathway is opened for it.
type Translator struct {
	dir *events.Directory
	loc *time.Location
}

// NewTranslator returns a Translator that resolves organisations in dir
// and reads times without an offset in loc; a nil loc means
// Europe/Copenhagen (UTC where the time zone database is missing).
func NewTranslator(dir *events.Directory, loc *time.Location) *Translator {
	if loc == nil {
		loc = copenhagen()
	}
	return &Translator{dir: dir, loc: loc}
}

func copenhagen() *time.Location {
	if loc, err := time.LoadLocation("Europe/Copenhagen"); err == nil {
		return loc
	}
	return time.UTC
}

// Translate parses body and maps its ADT trigger to events. Errors are
// *events.MessageError: Rejected for a message that cannot be parsed (HL7
// AR), else naming the field that makes it invalid (HL7 AE). It has the
// signature of ingest.Translator.
func (t *Translator) Translate(body []byte) (*events.Translation, error) {
	m, err := Parse(body)
	if err != nil {
		return nil, parseFailure(err)
	}
	x := &reader{t: t, m: m}
	trigger, err := x.trigger()
	if err != nil {
		return nil, err
	}
	r, ok := rules(trigger)
	if !ok {
		return nil, &events.MessageError{Code: "unknown-trigger", Field: "MSH-9", Reason: fmt.Sprintf("trigger event %s is not one Stafet maps (docs/adapters.md)", clip(trigger, 8))}
	}
	x.senderReceiver()
	nothing := &events.Translation{Source: events.Source{System: System, MessageID: m.ControlID()}, Parties: x.parties}
	if x.class = strings.ToUpper(x.get("PV1-2.1")); x.class == "" {
		x.class = r.class
	}
	if r.apply == nil || (r.stay && outpatient(x.class)) || (r.other != nil && !x.namesPatient(r.other(x))) {
		return nothing, nil
	}
	tr, err := x.base()
	if err != nil {
		return nil, err
	}
	if err := r.apply(x, tr); err != nil {
		if errors.Is(err, errNothing) {
			nothing.Parties = x.parties
			return nothing, nil
		}
		return nil, err
	}
	tr.Parties = x.parties
	return tr, nil
}

// Parties returns the sender (MSH-3, MSH-4) and receiver (MSH-5, MSH-6) of
// a message and what the directory makes of them, also for a message that
// does not translate; nil if it does not parse.
func (t *Translator) Parties(body []byte) []events.Party {
	m, err := Parse(body)
	if err != nil {
		return nil
	}
	x := &reader{t: t, m: m}
	x.senderReceiver()
	return x.parties
}

// senderReceiver notes the sending and receiving application and
// facility. The sending facility is looked up in the directory; it names
// the hospital only when PV1 names none (hospital).
func (x *reader) senderReceiver() {
	for _, f := range []struct{ role, field, app, facility string }{
		{"sender", "MSH-3/MSH-4", "MSH-3", "MSH-4"},
		{"receiver", "MSH-5/MSH-6", "MSH-5", "MSH-6"},
	} {
		read := x.get(f.app) + " / " + x.get(f.facility)
		unit, _, err := x.organisation(f.facility, x.get(f.facility+".1"), x.get(f.facility+".2"))
		x.note(f.role, f.field, read, unit, err == nil)
	}
}

// note records an organisation the message names and what the directory
// makes of it; known is false when the directory does not know it.
func (x *reader) note(role, field, read string, o events.Organisation, known bool) {
	p := events.Party{Role: role, Field: field, Read: read, How: "not in the directory"}
	if known {
		p.Org, p.Kind, p.How = o.ID, o.Kind, x.how+" in the directory"
	}
	x.parties = append(x.parties, p)
}

// parseFailure turns a Parse error into a rejection naming the place.
func parseFailure(err error) *events.MessageError {
	me := &events.MessageError{Code: "parse", Reason: err.Error(), Rejected: true}
	var pe *ParseError
	if errors.As(err, &pe) {
		me.Reason = pe.Reason
		me.Field = pe.Segment
		if pe.Segment != "" && pe.Field > 0 {
			me.Field += "-" + strconv.Itoa(pe.Field)
		}
	}
	return me
}

// errNothing tells Translate that a message means nothing for a pathway.
var errNothing = errors.New("hl7v2: nothing to append")

// rule is what Stafet does with one trigger event.
type rule struct {
	// stay marks a trigger about a hospital stay: an outpatient class in
	// PV1-2 makes it mean nothing.
	stay bool
	// class is the patient class the trigger implies when PV1-2 is empty.
	class string
	// apply adds the events; nil means the trigger never means anything.
	apply func(x *reader, tr *events.Translation) error
	// other, for a trigger that joins two identities (a merge, a change
	// of identifier, a link), finds the other identity: one that names no
	// CPR or replacement number joins local records only, and means
	// nothing.
	other func(x *reader) (Segment, int)
}

func rules(trigger string) (rule, bool) {
	switch trigger {
	case "A01", "A06":
		return rule{stay: true, class: "I", apply: admit}, true
	case "A04":
		return rule{stay: true, class: "O", apply: admit}, true
	case "A07":
		return rule{apply: toOutpatient}, true
	case "A02":
		return rule{stay: true, apply: transfer}, true
	case "A03":
		return rule{stay: true, apply: discharge}, true
	case "A08":
		return rule{stay: true, apply: patientUpdate}, true
	case "A16":
		return rule{stay: true, apply: pendingDischarge}, true
	case "A21":
		return rule{stay: true, apply: leaveStart}, true
	case "A22":
		return rule{stay: true, apply: leaveEnd}, true
	case "A11":
		return rule{stay: true, apply: cancel(events.TypePatientAdmitted, "HL7 A11 cancel admit")}, true
	case "A12":
		return rule{stay: true, apply: cancel(events.TypePatientTransferred, "HL7 A12 cancel transfer")}, true
	case "A13":
		return rule{stay: true, apply: cancel(events.TypePatientDischarged, "HL7 A13 cancel discharge")}, true
	case "A25":
		return rule{stay: true, apply: cancel(events.TypeDischargeExpected, "HL7 A25 cancel pending discharge")}, true
	case "A52":
		return rule{stay: true, apply: cancel(events.TypeLeaveStarted, "HL7 A52 cancel leave of absence")}, true
	case "A53":
		return rule{stay: true, apply: cancel(events.TypeLeaveEnded, "HL7 A53 cancel return from leave of absence")}, true
	case "A40", "A18", "A30", "A34", "A36", "A39", "A46", "A47":
		// Merges (A40 and its older forms) and changes of identifier
		// (A46, A47, e.g. a replacement CPR number replaced by the CPR
		// number) alike say that MRG-1 and PID-3 are one patient.
		return rule{apply: joins(mrg1, joinNames[trigger], false), other: mrg1}, true
	case "A24":
		// Link patient information: the two PID segments are one patient.
		return rule{apply: joins(secondPID, joinNames[trigger], false), other: secondPID}, true
	case "A37":
		// Unlink patient information: they are not (undoes A24, or a
		// join Stafet made from another message).
		return rule{apply: joins(secondPID, joinNames[trigger], true), other: secondPID}, true
	case "A43", "A45":
		return rule{apply: move}, true
	case "A05", "A14", "A15", "A26", "A27", "A38", // plans: nothing has happened yet
		"A09", "A10", "A32", "A33", // tracking within the hospital, and its cancels
		"A17", "A20", // bed swaps and bed status
		"A23",                      // housekeeping: a system purges old visit data (errors are cancelled with A11–A13)
		"A28", "A29", "A31", "A48", // person and demographic records
		"A35", "A41", "A44", "A49", // accounts: billing, not stays
		"A42", "A50", "A51", // visit numbers merged or changed: the patient's pathway still finds the stay
		"A54", "A55", "A60", "A61", "A62": // doctors and allergies
		return rule{}, true
	}
	return rule{}, false
}

// reader reads one message for one translation.
type reader struct {
	t *Translator
	m *Message
	// class is the patient class (PV1-2, HL7 table 0004), or the one the
	// trigger implies when PV1-2 is empty.
	class      string
	department string
	// parties are the organisations read so far; how is how the last
	// one organisation resolved (events.Directory.Match).
	parties []events.Party
	how     string
}

// get returns the trimmed value at path; the HL7 null "" reads as empty.
func (x *reader) get(path string) string {
	v := strings.TrimSpace(x.m.Get(path))
	if v == `""` {
		return ""
	}
	return v
}

// trigger reads the trigger event from MSH-9.2; a message that leaves it
// out gets it from EVN-1, else from the message structure (MSH-9.3, or
// MSH-9.1 written as "ADT_A01").
func (x *reader) trigger() (string, error) {
	code, trigger, structure := x.m.MessageType()
	code, trigger, structure = strings.ToUpper(strings.TrimSpace(code)), strings.ToUpper(strings.TrimSpace(trigger)), strings.ToUpper(strings.TrimSpace(structure))
	if strings.HasPrefix(code, "ADT_") && trigger == "" {
		code, structure = "ADT", code
	}
	if code != "ADT" {
		return "", &events.MessageError{Code: "unknown-trigger", Field: "MSH-9", Reason: fmt.Sprintf("message type %s is not ADT", clip(code, 8))}
	}
	if trigger == "" {
		trigger = strings.ToUpper(x.get("EVN-1"))
	}
	if trigger == "" {
		if _, s, ok := strings.Cut(structure, "_"); ok {
			trigger = s
		}
	}
	if trigger == "" {
		return "", &events.MessageError{Code: "unknown-trigger", Field: "MSH-9", Reason: "no trigger event in MSH-9.2, EVN-1 or the message structure"}
	}
	return trigger, nil
}

// outpatient reports a class that is no hospital stay in the cross-sector
// sense: outpatient, recurring patient, pre-admitted.
func outpatient(class string) bool { return class == "O" || class == "R" || class == "P" }

// base reads what every event of the message shares: hospital, time,
// patient, episode and the pathway's context.
func (x *reader) base() (*events.Translation, error) {
	hospital, err := x.hospital()
	if err != nil {
		return nil, err
	}
	at, err := x.occurredAt()
	if err != nil {
		return nil, err
	}
	pid, _ := x.m.Segment("PID")
	patient, err := x.patient(pid, 3)
	if err != nil {
		return nil, err
	}
	patient.Name = x.name()
	return &events.Translation{
		Patient:      patient,
		Episode:      x.episode(hospital),
		Hospital:     hospital,
		Municipality: x.municipality(),
		GP:           x.gp(),
		Source:       events.Source{System: System, Org: hospital, MessageID: x.m.ControlID()},
		Actor:        events.Actor{Org: hospital},
		OccurredAt:   at,
	}, nil
}

// hospital finds the hospital the message is about: the facility of the
// assigned location (PV1-3.4), else the servicing facility (PV1-39), else
// the sending facility (MSH-4). The first of them the message fills in
// must be in the directory: falling back past a facility Stafet does not
// know could put the stay at the wrong hospital. A department resolves to
// its hospital (Organisation.Parent), and becomes the department when
// PV1-3.1 gives none.
func (x *reader) hospital() (events.OrgID, error) {
	x.department = x.get("PV1-3.1")
	for _, f := range []struct {
		field string
		names []string
	}{
		{"PV1-3.4", []string{x.get("PV1-3.4.1"), x.get("PV1-3.4.2")}},
		{"PV1-39", []string{x.get("PV1-39.1")}},
		{"MSH-4", []string{x.get("MSH-4.1"), x.get("MSH-4.2")}},
	} {
		unit, present, err := x.organisation(f.field, f.names...)
		if !present {
			continue
		}
		if err != nil {
			return "", err
		}
		h, err := x.hospitalOf(f.field, unit)
		if err != nil {
			return "", err
		}
		x.note("hospital", f.field, strings.Join(slices.DeleteFunc(slices.Clone(f.names), func(s string) bool { return s == "" }), "&"), unit, true)
		if h != unit.ID {
			x.parties[len(x.parties)-1].How += ", a department of " + string(h)
		}
		if x.department == "" && unit.ID != h {
			x.department = string(unit.ID)
		}
		return h, nil
	}
	return "", &events.MessageError{Code: "missing-field", Field: "MSH-4", Reason: "no facility in PV1-3.4, PV1-39 or MSH-4"}
}

// organisation resolves the first of names the directory knows. present
// is false when all names are empty.
func (x *reader) organisation(field string, names ...string) (o events.Organisation, present bool, err error) {
	first := ""
	for _, n := range names {
		if n == "" {
			continue
		}
		if first == "" {
			first = n
		}
		if o, how, ok := x.t.dir.Match(n); ok {
			x.how = how
			return o, true, nil
		}
	}
	if first == "" {
		return o, false, nil
	}
	return o, true, &events.MessageError{Code: "unknown-organisation", Field: field,
		Reason: fmt.Sprintf("no organisation %q in the directory (SOR code, EAN, kommune code or alias)", clip(first, 40))}
}

// hospitalOf returns the hospital a unit belongs to, walking up its
// parents while they are hospitals.
func (x *reader) hospitalOf(field string, o events.Organisation) (events.OrgID, error) {
	if o.Kind != events.KindHospital {
		return "", &events.MessageError{Code: "not-a-hospital", Field: field, Reason: fmt.Sprintf("%s is a %s, not a hospital", o.ID, o.Kind)}
	}
	for range 8 {
		p, ok := x.t.dir.Lookup(o.Parent)
		if o.Parent == "" || !ok || p.Kind != events.KindHospital {
			break
		}
		o = p
	}
	return o.ID, nil
}

// occurredAt is when the event happened: EVN-6 (event occurred), else
// EVN-2 (recorded), else MSH-7 (message time).
func (x *reader) occurredAt() (time.Time, error) {
	for _, f := range []string{"EVN-6", "EVN-2", "MSH-7"} {
		if at, ok, err := x.time(f); ok || err != nil {
			return at, err
		}
	}
	return time.Time{}, &events.MessageError{Code: "missing-field", Field: "EVN-2", Reason: "no event time in EVN-6, EVN-2 or MSH-7"}
}

// time reads a TS/DTM field; ok is false when it is empty.
func (x *reader) time(field string) (at time.Time, ok bool, err error) {
	v := x.get(field + ".1")
	if v == "" {
		return at, false, nil
	}
	at, err = ParseTime(v, x.t.loc)
	if err != nil {
		return at, false, &events.MessageError{Code: "bad-time", Field: field, Reason: strings.TrimPrefix(err.Error(), "hl7v2: ")}
	}
	return at, true, nil
}

// patient finds the patient in a CX list (PID-3, MRG-1) of segment s:
// the first repetition marked as a CPR number (assigning authority CPR
// or the CPR OID 1.2.208.176.1.2, or identifier type NNDNK, NNDK or CPR),
// else a repetition marked as a replacement CPR number (the OID of a
// replacement issuer, or the namespace X-ECPR, ECPR, D-ECPR), national
// before regional, else the first unmarked repetition that reads as a CPR
// number. An identifier marked as CPR or replacement that is not one is
// an error; identifiers marked as anything else (MR, PI, VN, …) are never
// taken for a patient's national number, however they look.
func (x *reader) patient(s Segment, field int) (events.Identity, error) {
	name := fmt.Sprintf("%s-%d", s.Name(), field)
	reps := s.Field(field).Repetitions()
	for i, r := range reps {
		if !markedCPR(r) {
			continue
		}
		cpr, err := events.NormalizeCPR(strings.TrimSpace(r.Component(1).String()))
		if err != nil {
			return events.Identity{}, badID(fmt.Sprintf("%s(%d).1", name, i+1), "identifier marked as CPR is not a CPR number", err)
		}
		return events.Identity{CPR: cpr}, nil
	}
	var found events.ReplacementCPR
	for i, r := range reps {
		issuer := replacementIssuer(r)
		if issuer == "" {
			continue
		}
		rp, err := events.NormalizeReplacement(issuer, r.Component(1).String())
		if err != nil {
			return events.Identity{}, badID(fmt.Sprintf("%s(%d).1", name, i+1), "identifier marked as a replacement CPR number is not one", err)
		}
		if found.IsZero() || found.Issuer != events.ReplacementNational && rp.Issuer == events.ReplacementNational {
			found = rp
		}
	}
	if !found.IsZero() {
		return events.Identity{Replacement: found}, nil
	}
	for _, r := range reps {
		if r.Component(4).IsEmpty() && r.Component(5).IsEmpty() {
			if cpr, err := events.NormalizeCPR(strings.TrimSpace(r.Component(1).String())); err == nil {
				return events.Identity{CPR: cpr}, nil
			}
		}
	}
	return events.Identity{}, &events.MessageError{Code: "missing-patient-id", Field: name,
		Reason: "no CPR number (want an identifier with assigning authority CPR or 1.2.208.176.1.2, or type NNDNK) and no replacement CPR number (assigning authority 1.2.208.176.1.6.1.1 or 1.2.208.176.1.6.1.3[.n])"}
}

func badID(field, reason string, err error) error {
	var ve *events.ValidationError
	if errors.As(err, &ve) {
		reason += ": " + ve.Reason
	}
	return &events.MessageError{Code: "bad-patient-id", Field: field, Reason: reason}
}

func markedCPR(r Field) bool {
	auth := r.Component(4)
	switch strings.ToUpper(strings.TrimSpace(auth.SubComponent(1))) {
	case "CPR", "DK-CPR", "1.2.208.176.1.2", "URN:OID:1.2.208.176.1.2":
		return true
	}
	switch strings.TrimPrefix(strings.TrimSpace(auth.SubComponent(2)), "urn:oid:") {
	case "1.2.208.176.1.2":
		return true
	}
	switch strings.ToUpper(strings.TrimSpace(r.Component(5).String())) {
	case "NNDNK", "NNDK", "CPR":
		return true
	}
	return false
}

// replacementIssuer returns the OID of the replacement CPR issuer a CX's
// assigning authority names, or "": its universal id (CX-4.2), or its
// namespace id (CX-4.1) written as that OID or as X-ECPR or ECPR (the
// national service) or D-ECPR (the regions, when no region's OID is
// given).
func replacementIssuer(r Field) string {
	auth := r.Component(4)
	for _, v := range []string{auth.SubComponent(2), auth.SubComponent(1)} {
		if v = strings.TrimSpace(v); events.IsReplacementIssuer(v) {
			return strings.TrimPrefix(v, "urn:oid:")
		}
	}
	switch strings.ToUpper(strings.TrimSpace(auth.SubComponent(1))) {
	case "X-ECPR", "XECPR", "ECPR", "E-CPR":
		return events.ReplacementNational
	case "D-ECPR", "DECPR":
		return events.ReplacementRegional
	}
	return ""
}

// name reads the patient's name from PID-5: given, middle, family.
func (x *reader) name() string {
	var parts []string
	for _, p := range []string{"PID-5.2", "PID-5.3", "PID-5.1.1"} {
		if v := x.get(p); v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " ")
}

// episode reads the visit number (PV1-19). Visit numbers are unique only
// within the system that issues them, while the pathway index links an
// episode to a pathway across all senders; so a visit number is qualified
// with the hospital, unless it is a UUID (an LPR3 stay id is one, and then
// joins the MedCom messages about the same stay).
func (x *reader) episode(hospital events.OrgID) string {
	v := x.get("PV1-19.1")
	if v == "" || isUUID(v) {
		return v
	}
	return string(hospital) + "/" + v
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// municipality reads the patient's municipality from the county code
// (PID-12) or the address's county/parish code (PID-11.9), where one of
// them is a municipality the directory knows; otherwise none.
func (x *reader) municipality() events.OrgID {
	for _, f := range []string{"PID-12.1", "PID-11.9"} {
		v := x.get(f)
		if o, how, ok := x.t.dir.Match(v); v != "" && ok && o.Kind == events.KindMunicipality {
			x.how = how
			x.note("municipality", f, v, o, true)
			return o.ID
		}
	}
	return ""
}

// gp reads the patient's general practice from the primary care provider
// (PD1-4.1) or primary facility (PD1-3.10, PD1-3.3), as a directory name
// or a ydernummer; otherwise none.
func (x *reader) gp() events.OrgID {
	for _, f := range []string{"PD1-4.1", "PD1-3.10", "PD1-3.3"} {
		v := x.get(f)
		if v == "" {
			continue
		}
		if o, how, ok := x.t.dir.Match(v); ok && o.Kind == events.KindGP {
			x.how = how
			x.note("gp", f, v, o, true)
			return o.ID
		}
		if o, ok := x.t.dir.Lookup(events.OrgID(events.SchemeYder + ":" + v)); ok && o.Kind == events.KindGP {
			x.how = "ydernummer"
			x.note("gp", f, v, o, true)
			return o.ID
		}
	}
	return ""
}

// admit maps an admission, a registration or a change of class.
func admit(x *reader, tr *events.Translation) error {
	var class events.AdmissionClass
	switch x.class {
	case "E":
		class = events.AcuteAmbulant
	case "I", "B":
		class = events.Inpatient
	default:
		return &events.MessageError{Code: "unknown-patient-class", Field: "PV1-2", Reason: fmt.Sprintf("patient class %s is not one Stafet reads (E, I, B, O, R, P)", clip(x.class, 8))}
	}
	tr.Payloads = append(tr.Payloads, &events.PatientAdmitted{Hospital: tr.Hospital, Department: x.department, Class: class, Episode: tr.Episode})
	return nil
}

// toOutpatient maps A07. An emergency class keeps the stay as acute
// ambulant; an outpatient class ends the stay in the cross-sector sense,
// as Stafet has no outpatient class and MedCom notifies no planned
// ambulant care.
func toOutpatient(x *reader, tr *events.Translation) error {
	switch x.class {
	case "E", "I", "B":
		return admit(x, tr)
	}
	return discharge(x, tr)
}

// transfer maps A02: from the prior location's facility (PV1-6.4), else
// within the hospital, to the hospital of PV1-3.
func transfer(x *reader, tr *events.Translation) error {
	from := tr.Hospital
	unit, present, err := x.organisation("PV1-6.4", x.get("PV1-6.4.1"), x.get("PV1-6.4.2"))
	if err != nil {
		return err
	}
	if present {
		if from, err = x.hospitalOf("PV1-6.4", unit); err != nil {
			return err
		}
		x.note("transferred-from", "PV1-6.4", x.get("PV1-6.4"), unit, true)
	}
	tr.Payloads = append(tr.Payloads, &events.PatientTransferred{From: from, To: tr.Hospital, Department: x.department})
	return nil
}

// discharge maps A03: the destination from the discharge disposition
// (PV1-36) and the discharged-to location (PV1-37); or, when the
// disposition or the death indicator (PID-30, PID-29) says the patient
// died, PatientDied.
func discharge(x *reader, tr *events.Translation) error {
	var to events.Organisation
	if v := x.get("PV1-37.1.1"); v != "" {
		var how string
		var known bool
		to, how, known = x.t.dir.Match(v)
		x.how = how
		x.note("discharged-to", "PV1-37", v, to, known)
	}
	dest, died := disposition(x.get("PV1-36.1"), to.Kind)
	died = died || strings.EqualFold(x.get("PID-30"), "Y") || (x.get("PID-29.1") != "" && !strings.EqualFold(x.get("PID-30"), "N"))
	if died {
		// As MedCom's MORS: the death ends the stay; no discharge is added.
		tr.Payloads = append(tr.Payloads, &events.PatientDied{Place: tr.Hospital})
		return nil
	}
	tr.Payloads = append(tr.Payloads, &events.PatientDischarged{Hospital: tr.Hospital, Destination: dest, To: to.ID})
	return nil
}

// disposition maps a discharge disposition (HL7 table 0112, whose
// suggested values are the US UB-04 patient status codes; FHIR's
// discharge-disposition codes are read too). An empty code takes the
// destination from the kind of the discharged-to organisation; an unknown
// one gives "unknown", so the discharge itself is never lost.
func disposition(code string, to events.Kind) (dest events.Destination, died bool) {
	if len(code) == 1 && code[0] >= '0' && code[0] <= '9' {
		code = "0" + code
	}
	switch strings.ToLower(code) {
	case "":
		switch to {
		case events.KindMunicipality:
			return events.DestHomeWithServices, false
		case events.KindHospital:
			return events.DestOtherHospital, false
		}
		return events.DestUnknownDestination, false
	case "01", "07", "home", "alt-home", "aadvice":
		return events.DestHome, false
	case "06", "08", "50":
		return events.DestHomeWithServices, false
	case "03", "04", "64", "snf", "long":
		return events.DestNursingHome, false
	case "62", "rehab":
		return events.DestRehabilitationBed, false
	case "02", "43", "63", "65", "66", "psy":
		return events.DestOtherHospital, false
	case "05", "09", "51", "61", "70", "other-hcf", "hosp", "oth":
		return events.DestOther, false
	case "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "40", "41", "42", "exp":
		return events.DestOther, true
	}
	return events.DestUnknownDestination, false
}

// patientUpdate maps A08: an expected discharge time (PV2-9) is the one thing in
// a patient update a pathway needs; without it the update means nothing.
func patientUpdate(x *reader, tr *events.Translation) error {
	at, ok, err := x.time("PV2-9")
	if err != nil {
		return err
	}
	if !ok {
		return errNothing
	}
	tr.Payloads = append(tr.Payloads, &events.DischargeExpected{Hospital: tr.Hospital, Expected: at})
	return nil
}

// pendingDischarge maps A16: the expected discharge from PV2-9, else the
// planned event time (EVN-3), else PV1-45.
func pendingDischarge(x *reader, tr *events.Translation) error {
	for _, f := range []string{"PV2-9", "EVN-3", "PV1-45"} {
		at, ok, err := x.time(f)
		if err != nil {
			return err
		}
		if ok {
			tr.Payloads = append(tr.Payloads, &events.DischargeExpected{Hospital: tr.Hospital, Expected: at})
			return nil
		}
	}
	return &events.MessageError{Code: "missing-field", Field: "PV2-9", Reason: "a pending discharge needs the expected discharge time (PV2-9, EVN-3 or PV1-45)"}
}

// leaveStart maps A21; the expected return is PV2-47.
func leaveStart(x *reader, tr *events.Translation) error {
	until, _, err := x.time("PV2-47")
	if err != nil {
		return err
	}
	tr.Payloads = append(tr.Payloads, &events.LeaveStarted{Hospital: tr.Hospital, Until: until})
	return nil
}

// leaveEnd maps A22.
func leaveEnd(_ *reader, tr *events.Translation) error {
	tr.Payloads = append(tr.Payloads, &events.LeaveEnded{Hospital: tr.Hospital})
	return nil
}

// cancel asks the ingest to annul the latest event of a type.
func cancel(t events.Type, reason string) func(*reader, *events.Translation) error {
	return func(_ *reader, tr *events.Translation) error {
		tr.Cancels = &events.Cancel{Type: t, Reason: reason}
		return nil
	}
}

// namesPatient reports whether field of segment s names a patient by a
// CPR or replacement number, or tries to (a marked identifier that is
// not one is an error, reported when the field is read).
func (x *reader) namesPatient(s Segment, field int) bool {
	if s.Name() == "" {
		return false
	}
	_, err := x.patient(s, field)
	var me *events.MessageError
	return !errors.As(err, &me) || me.Code != "missing-patient-id"
}

// mrg1 is where a merge or change of identifier names the other
// identity; secondPID where a link does.
func mrg1(x *reader) (Segment, int) {
	s, _ := x.m.Segment("MRG")
	return s, 1
}

func secondPID(x *reader) (Segment, int) {
	if pids := x.m.Segments("PID"); len(pids) > 1 {
		return pids[1], 3
	}
	return Segment{}, 3
}

// joinNames are the reasons the joins record.
var joinNames = map[string]string{
	"A18": "HL7 A18 merge patient information", "A24": "HL7 A24 link patient information",
	"A30": "HL7 A30 merge person information", "A34": "HL7 A34 merge patient information (patient id only)",
	"A36": "HL7 A36 merge patient information (patient id and account)", "A37": "HL7 A37 unlink patient information",
	"A39": "HL7 A39 merge person (patient id)", "A40": "HL7 A40 merge patient (patient identifier list)",
	"A46": "HL7 A46 change patient id", "A47": "HL7 A47 change patient identifier list",
}

// joins maps the merges (A40 and its older forms A18, A30, A34, A36,
// A39), the changes of identifier (A46, A47) and the links (A24; A37
// unlinks): the other identity (MRG-1, or the second PID-3), the prior or
// old one, is the patient of PID-3, so the ingest joins its pathway to
// the patient's. One that names no CPR or replacement number joins local
// records only (Translate stops before it); PID-3 must name one (base),
// since there is no pathway to join into otherwise.
func joins(other func(x *reader) (Segment, int), reason string, unlink bool) func(*reader, *events.Translation) error {
	return func(x *reader, tr *events.Translation) error {
		seg, field := other(x)
		prior, err := x.patient(seg, field)
		if err != nil {
			return err
		}
		if prior.CPR == tr.Patient.CPR && prior.Replacement == tr.Patient.Replacement {
			return &events.MessageError{Code: "same-patient", Field: fmt.Sprintf("%s-%d", seg.Name(), field), Reason: "the other identity is the patient's own"}
		}
		tr.MergedPatient, tr.MergeReason, tr.Unlink = &prior, reason, unlink
		return nil
	}
}

// move refuses A43 and A45: they move records filed under the wrong
// patient to the right one, and events on one pathway cannot move to
// another by themselves. The operator corrects the two pathways by hand
// (docs/adapters.md); the dead letter says so.
func move(x *reader, _ *events.Translation) error {
	return &events.MessageError{Code: "unsupported-trigger", Field: "MSH-9",
		Reason: "a move of records between patients (A43, A45) is not applied automatically: correct the two pathways by hand"}
}
