package events

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Who may write about a patient, and who may learn who the patient is:
// the care relationship rules, one set for every channel (docs/security.md).
//
// Writing: an organisation that is party to a pathway (Parties) may send
// anything the pathway rules allow. One that is not may join the pathway
// only by an event that starts its own care of the patient (StartsCare):
// an admission to itself, a transfer to it, or the join of the pathway to
// one where the patient, under another identity, is in its care (HL7
// A47, A40, A24); a handoff offered to it makes it a party, so it may
// accept. Anything else it sends — a death, a discharge, a leave, a cancellation,
// a merge, a transfer away — breaks the rule RuleNotParty.
//
// Seeing the identity: an organisation with a current or recent care
// relationship (CareOf) may see the patient's CPR number and name.

// RuleNotParty is the rule a non-party breaks when it sends an event that
// does not start its own care of the patient.
const RuleNotParty = "not-party"

// CareWindow is how long a care relationship counts as recent after it
// ended: 30 days, the window in which a readmission counts as one
// (Sundhedsdatastyrelsen's indicator) and in which discharge letters,
// rehabilitation plans and the municipality's follow-up visits arrive. An
// organisation that took part in a pathway within it may still see whom
// it concerns; after it, only a break-the-glass read with a stated reason
// shows the identity.
const CareWindow = 30 * 24 * time.Hour

// StartsCare reports whether pl, sent by org, starts org's own care of the
// patient: an admission to org, a transfer to org that org sends (it
// accepted the patient), or the join of this pathway to the one on which
// the patient, under another identity, is in org's care. These are the only events by which an organisation that is
// not yet party to a pathway may join it. (A handoff offered to an
// organisation makes it a party already: it reads the pathway, and
// accepts or rejects as a party.)
func StartsCare(pl Payload, org OrgID) bool {
	if org == "" {
		return false
	}
	switch v := pl.(type) {
	case *PatientAdmitted:
		return v.Hospital == org
	case *PatientTransferred:
		return v.To == org
	case *PatientIdentityLinked:
		// A link that names the pathway it joins: the engine's intake
		// makes one only for a sender in the patient's care on that
		// pathway (engine.Intake's mayJoin), and the APIs take none from
		// an organisation.
		return v.Joined != uuid.Nil
	}
	return false
}

// MayWrite applies the care relationship rule to one payload an
// organisation sends: a party may send it, a non-party only if it starts
// its own care (StartsCare). An empty org is Stafet itself (policies,
// the deadline scheduler), which is not held to the rule.
func (p *Pathway) MayWrite(org OrgID, pl Payload) error {
	if org == "" || p.parties[org] || StartsCare(pl, org) {
		return nil
	}
	return &RuleError{RuleNotParty, fmt.Sprintf("%s is not party to this patient's pathway: it may join only by an admission to itself, a transfer to it or a join of identities of a patient in its care, not by %s", org, pl.Type())}
}

// Party reports whether org is party to the pathway (Parties).
func (p *Pathway) Party(org OrgID) bool { return p.parties[org] }

// Parties returns the pathway's parties, sorted.
func (p *Pathway) Parties() []OrgID {
	out := make([]OrgID, 0, len(p.parties))
	for org := range p.parties {
		out = append(out, org)
	}
	slices.Sort(out)
	return out
}

// inCare reports whether org is in the patient's care on the state: it
// holds a responsibility or the stay, has a pending handoff to or from
// it, or is the patient's municipality or GP.
func (p *Pathway) inCare(org OrgID) bool {
	if org == "" {
		return false
	}
	if org == p.municipality || org == p.gp || (p.admitted && org == p.hospital) {
		return true
	}
	for _, h := range p.holders {
		if h == org {
			return true
		}
	}
	for _, o := range p.offers {
		if o.Status == OfferPending && (o.To == org || o.From == org) {
			return true
		}
	}
	return false
}

// Care is an organisation's care relationship with the patient of one
// pathway at a moment.
type Care struct {
	// Current: the pathway is open and the organisation holds a
	// responsibility or the stay, has a pending handoff to or from it, or
	// is the patient's municipality or GP.
	Current bool
	// Last is when the organisation last took part in the pathway (the
	// valid time of the last live event naming it; for one in care when
	// the pathway closed, the close). Zero if it never did.
	Last time.Time
	// Recent: not current, but Last is no more than CareWindow ago.
	Recent bool
}

// Any reports a current or recent care relationship: what it takes to see
// the patient's identity without breaking the glass.
func (c Care) Any() bool { return c.Current || c.Recent }

// CareOf tells the care relationship org has, at now, with the patient of
// the pathway whose history this is.
func CareOf(history []Envelope, org OrgID, now time.Time) Care {
	var c Care
	if org == "" || len(history) == 0 {
		return c
	}
	p := Fold(history)
	if !p.parties[org] {
		return c
	}
	var buf [4]OrgID
	for i := range history {
		e := &history[i]
		if p.annulled[e.ID] || p.annulledSeqs[e.Seq] || !slices.Contains(e.parties(buf[:0]), org) {
			continue
		}
		if e.OccurredAt.After(c.Last) {
			c.Last = e.OccurredAt
		}
	}
	if p.inCare(org) {
		if !p.closed {
			c.Current = true
			return c
		}
		if p.closedAt.After(c.Last) {
			c.Last = p.closedAt
		}
	}
	c.Recent = !c.Last.IsZero() && now.Sub(c.Last) <= CareWindow
	return c
}
