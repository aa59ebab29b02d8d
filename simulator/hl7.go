package simulator

import (
	"fmt"
	"strings"
	"time"

	"github.com/stafet/stafet/events"
)

// HL7 v2.5 ADT messages as a Danish hospital's patient-administration
// system sends them. The fields Stafet reads (docs/simulator.md, "HL7 v2"):
//
//	MSH-4   sending facility: the hospital's SOR code
//	MSH-9   ADT^<trigger>^<structure>; MSH-10 control id; MSH-12 2.5;
//	        MSH-18 UNICODE UTF-8
//	EVN-2   recorded time; EVN-6 event occurred
//	PID-3   <CPR>^^^CPR^CPR
//	PID-11  address; component 9 (county/parish) the kommune code
//	PID-29  death time, PID-30 Y, when the patient died
//	PD1-3   the GP: practice name, XON.3 and XON.10 the ydernummer
//	PV1-2   E (acute ambulant) or I (inpatient)
//	PV1-3   ward^room^bed^facility, facility the hospital's SOR code
//	PV1-6   prior location (A02)
//	PV1-19  visit number: the episode (LPR3 stay id)
//	PV1-36  discharge disposition (HL7 table 0112): 01 home, 02 other
//	        hospital, 03 nursing home, 04 municipal acute bed, 05 municipal
//	        rehabilitation bed, 06 home with municipal services, 20 died
//	PV1-37  discharged to location: the receiving kommune code
//	PV1-39  servicing facility: the hospital's SOR code
//	PV1-44  admit time; PV1-45 discharge time
//	PV2-9   expected discharge date (A16)

// dispositions are PV1-36 codes by destination.
var dispositions = map[events.Destination]string{
	events.DestHome:              "01",
	events.DestOtherHospital:     "02",
	events.DestNursingHome:       "03",
	events.DestMunicipalAcuteBed: "04",
	events.DestRehabilitationBed: "05",
	events.DestHomeWithServices:  "06",
}

// Disposition returns the PV1-36 code the simulator writes for a
// destination, and "20" for a death (an empty destination).
func Disposition(d events.Destination) string {
	if d == "" {
		return "20"
	}
	return dispositions[d]
}

var structures = map[string]string{
	"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03", "A06": "ADT_A06",
	"A11": "ADT_A09", "A16": "ADT_A16", "A21": "ADT_A21", "A22": "ADT_A21",
}

func hl7Time(t time.Time) string { return t.Format("20060102150405-0700") }

// hl7Escape escapes the delimiters in a value.
var hl7Escaper = strings.NewReplacer(`\`, `\E\`, `|`, `\F\`, `^`, `\S\`, `&`, `\T\`, `~`, `\R\`, "\r", `\X0D\`, "\n", `\X0A\`)

func esc(s string) string { return hl7Escaper.Replace(s) }

// hl7 renders a fact as an ADT message; ok is false for facts HL7 has no
// message for.
func (m *Model) hl7(f *fact) (trigger string, body []byte, ok bool) {
	p := f.p
	switch f.kind {
	case fAdmit:
		trigger = "A01"
	case fConvert:
		trigger = "A06"
	case fTransfer:
		trigger = "A02"
	case fLeaveStart:
		trigger = "A21"
	case fLeaveEnd:
		trigger = "A22"
	case fExpected:
		trigger = "A16"
	case fDischarge, fDeath:
		trigger = "A03"
	case fCancel:
		trigger = "A11"
	default:
		return "", nil, false
	}
	at := m.wire(f.at)
	sender := f.hospital
	if f.kind == fTransfer {
		sender = f.from
	}
	var b strings.Builder
	seg := func(fields ...string) {
		b.WriteString(strings.Join(fields, "|"))
		b.WriteByte('\r')
	}
	seg("MSH", `^~\&`, "SIMPAS", sender.sor, "STAFET", "STAFET", hl7Time(at), "",
		"ADT^"+trigger+"^"+structures[trigger], m.controlID(f), "P", "2.5", "", "", "AL", "NE", "DNK", "UNICODE UTF-8", "DAN")
	seg("EVN", trigger, hl7Time(at), "", "", "SIM", hl7Time(at))

	pt := p.patient
	sex := "F"
	if pt.male {
		sex = "M"
	}
	mu := p.home.m
	addr := fmt.Sprintf("%s^^%s^^%s^DK^H^^%s", esc(pt.street), esc(mu.name), zip(mu), mu.code)
	pid := []string{"PID", "1", "", pt.cpr + "^^^CPR^CPR", "", esc(pt.family) + "^" + esc(pt.given), "", pt.birth.Format("20060102"), sex, "", "", addr}
	if f.kind == fDeath {
		pid = append(pid, make([]string, 17)...)
		pid = append(pid, hl7Time(at), "Y")
	}
	seg(pid...)
	seg("PD1", "", "", esc(p.gp.name)+"^^"+p.gp.yder+"^^^^^^^"+p.gp.yder)

	pv1 := make([]string, 46)
	pv1[0], pv1[1] = "PV1", "1"
	pv1[2] = "I"
	if f.class == events.AcuteAmbulant || (f.kind != fConvert && p.facts[0].class == events.AcuteAmbulant && !p.converted(f)) {
		pv1[2] = "E"
	}
	pv1[3] = location(p, f.hospital, pv1[2])
	if f.kind == fTransfer {
		pv1[6] = location(p, f.from, "I")
	}
	pv1[19] = p.episode
	pv1[39] = f.hospital.sor
	pv1[44] = hl7Time(m.wire(p.facts[0].at))
	switch f.kind {
	case fDischarge:
		pv1[36] = Disposition(f.dest)
		if f.dest != events.DestHome {
			pv1[37] = mu.code
		}
		pv1[45] = hl7Time(at)
	case fDeath:
		pv1[36] = Disposition("")
		pv1[45] = hl7Time(at)
	}
	seg(pv1...)
	if f.kind == fExpected {
		seg("PV2", "", "", "", "", "", "", "", "", m.wire(f.until).Format("20060102"))
	}
	return trigger, []byte(b.String()), true
}

// converted reports whether an acute ambulant stay had become an inpatient
// one by fact f.
func (p *pathway) converted(f *fact) bool {
	for _, g := range p.facts {
		if g == f {
			return false
		}
		if g.kind == fConvert {
			return true
		}
	}
	return false
}

// controlID is MSH-10: unique per run and message, at most 20 characters.
func (m *Model) controlID(f *fact) string {
	return fmt.Sprintf("%s%d.%d", m.prefix, f.p.no, f.seq)
}

func location(p *pathway, h *hospital, class string) string {
	ward := "AKM"
	if class == "I" {
		ward = []string{"MED", "KIR", "ORT", "GER", "KAR", "LUN"}[int(p.no+uint64(len(h.sor)))%6]
	}
	return fmt.Sprintf("%s^%d^%d^%s", ward, 1+int(p.no%40), 1+int(p.no%4), h.sor)
}

func zip(mu *municipality) string {
	var n int
	fmt.Sscanf(mu.code, "%d", &n)
	return fmt.Sprintf("%04d", 1000+(n*37)%8900)
}

var streets = []string{"Skolevej", "Kirkevej", "Møllevej", "Stationsvej", "Engvej", "Bøgevej", "Strandvejen", "Åboulevarden", "Søndergade", "Nørregade"}
