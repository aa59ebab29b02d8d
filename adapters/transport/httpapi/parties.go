package httpapi

import (
	"slices"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// parties returns the organisations a pathway's history names: actors,
// hospitals, the municipality and GP, senders and addressees of offers and
// documents, and who answered them. They are the organisations that may
// read the pathway. Events a Correction annulled do not count, so an
// admission sent to the wrong hospital and annulled gives that hospital
// no access.
func parties(history []events.Envelope) []events.OrgID {
	annulled := make(map[uuid.UUID]bool)
	for i := range history {
		if id, ok := history[i].Annuls(); ok {
			annulled[id] = true
		}
	}
	var out []events.OrgID
	add := func(ids ...events.OrgID) {
		for _, id := range ids {
			if id != "" {
				out = append(out, id)
			}
		}
	}
	for i := range history {
		e := &history[i]
		if annulled[e.ID] {
			continue
		}
		add(e.Actor.Org)
		switch v := e.Payload.(type) {
		case *events.PathwayOpened:
			add(v.Municipality, v.GP)
		case *events.PatientAdmitted:
			add(v.Hospital, v.Notified)
		case *events.PatientTransferred:
			add(v.From, v.To)
		case *events.LeaveStarted:
			add(v.Hospital)
		case *events.LeaveEnded:
			add(v.Hospital)
		case *events.DischargeExpected:
			add(v.Hospital)
		case *events.ReadyForDischarge:
			add(v.Hospital, v.Municipality)
		case *events.PatientDischarged:
			add(v.Hospital, v.To)
		case *events.PatientDied:
			add(v.Place)
		case *events.HandoffOffered:
			add(v.From, v.To)
		case *events.HandoffAccepted:
			add(v.By)
		case *events.HandoffRejected:
			add(v.By)
		case *events.HandoffWithdrawn:
			add(v.By)
		case *events.ResponsibilityReleased:
			add(v.By)
		case *events.DocumentRequested:
			add(v.From, v.To)
		case *events.DocumentSent:
			add(v.From, v.To)
		case *events.DocumentAcknowledged:
			add(v.By)
		case *events.ServiceStarted:
			add(v.By)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// mayRead reports whether p may read a pathway with these parties.
func (p Principal) mayRead(parties []events.OrgID) bool {
	return p.Operator || slices.Contains(parties, p.Org)
}
