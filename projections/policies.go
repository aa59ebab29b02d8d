package projections

import (
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
type Policies struct{ rs *ruleset }

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
// HandoffOffered. state is the pathway's state with e applied (as the
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
	var policy policyID
	var offer *events.HandoffOffered
	switch v := e.Payload.(type) {
	case *events.PatientAdmitted:
		if v.Notified.Scheme() != events.SchemeKommune {
			return nil
		}
		policy, offer = pAdmissionNotified, &events.HandoffOffered{From: v.Hospital, To: v.Notified, What: events.DischargePlanning}
	case *events.PatientDischarged:
		what, ok := receiving(v.Destination)
		if !ok {
			return nil
		}
		to := v.To
		if to.Scheme() != events.SchemeKommune {
			to = state.Municipality()
		}
		policy, offer = pDischargeServices, &events.HandoffOffered{From: v.Hospital, To: to, What: what}
	case *events.DocumentSent:
		switch v.Kind {
		case events.RehabilitationPlan:
			to := v.To
			if to.Scheme() != events.SchemeKommune {
				to = state.Municipality()
			}
			policy, offer = pRehabilitationPlan, &events.HandoffOffered{From: v.From, To: to, What: events.Rehabilitation, Deadline: v.Deadline}
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
