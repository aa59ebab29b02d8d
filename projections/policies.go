package projections

import (
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Policies turn facts into the handoff offers they imply. MedCom has no
// "offer" message: a discharge home with municipal services implies that
// home care is offered to the municipality, and so on. The engine runs
// Decide after each append and executes what it returns.
//
// Policies never accept anything: acceptance comes only from an explicit
// act of the receiver, never from a delivery acknowledgement
// (DocumentAcknowledged).
type Policies struct {
	rs  *ruleset
	dir *events.Directory // who receives each kind of handoff, by date
}

// WithDirectory returns the policies addressing each implied offer by the
// receiving rules in force at the trigger's valid time
// (events.Directory.ReceiverOf): from 2027-01-01 a discharge to a
// municipal bed offers it to the patient's region, not the municipality.
// Without a directory every municipal handoff goes to the municipality.
func (p Policies) WithDirectory(d *events.Directory) Policies {
	p.dir = d
	return p
}

// receiver returns who receives a handoff of what, named or implied for a
// patient of municipality to, at valid time at.
func (p Policies) receiver(what events.Responsibility, to events.OrgID, at time.Time) events.OrgID {
	if p.dir == nil || to.Scheme() != events.SchemeKommune {
		return to
	}
	return p.dir.ReceiverOf(what, to, at)
}

// NewPolicies returns the policies configured by r (its "policies" and the
// deadline rules they name). The zero Policies decides nothing.
func NewPolicies(r Rules) (Policies, error) {
	rs, err := r.compile()
	if err != nil {
		return Policies{}, err
	}
	return Policies{rs: rs}, nil
}

// Decide returns the commands the policies derive from e: at most one
// HandoffOffered, or, for a Correction that annuls the trigger of a policy
// offer still pending, its HandoffWithdrawn (rule 10: no gap from a
// cancelled event). state is the pathway's state with e applied (as the
// engine holds it after the append).
//
// Each command's offer id and source message id is
// "<policy>/<trigger event id>", so however often Decide runs for the same
// event — a replay, a retry, a second instance — the engine's idempotency
// appends the offer once. OccurredAt is the trigger's, Causation its id.
func (p Policies) Decide(state *events.Pathway, e events.Envelope) []events.Command {
	if p.rs == nil || state == nil || e.Payload == nil {
		return nil
	}
	if annulled, ok := e.Annuls(); ok {
		return p.withdraw(state, e, annulled)
	}
	var policy policyID
	var offer *events.HandoffOffered
	switch v := e.Payload.(type) {
	case *events.PatientAdmitted:
		if v.Notified.Scheme() != events.SchemeKommune {
			return nil
		}
		policy, offer = pAdmissionNotified, &events.HandoffOffered{From: v.Hospital, To: v.Notified, What: events.DischargePlanning}
	case *events.PatientDischarged:
		what, ok := v.Destination.Receiving()
		if !ok {
			return nil
		}
		to := v.To
		if to.Scheme() != events.SchemeKommune {
			to = state.Municipality()
		}
		policy, offer = pDischargeServices, &events.HandoffOffered{From: v.Hospital, To: p.receiver(what, to, e.OccurredAt), What: what}
	case *events.DocumentSent:
		switch v.Kind {
		case events.RehabilitationPlan:
			to := v.To
			if to.Scheme() != events.SchemeKommune {
				to = state.Municipality()
			}
			policy, offer = pRehabilitationPlan, &events.HandoffOffered{From: v.From, To: p.receiver(events.Rehabilitation, to, e.OccurredAt), What: events.Rehabilitation, Deadline: v.Deadline}
		case events.DischargeLetter:
			to := v.To
			if s := to.Scheme(); s != events.SchemeYder && s != events.SchemeSOR || to == v.From {
				to = state.GP()
			}
			policy, offer = pDischargeLetter, &events.HandoffOffered{From: v.From, To: to, What: events.GPFollowUp}
		default:
			return nil
		}
	default:
		return nil
	}
	cfg := p.rs.policy[policy]
	if cfg.off || offer.To == "" || offer.From == "" || offer.To == offer.From || state.Holder(offer.What) == offer.To {
		return nil
	}
	name := policyNames[policy]
	id := name + "/" + e.ID.String()
	if _, ok := state.Offer(id); ok {
		return nil
	}
	offer.Offer, offer.Policy = id, name
	if offer.Deadline.IsZero() && p.rs.on(cfg.rule) {
		offer.Deadline = p.rs.deadline(cfg.rule, e.OccurredAt)
	}
	return []events.Command{{
		Pathway:     e.Pathway,
		Source:      events.Source{System: "policy", MessageID: id},
		OccurredAt:  e.OccurredAt,
		Correlation: e.Correlation,
		Causation:   e.ID.String(),
		Payloads:    []events.Payload{offer},
	}}
}

// withdraw takes back the pending offers a policy made for an event that
// a Correction annulled.
func (p Policies) withdraw(state *events.Pathway, e events.Envelope, annulled uuid.UUID) []events.Command {
	var out []events.Command
	for _, name := range policyNames {
		id := name + "/" + annulled.String()
		o, ok := state.Offer(id)
		if !ok || o.Status != events.OfferPending {
			continue
		}
		out = append(out, events.Command{
			Pathway:     e.Pathway,
			Source:      events.Source{System: "policy", MessageID: "withdraw/" + id},
			OccurredAt:  e.OccurredAt,
			Correlation: e.Correlation,
			Causation:   e.ID.String(),
			Payloads:    []events.Payload{&events.HandoffWithdrawn{Offer: id, By: o.From, Reason: "its trigger was annulled by a correction"}},
		})
	}
	return out
}
