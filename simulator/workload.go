package simulator

import (
	"container/heap"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Workload returns n commands for benchmarks that append straight through
// engine.Log.Execute: the model's pathways as Stafet's log would hold
// them after ingest and policies, in time order across pathways. Each
// pathway starts with its PathwayOpened (in the command of its first
// message, as the ingest does it), so the commands Execute in order, one
// after the other. They carry:
//
//   - what the HL7 and MedCom messages translate to (admissions, transfers,
//     leave, expected discharges, discharges, deaths, the notifications and
//     CareCommunications as documents, their acknowledgements);
//   - the API's "færdigbehandlet", discharge letters and rehabilitation
//     plans;
//   - the offers Stafet's policies derive from them (discharge planning,
//     municipal care at discharge, rehabilitation, GP follow-up), the
//     answers the model draws (Decide), the DeadlineElapsed of offers not
//     answered in time, started rehabilitation, and a PathwayClosed a day
//     after a pathway's last event.
//
// Payload sizes are the real ones: a sealed identity of the size a CPR
// number and name seal to, CareCommunications' ids, and so on (the free
// text of a CareCommunication is not in the log). Pathways whose stay no
// message reveals (a MedCom hospital does not notify the municipality of a
// patient it takes no part in) are left out. A cancelled admission closes
// its pathway. The same seed gives the same commands; event ids are the
// engine's.
func Workload(seed uint64, n int) []events.Command {
	m, err := NewModel(seed, ModelOptions{})
	if err != nil {
		return nil
	}
	out := make([]events.Command, 0, n)
	var q cmdQueue
	for len(out) < n {
		for q.Len() == 0 || !m.next.After(q[0].at) {
			p := m.plan(m.count, m.next)
			m.count++
			m.next = m.next.Add(m.gap())
			for _, c := range m.commands(p) {
				heap.Push(&q, c)
			}
		}
		out = append(out, heap.Pop(&q).(*timedCmd).cmd)
	}
	return out
}

type timedCmd struct {
	at  time.Time
	no  uint64
	seq int
	cmd events.Command
}

type cmdQueue []*timedCmd

func (q cmdQueue) Len() int { return len(q) }
func (q cmdQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	if a.no != b.no {
		return a.no < b.no
	}
	return a.seq < b.seq
}
func (q cmdQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *cmdQueue) Push(x any)   { *q = append(*q, x.(*timedCmd)) }
func (q *cmdQueue) Pop() any {
	old := *q
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return c
}

// commands turns a planned pathway into the commands Stafet's log would
// hold for it.
func (m *Model) commands(p *pathway) []*timedCmd {
	hl7 := p.first.hl7
	if !hl7 && !p.involved {
		return nil
	}
	id, _ := uuid.Parse(p.uuid())
	var out []*timedCmd
	closed, closeSeq := time.Time{}, 0
	add := func(at time.Time, actor events.OrgID, src events.Source, pls ...events.Payload) {
		out = append(out, &timedCmd{at: at, no: p.no, seq: len(out), cmd: events.Command{
			Pathway: id, Actor: events.Actor{Org: actor}, Source: src, OccurredAt: at.UTC(),
			Correlation: fmt.Sprintf("sim/%d", p.no), Payloads: pls,
		}})
	}
	channel := MedCom
	if hl7 {
		channel = HL7
	}
	msgSource := func(f *fact, org events.OrgID) events.Source {
		mid := f.header
		if channel == HL7 {
			mid = m.controlID(f)
		}
		return events.Source{System: string(channel), Org: org, MessageID: mid}
	}
	apiSource := func(org events.OrgID, mid string) events.Source {
		return events.Source{System: "api", Org: org, MessageID: mid}
	}
	mu := p.home.m.id
	offers := 0
	// offer adds a policy's offer, the addressee's answer and, for an
	// answer missing at the deadline, its DeadlineElapsed.
	offer := func(at time.Time, policy, rule string, from, to events.OrgID, what events.Responsibility, deadline time.Time) {
		offers++
		oid := fmt.Sprintf("%s/%s-%d", policy, p.episode, offers)
		add(at.Add(time.Second), "", events.Source{System: "policy", MessageID: oid},
			&events.HandoffOffered{Offer: oid, From: from, To: to, What: what, Deadline: deadline.UTC(), Policy: policy})
		d := m.Decide(oid, what, deadline.Sub(at))
		answered := at.Add(time.Second + d.After)
		switch d.Answer {
		case OnTime, Late:
			add(answered, to, apiSource(to, "accept/"+oid), &events.HandoffAccepted{Offer: oid, By: to})
			if what == events.Rehabilitation && p.rng.Float64() < m.mix.ServiceStarted {
				start := answered.Add(time.Duration(p.rng.Float64() * float64(max(time.Hour, deadline.Sub(answered)))))
				add(start, to, apiSource(to, "started/"+oid), &events.ServiceStarted{By: to, What: what})
			}
		case Reject:
			add(answered, to, apiSource(to, "reject/"+oid), &events.HandoffRejected{Offer: oid, By: to, Reason: d.Reason})
		}
		if d.Answer == Late || d.Answer == Never {
			add(deadline, "", events.Source{System: "stafet", MessageID: "deadline/" + oid},
				&events.DeadlineElapsed{Ref: oid, Rule: rule, Deadline: deadline.UTC()})
		}
	}
	notice := func(f *fact, pls ...events.Payload) []events.Payload {
		if channel == MedCom {
			f.header = p.uuid()
			f.medcom = true
			pls = append(pls, &events.DocumentSent{Document: f.header, Kind: events.HospitalNotice, From: f.hospital.id, To: mu})
		}
		return pls
	}
	for _, f := range p.facts {
		h := f.hospital.id
		switch f.kind {
		case fAdmit:
			ref := events.PatientRef("p" + hex.EncodeToString(p.bytes(16)))
			open := &events.PathwayOpened{Patient: ref, Identity: p.sealed(), Cluster: p.home.cl.id, Municipality: mu, GP: p.gp.id, Episode: p.episode}
			adm := &events.PatientAdmitted{Hospital: h, Class: f.class, Episode: p.episode, ReportRequested: p.services}
			if p.involved {
				adm.Notified = mu
			}
			add(f.at, h, msgSource(f, h), notice(f, open, adm)...)
			if p.involved {
				offer(f.at, "admission-notified", "offer-answer", h, mu, events.DischargePlanning, f.at.Add(24*time.Hour))
			}
		case fConvert:
			add(f.at, h, msgSource(f, h), notice(f, &events.PatientAdmitted{Hospital: h, Class: events.Inpatient, Episode: p.episode})...)
		case fTransfer:
			actor := f.from.id
			if channel == MedCom {
				actor = h
			}
			add(f.at, actor, msgSource(f, actor), notice(f, &events.PatientTransferred{From: f.from.id, To: h})...)
		case fLeaveStart:
			add(f.at, h, msgSource(f, h), notice(f, &events.LeaveStarted{Hospital: h, Until: f.until.UTC()})...)
		case fLeaveEnd:
			add(f.at, h, msgSource(f, h), notice(f, &events.LeaveEnded{Hospital: h})...)
		case fExpected:
			if channel == HL7 {
				add(f.at, h, msgSource(f, h), &events.DischargeExpected{Hospital: h, Expected: f.until.UTC()})
			}
		case fReady:
			add(f.at, h, apiSource(h, fmt.Sprintf("ready/%s", p.episode)), &events.ReadyForDischarge{Hospital: h, Municipality: mu})
		case fDischarge:
			d := &events.PatientDischarged{Hospital: h, Destination: f.dest}
			if f.dest != events.DestHome {
				d.To = mu
			}
			add(f.at, h, msgSource(f, h), notice(f, d)...)
			if what, ok := f.dest.Receiving(); ok {
				offer(f.at, "discharge-services", "municipal-acceptance", h, mu, what, f.at.Add(4*time.Hour))
			}
		case fDeath:
			add(f.at, h, msgSource(f, h), notice(f, &events.PatientDied{Place: h})...)
		case fCancel:
			closeSeq = len(out)
			add(f.at, h, msgSource(f, h), &events.PathwayClosed{Reason: "admission cancelled"})
			closed = f.at
		case fCareComm, fReply:
			from, to := h, mu
			if f.toHospital {
				from, to = mu, h
			}
			doc := &events.DocumentSent{Document: f.header, Kind: events.CareCommunication, From: from, To: to}
			if f.kind == fReply && f.ref.kind == fCareComm {
				doc.InReplyTo = f.ref.header
			}
			f.medcom = true
			add(f.at, from, events.Source{System: string(MedCom), Org: from, MessageID: f.header}, doc)
		case fAck:
			if !f.ref.medcom {
				continue
			}
			by := f.ackSender()
			ackID := p.uuid()
			ack := &events.DocumentAcknowledged{Document: f.ref.header, By: by, OK: f.ackCode == "ok"}
			if !ack.OK {
				ack.Reason = f.ackCode
			}
			add(f.at, by, events.Source{System: string(MedCom), Org: by, MessageID: ackID}, ack)
		case fLetter:
			add(f.at, h, apiSource(h, f.header), &events.DocumentSent{Document: f.header, Kind: events.DischargeLetter, From: h, To: p.gp.id})
			offer(f.at, "discharge-letter", "offer-answer", h, p.gp.id, events.GPFollowUp, f.at.Add(24*time.Hour))
		case fRehabPlan:
			add(f.at, h, apiSource(h, f.header), &events.DocumentSent{Document: f.header, Kind: events.RehabilitationPlan, From: h, To: mu, Deadline: f.until.UTC()})
			offer(f.at, "rehabilitation-plan", "rehabilitation-start", h, mu, events.Rehabilitation, f.until)
		}
	}
	if !closed.IsZero() {
		// Nothing follows the close of a cancelled admission, not even a
		// command at the same instant that the log would order after it.
		kept := out[:0]
		for _, c := range out {
			if c.at.Before(closed) || c.at.Equal(closed) && c.seq <= closeSeq {
				kept = append(kept, c)
			}
		}
		out = kept
	}
	if closed.IsZero() && len(out) > 0 {
		last := out[0].at
		for _, c := range out {
			if c.at.After(last) {
				last = c.at
			}
		}
		add(last.Add(24*time.Hour), "", events.Source{System: "stafet", MessageID: "close/" + p.episode}, &events.PathwayClosed{Reason: "completed"})
	}
	return out
}

// bytes returns n bytes from the pathway's id source.
func (p *pathway) bytes(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := p.ids.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// sealed returns a stand-in for the patient's sealed identity with the
// size the real one has: a 12-byte nonce and the AES-GCM sealed JSON of
// the CPR number and name (16 bytes of tag). It cannot be opened.
func (p *pathway) sealed() *events.SealedIdentity {
	plain, _ := json.Marshal(events.Identity{CPR: p.patient.cpr, Name: p.patient.given + " " + p.patient.family})
	return &events.SealedIdentity{Nonce: p.bytes(12), Ciphertext: p.bytes(len(plain) + 16)}
}
