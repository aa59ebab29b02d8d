package alerts

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// Viewer folds one pathway's history into its gaps. *projections.Gaps and
// *projections.Set have it; only their rules are read.
type Viewer interface {
	PathwayView(history []events.Envelope, now time.Time) projections.View
}

// logOnly is a "now" before every deadline. A view at logOnly shows what
// the log records and nothing the clock alone implies (an overdue offer
// whose DeadlineElapsed the scheduler has not appended yet, an escalation
// not yet recorded). So every alert follows from one recorded event, and
// handling the event again gives the same alerts.
var logOnly = time.Unix(1, 0).UTC()

// Derive returns the alerts the last event of history causes. history is
// one pathway's events in log order up to and including that event, as
// engine.Log.LoadUpTo gives them. Derive is pure: the same history gives
// the same alerts, with the same ids, in the same order; Counter is left
// zero for the publisher to fill in.
func Derive(v Viewer, history []events.Envelope) []Alert {
	if len(history) == 0 {
		return nil
	}
	e := &history[len(history)-1]
	if e.Type == events.TypePathwayOpened {
		return nil // nothing can be pending on a pathway just opened
	}
	d := deriver{e: e, cluster: clusterOf(history)}
	if o, ok := e.Payload.(*events.HandoffOffered); ok {
		d.add(OfferReceived, o.To, nil, offerInfo(o))
	}
	before := recordedGaps(v.PathwayView(history[:len(history)-1], logOnly).Gaps)
	after := recordedGaps(v.PathwayView(history, logOnly).Gaps)
	seen := make(map[uuid.UUID]bool, len(after))
	for _, g := range sortedGaps(after) {
		seen[g.ID] = true
		b, had := before[g.ID]
		switch {
		case g.Open() && (!had || !b.Open()):
			d.toClosers(GapOpened, g, nil)
		case g.Open() && g.Escalated && !b.Escalated:
			d.toClosers(GapEscalated, g, nil)
		case !g.Open() && had && b.Open():
			d.toClosers(GapClosed, g, nil)
		}
	}
	for _, b := range sortedGaps(before) {
		if !seen[b.ID] && b.Open() {
			// A Correction annulled what opened it: for its closers it is
			// closed by that Correction.
			b.ClosedAt, b.ClosedByType = e.OccurredAt, e.Type
			d.toClosers(GapClosed, b, nil)
		}
	}
	if de, ok := e.Payload.(*events.DeadlineElapsed); ok {
		d.deadline(de, history, after)
	}
	d.links(history)
	d.joined(history)
	return d.out
}

// joined tells every party of the pathway that an organisation which was
// not a party joined it (events.StartsCare by a non-party; the engine
// allows nothing else of one). The events of one stored message share
// its sequence, and a message is judged whole: a MedCom admission and
// the document it carries join once.
func (d *deriver) joined(history []events.Envelope) {
	org := d.e.Actor.Org
	if org == "" {
		return
	}
	start := len(history) - 1
	for start > 0 && history[start-1].Seq == d.e.Seq {
		start--
	}
	by := events.Type("")
	for i := start; i < len(history); i++ {
		if events.StartsCare(history[i].Payload, org) {
			by = history[i].Type
			break
		}
	}
	before := events.Parties(history[:start])
	if by == "" || len(before) == 0 || slices.Contains(before, org) {
		return
	}
	for _, party := range before {
		d.add(PartyJoined, party, nil, nil)
		d.out[len(d.out)-1].Access = &AccessInfo{Org: org, By: by}
	}
}

// links tells every party of the pathway that its patient was joined to
// another identity's (a PatientIdentityLinked), or that a join was undone
// (a Correction of one): each must know that the patient's other pathway
// holds more of the story. A join changes no gap, so no other alert says
// so.
func (d *deriver) links(history []events.Envelope) {
	kind, l := PatientLinked, (*events.PatientIdentityLinked)(nil)
	switch v := d.e.Payload.(type) {
	case *events.PatientIdentityLinked:
		l = v
	case *events.Correction:
		for i := range history {
			if history[i].ID == v.Annuls {
				l, _ = history[i].Payload.(*events.PatientIdentityLinked)
			}
		}
		kind = PatientUnlinked
	}
	if l == nil {
		return
	}
	for _, org := range events.Parties(history) {
		d.add(kind, org, nil, nil)
		d.out[len(d.out)-1].Link = &LinkInfo{Joined: l.Joined, Reason: l.Reason}
	}
}

type deriver struct {
	e       *events.Envelope
	cluster string
	out     []Alert
}

func (d *deriver) add(kind Kind, org events.OrgID, g *GapInfo, o *OfferInfo) {
	if org == "" {
		return
	}
	about := ""
	switch {
	case g != nil:
		about = g.ID.String()
	case o != nil:
		about = "offer/" + o.ID
	}
	d.out = append(d.out, Alert{
		ID: alertID(d.e.ID, kind, org, about), Kind: kind, Cluster: d.cluster, Org: org,
		Pathway: d.e.Pathway, Gap: g, Offer: o,
		EventID: d.e.ID, EventType: d.e.Type, EventSeq: d.e.Seq,
		OccurredAt: d.e.OccurredAt, RecordedAt: d.e.RecordedAt,
	})
}

func (d *deriver) toClosers(kind Kind, g projections.Gap, o *OfferInfo) {
	for _, org := range g.Closers {
		d.add(kind, org, gapInfo(g), o)
	}
}

// deadline addresses a DeadlineElapsed to those who can act on what had
// the deadline: the closers of the gap it opened or escalated, or else the
// addressee of the offer.
func (d *deriver) deadline(de *events.DeadlineElapsed, history []events.Envelope, after map[uuid.UUID]projections.Gap) {
	o := findOffer(history, de.Ref)
	var info *OfferInfo
	if o != nil {
		info = offerInfo(o)
	}
	for _, g := range sortedGaps(after) {
		if g.ID.String() == de.Ref || (g.Ref == de.Ref && g.Rule == de.Rule) {
			d.toClosers(DeadlineElapsed, g, info)
			return
		}
	}
	if o != nil {
		d.add(DeadlineElapsed, o.To, nil, info)
	}
}

func offerInfo(o *events.HandoffOffered) *OfferInfo {
	return &OfferInfo{ID: o.Offer, What: o.What, From: o.From, Deadline: o.Deadline}
}

func findOffer(history []events.Envelope, id string) *events.HandoffOffered {
	for i := len(history) - 1; i >= 0; i-- {
		if o, ok := history[i].Payload.(*events.HandoffOffered); ok && o.Offer == id {
			return o
		}
	}
	return nil
}

// recordedGaps keeps the gaps the log records, by id.
func recordedGaps(gs []projections.Gap) map[uuid.UUID]projections.Gap {
	out := make(map[uuid.UUID]projections.Gap, len(gs))
	for _, g := range gs {
		if g.Recorded {
			out[g.ID] = g
		}
	}
	return out
}

// sortedGaps lists gaps in the view's order (oldest first, then by id),
// so alerts come in the same order every time.
func sortedGaps(m map[uuid.UUID]projections.Gap) []projections.Gap {
	out := make([]projections.Gap, 0, len(m))
	for _, g := range m {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b projections.Gap) int {
		return cmp.Or(a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.ID.String(), b.ID.String()))
	})
	return out
}

func clusterOf(history []events.Envelope) string {
	for i := range history {
		if o, ok := history[i].Payload.(*events.PathwayOpened); ok {
			return o.Cluster
		}
	}
	return ""
}
