package events

import (
	"slices"

	"github.com/google/uuid"
)

// Parties returns the organisations a pathway's history names: actors,
// hospitals, the municipality and GP, senders and addressees of offers and
// documents, and who answered them. They are the organisations that may
// read the pathway, and the ones that may write to it without starting
// care of their own (Pathway.MayWrite). Events a Correction annulled do
// not count, so an admission sent to the wrong hospital and annulled
// gives that hospital no access.
func Parties(history []Envelope) []OrgID {
	annulled := make(map[uuid.UUID]bool)
	for i := range history {
		if id, ok := history[i].Annuls(); ok {
			annulled[id] = true
		}
	}
	var out []OrgID
	for i := range history {
		if e := &history[i]; !annulled[e.ID] {
			out = e.parties(out)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// parties appends the organisations one event names to out.
func (e *Envelope) parties(out []OrgID) []OrgID {
	add := func(ids ...OrgID) {
		for _, id := range ids {
			if id != "" {
				out = append(out, id)
			}
		}
	}
	add(e.Actor.Org)
	switch v := e.Payload.(type) {
	case *PathwayOpened:
		add(v.Municipality, v.GP)
	case *PatientAdmitted:
		add(v.Hospital, v.Notified)
	case *PatientTransferred:
		add(v.From, v.To)
	case *LeaveStarted:
		add(v.Hospital)
	case *LeaveEnded:
		add(v.Hospital)
	case *DischargeExpected:
		add(v.Hospital)
	case *ReadyForDischarge:
		add(v.Hospital, v.Municipality)
	case *PatientDischarged:
		add(v.Hospital, v.To)
	case *PatientDied:
		add(v.Place)
	case *HandoffOffered:
		add(v.From, v.To)
	case *HandoffAccepted:
		add(v.By)
	case *HandoffRejected:
		add(v.By)
	case *HandoffWithdrawn:
		add(v.By)
	case *ResponsibilityReleased:
		add(v.By)
	case *DocumentRequested:
		add(v.From, v.To)
	case *DocumentSent:
		add(v.From, v.To)
	case *DocumentAcknowledged:
		add(v.By)
	case *ServiceStarted:
		add(v.By)
	}
	return out
}
