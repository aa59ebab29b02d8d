package simulator

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

// MedCom FHIR messages, shaped like MedCom's published examples
// (adapters/translate/medcom/testdata): a Bundle of type message whose first entry
// is the MessageHeader, then the Patient, Encounter or Communication, the
// Organizations (SOR and EAN identifiers) and the Provenances of the
// message history.

const (
	profileHN          = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-message"
	profileHNHeader    = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader"
	profileHNEncounter = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-encounter"
	profileCC          = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-message"
	profileCCHeader    = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader"
	profileCCComm      = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-communication"
	profileCCProv      = "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-provenance"
	profilePatient     = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-patient"
	profileOrg         = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-organization"
	profileProv        = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
	systemEvents       = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
	systemActivities   = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
	systemDestUse      = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
	systemCategory     = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-careCommunication-categoryCodes"
	systemActCode      = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemSOR          = "urn:oid:1.2.208.176.1.1"
	systemCPR          = "urn:oid:1.2.208.176.1.2"
	systemGLN          = "https://www.gs1.org/gln"
	systemLPR3         = "https://www.esundhed.dk/Registre/Landspatientregisteret"
	urlDestUse         = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
	urlAdmission       = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-messaging-reportOfAdmissionExtension"
	urlRecipient       = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-messaging-reportOfAdmissionRecipientExtension"
	urlLeave           = "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalnotifiation-leave-period-extension"
	urlDateTime        = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-datetime-extension"
	urlIdentifier      = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-identifier-extension"
	urlPractitioner    = "http://medcomfhir.dk/ig/core/StructureDefinition/medcom-core-practitioner-extension"
	sorEndpoint        = "https://sor2.sum.dsdn.dk/#id="
)

// obj is a JSON object that keeps its keys in the order written, as FHIR
// examples do.
type obj []kv

type kv struct {
	k string
	v any
}

// writeJSON writes the values FHIR messages are built of: obj, arr,
// strings and booleans.
func writeJSON(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case obj:
		b.WriteByte('{')
		for i, f := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, f.k)
			b.WriteByte(':')
			writeJSON(b, f.v)
		}
		b.WriteByte('}')
	case arr:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, x)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	default:
		// Nothing else is put in a message.
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

type arr []any

func fhirTime(t time.Time) string { return t.Format(time.RFC3339) }

func refTo(typ, id string) obj { return obj{{"reference", typ + "/" + id}} }

func profile(p string) obj { return obj{{"profile", arr{p}}} }

// party is an organisation as a MedCom message names it.
type party struct {
	id, sor, ean, name string
}

func hospitalParty(h *hospital, p *pathway) party {
	return party{id: p.uuid(), sor: h.sor, ean: h.ean, name: h.name}
}

func municipalityParty(mu *municipality, p *pathway) party {
	return party{id: p.uuid(), sor: mu.sor, ean: mu.ean, name: mu.name + " Kommune, Visitationen"}
}

func (o party) resource() obj {
	ids := arr{}
	if o.ean != "" {
		ids = append(ids, obj{{"system", systemGLN}, {"value", o.ean}})
	}
	ids = append(ids, obj{{"system", systemSOR}, {"value", o.sor}})
	return obj{{"resourceType", "Organization"}, {"id", o.id}, {"meta", profile(profileOrg)}, {"identifier", ids}, {"name", o.name}}
}

// bundle writes a message Bundle; entries are (type, id, resource).
func bundle(base, prof, id string, at time.Time, entries []entry) []byte {
	es := arr{}
	for _, e := range entries {
		es = append(es, obj{{"fullUrl", base + e.typ + "/" + e.id}, {"resource", e.res}})
	}
	b := obj{{"resourceType", "Bundle"}, {"id", id}, {"meta", profile(prof)}, {"type", "message"}, {"timestamp", fhirTime(at)}, {"entry", es}}
	var out bytes.Buffer
	writeJSON(&out, b)
	return out.Bytes()
}

type entry struct {
	typ, id string
	res     obj
}

func header(id, event, prof string, sender, receiver party, focus obj, extra ...kv) obj {
	h := obj{{"resourceType", "MessageHeader"}, {"id", id}, {"meta", profile(prof)}}
	h = append(h, extra...)
	h = append(h,
		kv{"eventCoding", obj{{"system", systemEvents}, {"code", event}}},
		kv{"destination", arr{obj{
			{"extension", arr{obj{{"url", urlDestUse}, {"valueCoding", obj{{"system", systemDestUse}, {"code", "primary"}}}}}},
			{"endpoint", sorEndpoint + receiver.sor},
			{"receiver", refTo("Organization", receiver.id)},
		}}},
		kv{"sender", refTo("Organization", sender.id)},
		kv{"source", obj{{"endpoint", sorEndpoint + sender.sor}}},
		kv{"focus", arr{focus}},
	)
	return h
}

func episodeOfCare(id string) arr {
	return arr{obj{{"identifier", obj{{"system", systemLPR3}, {"value", id}}}}}
}

func patientResource(id string, pt person, deceased time.Time) obj {
	r := obj{{"resourceType", "Patient"}, {"id", id}, {"meta", profile(profilePatient)},
		{"identifier", arr{obj{{"system", systemCPR}, {"value", pt.cpr}}}},
		{"name", arr{obj{{"use", "official"}, {"family", pt.family}, {"given", arr{pt.given}}}}},
	}
	if !deceased.IsZero() {
		r = append(r, kv{"deceasedDateTime", fhirTime(deceased)})
	}
	return r
}

func provenance(id, prof, target string, at time.Time, activity, who, role, previous string) obj {
	r := obj{{"resourceType", "Provenance"}, {"id", id}, {"meta", profile(prof)},
		{"target", arr{refTo("MessageHeader", target)}},
		{"occurredDateTime", fhirTime(at)}, {"recorded", fhirTime(at)},
		{"activity", obj{{"coding", arr{obj{{"system", systemActivities}, {"code", activity}}}}}},
		{"agent", arr{obj{{"who", refTo("Organization", who)}}}},
	}
	if previous != "" {
		r = append(r, kv{"entity", arr{obj{{"role", role}, {"what", refTo("MessageHeader", previous)}}}})
	}
	return r
}

const hnBase = "https://medcomfhir.dk/ig/hospitalnotification/"

// notice is a HospitalNotification sent, for the history of the next.
type notice struct {
	header, provenance, activity string
	at                           time.Time
	hospital                     *hospital
}

// hospitalNotification renders a stay fact as a HospitalNotification to
// the patient's municipality; ok is false for facts MedCom has no
// notification for.
func (m *Model) hospitalNotification(f *fact) (code string, body []byte, ok bool) {
	p := f.p
	at := m.wire(f.at)
	ambulant := p.ambulantAt(f)
	class, status, role := "IMP", "in-progress", "revision"
	var activity string
	var deceased time.Time
	switch f.kind {
	case fAdmit, fConvert, fTransfer:
		code, activity = "STIN", "admit-inpatient"
		if ambulant {
			code, activity, class = "STAA", "admit-emergency", "EMER"
		}
	case fLeaveStart:
		code, activity, status = "STOR", "start-leave-inpatient", "onleave"
	case fLeaveEnd:
		code, activity = "SLOR", "end-leave-inpatient"
	case fDischarge:
		code, activity, status = "SLHJ", "discharge-inpatient-home", "finished"
		if ambulant {
			activity, class = "discharge-emergency-home", "EMER"
		}
	case fDeath:
		code, status, deceased = "MORS", "finished", at
		if ambulant {
			class = "EMER"
		}
		activity = "admit-inpatient"
		if n := len(p.notices); n > 0 {
			activity = p.notices[n-1].activity
		}
	case fCancel:
		code, activity, status, role = "AN_STIN", "cancel-admit-inpatient", "entered-in-error", "removal"
		if ambulant {
			code, activity, class = "AN_STAA", "cancel-admit-emergency", "EMER"
		}
	default:
		return "", nil, false
	}
	// A new hospital (a transfer) starts its own message history.
	var history []*notice
	for _, n := range p.notices {
		if n.hospital == f.hospital {
			history = append(history, n)
		}
	}
	sender := hospitalParty(f.hospital, p)
	receiver := municipalityParty(p.home.m, p)
	headerID, patientID, encounterID, provID := p.uuid(), p.uuid(), p.uuid(), p.uuid()
	var extra []kv
	if f.kind == fAdmit && p.services {
		extra = append(extra,
			kv{"extension", arr{
				obj{{"url", urlAdmission}, {"valueBoolean", true}},
				obj{{"url", urlRecipient}, {"valueReference", refTo("Organization", sender.id)}},
			}})
	}
	enc := obj{{"resourceType", "Encounter"}, {"id", encounterID}, {"meta", profile(profileHNEncounter)}}
	if f.kind == fLeaveStart {
		leave := obj{{"start", fhirTime(at)}, {"end", fhirTime(m.wire(f.until))}}
		enc = append(enc, kv{"extension", arr{obj{{"url", urlLeave}, {"valuePeriod", leave}}}})
	}
	period := obj{{"start", fhirTime(m.wire(p.stayStart(f)))}}
	if status == "finished" {
		period = append(period, kv{"end", fhirTime(at)})
	}
	enc = append(enc,
		kv{"status", status},
		kv{"class", obj{{"system", systemActCode}, {"code", class}}},
		kv{"subject", refTo("Patient", patientID)},
		kv{"episodeOfCare", episodeOfCare(p.episode)},
		kv{"period", period},
		kv{"serviceProvider", refTo("Organization", sender.id)},
	)
	entries := []entry{
		{"MessageHeader", headerID, header(headerID, "hospital-notification-message", profileHNHeader, sender, receiver, refTo("Encounter", encounterID), extra...)},
		{"Patient", patientID, patientResource(patientID, p.patient, deceased)},
		{"Encounter", encounterID, enc},
		{"Organization", receiver.id, receiver.resource()},
		{"Organization", sender.id, sender.resource()},
	}
	prev := ""
	for _, n := range history {
		entries = append(entries, entry{"Provenance", n.provenance, provenance(n.provenance, profileProv, n.header, n.at, n.activity, sender.id, "revision", prev)})
		prev = n.header
	}
	entries = append(entries, entry{"Provenance", provID, provenance(provID, profileProv, headerID, at, activity, sender.id, role, prev)})
	f.header = headerID
	p.notices = append(p.notices, &notice{header: headerID, provenance: provID, activity: activity, at: at, hospital: f.hospital})
	return code, bundle(hnBase, profileHN, p.uuid(), at, entries), true
}

// ambulantAt reports whether the stay is acute ambulant at fact f: it began
// so and f is not at or after its change to inpatient.
func (p *pathway) ambulantAt(f *fact) bool {
	if p.facts[0].class != events.AcuteAmbulant {
		return false
	}
	for _, g := range p.facts {
		if g.kind == fConvert && g.seq <= f.seq {
			return false
		}
		if g == f {
			break
		}
	}
	return true
}

// stayStart is when the stay f belongs to began: the admission, or the
// change to inpatient.
func (p *pathway) stayStart(f *fact) time.Time {
	start := p.facts[0].at
	for _, g := range p.facts {
		if g.seq > f.seq {
			break
		}
		if g.kind == fConvert {
			start = g.at
		}
	}
	return start
}

const ccBase = "https://medcomfhir.dk/ig/carecommunication/"

// careCommunication renders a CareCommunication between the hospital and
// the municipality (either way), joined to the stay by the episode.
func (m *Model) careCommunication(f *fact) []byte {
	p := f.p
	at := m.wire(f.at)
	hosp := hospitalParty(f.hospital, p)
	muni := municipalityParty(p.home.m, p)
	sender, receiver := hosp, muni
	if f.toHospital {
		sender, receiver = muni, hosp
	}
	headerID := f.header
	patientID, encounterID, commID, provID, authorID, practID := p.uuid(), p.uuid(), p.uuid(), p.uuid(), p.uuid(), p.uuid()
	payloadID := "urn:uuid:" + p.uuid()
	text := careText(p, f)
	comm := obj{{"resourceType", "Communication"}, {"id", commID}, {"meta", profile(profileCCComm)},
		{"identifier", arr{obj{{"value", "urn:uuid:" + p.uuid()}}}},
		{"status", "unknown"},
		{"category", arr{obj{{"coding", arr{obj{{"system", systemCategory}, {"code", f.category}}}}}}},
		{"subject", refTo("Patient", patientID)},
		{"topic", obj{{"text", f.topic}}},
		{"encounter", refTo("Encounter", encounterID)},
		{"payload", arr{obj{
			{"extension", arr{
				obj{{"url", urlDateTime}, {"valueDateTime", fhirTime(at)}},
				obj{{"url", urlIdentifier}, {"valueIdentifier", obj{{"value", payloadID}, {"assigner", refTo("Organization", sender.id)}}}},
				obj{{"url", urlPractitioner}, {"valueReference", refTo("PractitionerRole", authorID)}},
			}},
			{"contentString", text},
		}}},
	}
	enc := obj{{"resourceType", "Encounter"}, {"id", encounterID},
		{"status", "in-progress"},
		{"class", obj{{"system", systemActCode}, {"code", "IMP"}}},
		{"subject", refTo("Patient", patientID)},
		{"episodeOfCare", episodeOfCare(p.episode)},
	}
	role := "sygeplejerske"
	if f.toHospital {
		role = "visitator"
	}
	activity, prev := "new-message", ""
	if f.kind == fReply && f.ref.medcom && f.ref.kind != fAdmit {
		activity, prev = "reply-message", f.ref.header
	}
	entities := arr{}
	if prev != "" {
		entities = append(entities, obj{{"role", "revision"}, {"what", refTo("MessageHeader", prev)}})
	}
	entities = append(entities, obj{{"role", "source"}, {"what", obj{{"identifier", obj{{"value", payloadID}}}}}})
	prov := append(provenance(provID, profileCCProv, headerID, at, activity, sender.id, "", ""), kv{"entity", entities})
	roleCode := obj{{"coding", arr{obj{{"code", role}}}}}
	practitionerRole := obj{{"resourceType", "PractitionerRole"}, {"id", authorID},
		{"practitioner", refTo("Practitioner", practID)}, {"code", arr{roleCode}}}
	name := obj{{"family", pick(p.rng, family)}, {"given", arr{pick(p.rng, givenFemale)}}}
	practitioner := obj{{"resourceType", "Practitioner"}, {"id", practID}, {"name", arr{name}}}
	entries := []entry{
		{"MessageHeader", headerID, header(headerID, "care-communication-message", profileCCHeader, sender, receiver, refTo("Communication", commID))},
		{"Patient", patientID, patientResource(patientID, p.patient, time.Time{})},
		{"Communication", commID, comm},
		{"Encounter", encounterID, enc},
		{"PractitionerRole", authorID, practitionerRole},
		{"Practitioner", practID, practitioner},
		{"Organization", sender.id, sender.resource()},
		{"Organization", receiver.id, receiver.resource()},
		{"Provenance", provID, prov},
	}
	return bundle(ccBase, profileCC, p.uuid(), at, entries)
}

// careText is the free text of a CareCommunication: a few hundred bytes to
// a few kilobytes, as nurses write them. It names no one.
func careText(p *pathway, f *fact) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Vedr. %s. ", strings.ToLower(f.topic))
	for range 1 + p.rng.IntN(8) {
		b.WriteString(pick(p.rng, careSentences))
		b.WriteByte(' ')
	}
	b.WriteString("\nMvh. ")
	if f.toHospital {
		b.WriteString("Visitationen")
	} else {
		b.WriteString("Afdelingen")
	}
	return b.String()
}

var careSentences = []string{
	"Borgeren er mobiliseret til stol og går med rollator.",
	"Der er ændret i den faste medicin, se medicinkortet.",
	"Behov for hjælp til personlig pleje morgen og aften.",
	"Forventet udskrivelse i løbet af de næste dage.",
	"Pårørende er orienteret og deltager gerne i udskrivelsessamtale.",
	"Der er bestilt hjælpemidler: badebænk og toiletforhøjer.",
	"Borgeren har spist og drukket sparsomt, ernæringsscreening vedlagt.",
	"Sårpleje hver anden dag, plan vedlagt.",
	"Vi beder om en tilbagemelding om plads på midlertidig plads.",
	"Borgeren ønsker at komme hjem og er selv indforstået med planen.",
}

// acknowledgement renders the receiver's MedCom Acknowledgement of the
// message f.ref, by medcom.Acknowledge from the message as sent.
func (m *Model) acknowledgement(f *fact) ([]byte, bool) {
	if !f.ref.medcom || f.ref.body == nil {
		return nil, false
	}
	msg, err := medcom.Parse(f.ref.body)
	if err != nil {
		return nil, false
	}
	reason := ""
	if f.ackCode != "ok" {
		reason = "Modtagersystemet kunne ikke behandle meddelelsen"
	}
	p := f.p
	body, err := medcom.Acknowledge(msg, f.ackCode, reason, m.wire(f.at), p.uuid)
	if err != nil {
		return nil, false
	}
	ackMsg, err := medcom.Parse(body)
	if err == nil {
		f.header = ackMsg.HeaderID
	}
	return body, true
}

// ackSender returns the organisation that sends an acknowledgement: the
// receiver of the message acknowledged.
func (f *fact) ackSender() events.OrgID {
	if f.ref.toHospital {
		return f.ref.hospital.id
	}
	return f.ref.p.home.m.id
}
