package projections

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Worklists answers, per organisation, what is waiting for it. It reads
// a Gaps projection and holds nothing of its own.
type Worklists struct{ g *Gaps }

// NewWorklists returns the worklists of a Gaps projection.
func NewWorklists(g *Gaps) Worklists { return Worklists{g: g} }

// Worklist is what one organisation has to do, most urgent first.
type Worklist struct {
	Org events.OrgID
	At  time.Time
	// Offers are the pending offers addressed to Org, earliest deadline
	// first (offers without a deadline last).
	Offers []WaitingOffer
	// Gaps are the open gaps Org can close: critical before warning
	// before info, then by deadline.
	Gaps []Gap
}

// WaitingOffer is a pending offer on a worklist.
type WaitingOffer struct {
	Pathway  uuid.UUID
	Cluster  string
	Offer    string
	What     events.Responsibility
	From     events.OrgID
	Offered  time.Time
	Deadline time.Time
	// Overdue: the deadline has passed by the query's now.
	Overdue bool
	// Paused: the patient is on leave, so the municipal clock stands
	// still (rule 9).
	Paused bool
}

// Worklist returns what org has to do at now.
func (w Worklists) Worklist(org events.OrgID, now time.Time) Worklist {
	out := Worklist{Org: org, At: now}
	s, ok := w.g.syms.lookup(string(org))
	if !ok || org == "" {
		return out
	}
	n := stampOf(now)
	for id, t := range w.g.paths {
		for _, x := range t.watches {
			if x.rk != refOffer || x.party != s {
				continue
			}
			out.Offers = append(out.Offers, WaitingOffer{
				Pathway: id, Cluster: w.g.syms.str(t.cluster), Offer: x.id,
				What: events.Responsibility(w.g.syms.str(x.what)), From: w.g.syms.orgID(x.other),
				Offered: x.start.time(), Deadline: x.deadline.time(),
				Overdue: x.deadline != 0 && n > x.deadline && x.flags&wPaused == 0, Paused: x.flags&wPaused != 0,
			})
		}
		t.gapsAt(w.g.view(id), n, func(v *gapView) {
			if v.closed == 0 && (v.a == s || v.b == s) {
				out.Gaps = append(out.Gaps, v.gap())
			}
		})
	}
	slices.SortFunc(out.Offers, func(a, b WaitingOffer) int {
		return cmp.Or(
			cmp.Compare(boolInt(a.Deadline.IsZero()), boolInt(b.Deadline.IsZero())),
			a.Deadline.Compare(b.Deadline), a.Offered.Compare(b.Offered),
			cmp.Compare(a.Pathway.String(), b.Pathway.String()), cmp.Compare(a.Offer, b.Offer))
	})
	slices.SortFunc(out.Gaps, urgency)
	return out
}

// urgency orders gaps most urgent first: by severity, then deadline.
func urgency(a, b Gap) int {
	return cmp.Or(
		cmp.Compare(b.Severity.rank(), a.Severity.rank()),
		a.Deadline.Compare(b.Deadline), a.OpenedAt.Compare(b.OpenedAt),
		cmp.Compare(a.ID.String(), b.ID.String()))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
