package simulator

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stafet/stafet/events"
)

// render turns a fact into the step that carries it, if any channel does:
//
//   - stay facts (admission, transfer, leave, expected discharge,
//     discharge, death, cancellation) go as HL7 ADT from hospitals whose
//     region feeds HL7, and as MedCom HospitalNotifications from the
//     others, but only for patients the municipality takes part in
//     (MedCom notifies the municipality of those alone);
//   - CareCommunications and Acknowledgements go as MedCom messages;
//   - "færdigbehandlet", the discharge letter and the rehabilitation plan
//     go through the JSON API: MedCom's messages for them are OIOXML
//     (XDIS19, DIS01, the rehabilitation plan), which Stafet does not
//     read.
func (m *Model) render(f *fact) (Step, bool) {
	p := f.p
	s := Step{At: m.wire(f.at), Sim: f.at, Pathway: p.no, Episode: p.episode, Org: f.hospital.id, Municipality: p.home.m.id}
	switch f.kind {
	case fReady, fLetter, fRehabPlan:
		return m.apiStep(f, s)
	case fCareComm, fReply:
		s.Channel, s.Kind, s.ID = MedCom, "CareCommunication", f.header
		if f.toHospital {
			s.Org = p.home.m.id
		}
		s.Body = m.careCommunication(f)
		m.sent(f, s.Body)
		return s, true
	case fAck:
		body, ok := m.acknowledgement(f)
		if !ok {
			return s, false
		}
		f.ref.body = nil
		s.Channel, s.Kind, s.ID, s.Org, s.Body = MedCom, "Acknowledgement", f.header, f.ackSender(), body
		return s, true
	}
	if f.hospital.hl7 {
		trigger, body, ok := m.hl7(f)
		if !ok {
			return s, false
		}
		s.Channel, s.Kind, s.ID, s.Body = HL7, trigger, m.controlID(f), body
		if f.kind == fTransfer {
			s.Org = f.from.id
		}
		return s, true
	}
	if !p.involved {
		return s, false
	}
	code, body, ok := m.hospitalNotification(f)
	if !ok {
		return s, false
	}
	s.Channel, s.Kind, s.ID, s.Body = MedCom, code, f.header, body
	m.sent(f, s.Body)
	return s, true
}

// sent records that a MedCom message went out for f.
func (m *Model) sent(f *fact, body []byte) {
	f.medcom = true
	if f.acked {
		f.body = body
	}
}

// EventsPath is the API path of the JSON API steps: an event appended to
// a pathway by the acting organisation. "{pathway}" stands for the
// pathway's id in Stafet.
const EventsPath = "/v1/pathways/{pathway}/events"

// apiEvent is the body of a POST to EventsPath: one event with its type,
// time and payload (the payload's JSON as in docs/events.md).
type apiEvent struct {
	Type       events.Type    `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	Data       events.Payload `json:"data"`
}

func (m *Model) apiStep(f *fact, s Step) (Step, bool) {
	p := f.p
	var pl events.Payload
	switch f.kind {
	case fReady:
		pl = &events.ReadyForDischarge{Hospital: f.hospital.id, Municipality: p.home.m.id}
		s.ID = fmt.Sprintf("sim-%s-%d-%d", m.prefix, p.no, f.seq)
	case fLetter:
		pl = &events.DocumentSent{Document: f.header, Kind: events.DischargeLetter, From: f.hospital.id, To: p.gp.id}
		s.ID = f.header
	case fRehabPlan:
		pl = &events.DocumentSent{Document: f.header, Kind: events.RehabilitationPlan, From: f.hospital.id, To: p.home.m.id, Deadline: m.wire(f.until).UTC()}
		s.ID = f.header
	}
	body, err := json.Marshal(apiEvent{Type: pl.Type(), OccurredAt: s.At.UTC(), Data: pl})
	if err != nil {
		return s, false
	}
	s.Channel, s.Kind, s.Body, s.Method, s.Path = API, string(pl.Type()), body, "POST", EventsPath
	return s, true
}
