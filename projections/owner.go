package projections

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Owner answers "who is responsible for this patient now?": per pathway,
// who holds each responsibility, since when, and the chain of custody —
// every offer with its offered, answered and ended times.
//
// A closed pathway leaves it: only the count of closed pathways stays, so
// its memory follows the open pathways, not the history. A closed
// pathway's custody is in the log (PathwayOwner and PathwayView fold it).
type Owner struct {
	syms   *symbols
	open   map[uuid.UUID]*custody
	closed int
}

// NewOwner returns an empty Owner projection.
func NewOwner() *Owner {
	return &Owner{syms: newSymbols().cached(), open: make(map[uuid.UUID]*custody)}
}

// Holding is one responsibility and who holds it.
type Holding struct {
	What  events.Responsibility
	Org   events.OrgID
	Since time.Time
}

// Handoff is one link of the chain of custody: an offer and what became
// of it. Answered is when it was accepted, rejected or withdrawn; Ended is
// when a responsibility taken by accepting it ended (released, taken over
// by another organisation, the hospital stay ended by discharge, death).
type Handoff struct {
	Offer    string
	What     events.Responsibility
	From, To events.OrgID
	Status   events.OfferStatus
	Offered  time.Time
	Deadline time.Time
	Answered time.Time
	Ended    time.Time
}

// OwnerView is one pathway as the Owner projection holds it.
type OwnerView struct {
	Pathway      uuid.UUID
	Cluster      string
	Municipality events.OrgID
	OpenedAt     time.Time
	Died         bool
	Closed       bool
	ClosedAt     time.Time
	// Holders lists who holds what now, in the order it was taken.
	Holders []Holding
	// Chain lists every offer in log order. Empty for a closed pathway.
	Chain []Handoff
}

// Holder returns who holds a responsibility now, or "".
func (v OwnerView) Holder(r events.Responsibility) events.OrgID {
	for _, h := range v.Holders {
		if h.What == r {
			return h.Org
		}
	}
	return ""
}

type custody struct {
	cluster, municipality sym
	opened, closed        stamp
	died                  bool
	holders               []holding
	chain                 []handoff
}

type holding struct {
	what, org sym
	since     stamp
	link      int32 // the chain entry that gave it, or -1
}

type handoff struct {
	offer                            string
	from, to, what                   sym
	status                           uint8
	offered, deadline, answered, end stamp
}

// Offer statuses, as stored.
const (
	stPending uint8 = iota
	stAccepted
	stRejected
	stWithdrawn
)

var offerStatuses = [...]events.OfferStatus{events.OfferPending, events.OfferAccepted, events.OfferRejected, events.OfferWithdrawn}

// Apply folds one event in. A Correction changes nothing here: the host
// calls Refold next.
func (o *Owner) Apply(e events.Envelope) error { return o.apply(&e) }

// apply is Apply without copying the envelope again (Set.Apply).
func (o *Owner) apply(e *events.Envelope) error {
	switch e.Payload.(type) {
	case nil:
		return fmt.Errorf("projections: owner: event %s has no payload", e.ID)
	case *events.Correction, *events.QuarantineResolved, *events.Quarantined:
		// No custody of their own; a Correction or a decision is
		// followed by Refold.
		return nil
	}
	// Only a Correction may follow PathwayClosed (events.Decide), so an
	// event of a pathway not held opens it.
	c := o.open[e.Pathway]
	if c == nil {
		c = &custody{}
		o.open[e.Pathway] = c
	}
	o.fold(c, e)
	return nil
}

// fold folds e, an event with custody of its own, into c, its pathway's
// custody held in o.open; false if that closed the pathway, which left.
func (o *Owner) fold(c *custody, e *events.Envelope) bool {
	c.evolve(o.syms, e)
	if c.closed != 0 {
		o.compact(e.Pathway, c)
		return false
	}
	return true
}

func (o *Owner) compact(id uuid.UUID, c *custody) {
	delete(o.open, id)
	o.closed++
}

// Refold rebuilds one pathway from its whole history (after), as if the
// events it annuls never happened; the custody holds nothing of before
// that after does not give again.
func (o *Owner) Refold(pathway uuid.UUID, before, after []events.Envelope) error {
	if _, ok := o.open[pathway]; !ok && closes(before) {
		o.closed--
	}
	delete(o.open, pathway)
	c := foldCustody(o.syms, after)
	if c == nil {
		return nil
	}
	if c.closed != 0 {
		o.compact(pathway, c)
	} else {
		o.open[pathway] = c
	}
	return nil
}

// closes reports whether a pathway's history, folded, closed it.
func closes(history []events.Envelope) bool {
	closed := false
	eachLive(history, func(e *events.Envelope) {
		if _, ok := e.Payload.(*events.PathwayClosed); ok {
			closed = true
		}
	})
	return closed
}

func foldCustody(syms *symbols, history []events.Envelope) *custody {
	var c *custody
	eachLive(history, func(e *events.Envelope) {
		if c == nil {
			c = &custody{}
		}
		c.evolve(syms, e)
	})
	return c
}

// Pathway returns the custody of one open pathway. A closed one is not
// held: PathwayOwner folds it from the log.
func (o *Owner) Pathway(id uuid.UUID) (OwnerView, bool) {
	if c, ok := o.open[id]; ok {
		return c.view(o.syms, id), true
	}
	return OwnerView{}, false
}

// Find returns the open pathways whose id begins or ends with
// abbrev, hexadecimal digits in any case with dashes anywhere: the
// beginning people copy, or the end the dashboard shows (a UUIDv7 begins
// with its time, so pathways opened together share a beginning). Sorted,
// at most max; nil for an abbreviation of fewer than 4 digits or not hex.
// A closed pathway has left the projection: it is named by its full id.
func (o *Owner) Find(abbrev string, max int) []uuid.UUID {
	want := strings.ToLower(strings.ReplaceAll(abbrev, "-", ""))
	if len(want) < 4 || len(want) > 32 || strings.Trim(want, "0123456789abcdef") != "" {
		return nil
	}
	var out []uuid.UUID
	var buf [32]byte
	match := func(id uuid.UUID) {
		hex.Encode(buf[:], id[:])
		if h := string(buf[:]); strings.HasPrefix(h, want) || strings.HasSuffix(h, want) {
			out = append(out, id)
		}
	}
	for id := range o.open {
		match(id)
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// Open yields the custody of every open pathway, in no particular order.
// Readers that page through them sort what they keep.
func (o *Owner) Open() iter.Seq[OwnerView] {
	return func(yield func(OwnerView) bool) {
		for id, c := range o.open {
			if !yield(c.view(o.syms, id)) {
				return
			}
		}
	}
}

// Len returns the number of open pathways held and of closed pathways
// counted.
func (o *Owner) Len() (open, closed int) { return len(o.open), o.closed }

func (c *custody) evolve(syms *symbols, e *events.Envelope) {
	t := stampOf(e.OccurredAt)
	switch v := e.Payload.(type) {
	case *events.PathwayOpened:
		c.cluster, c.opened = syms.of(v.Cluster), t
		if v.Municipality != "" {
			c.municipality = syms.org(v.Municipality)
		}
	case *events.PatientAdmitted:
		if c.municipality == 0 && v.Notified != "" {
			c.municipality = syms.org(v.Notified)
		}
		c.take(syms.of(string(events.HospitalStay)), syms.org(v.Hospital), t, -1)
	case *events.PatientTransferred:
		c.take(syms.of(string(events.HospitalStay)), syms.org(v.To), t, -1)
	case *events.PatientDischarged:
		c.release(syms.of(string(events.HospitalStay)), 0, t)
	case *events.PatientDied:
		c.died = true
		for len(c.holders) > 0 {
			c.release(c.holders[0].what, 0, t)
		}
	case *events.HandoffOffered:
		c.chain = append(c.chain, handoff{
			offer: v.Offer, from: syms.org(v.From), to: syms.org(v.To), what: syms.of(string(v.What)),
			offered: t, deadline: stampOf(v.Deadline),
		})
	case *events.HandoffAccepted:
		if i := c.pending(v.Offer); i >= 0 {
			h := &c.chain[i]
			h.status, h.answered = stAccepted, t
			c.take(h.what, h.to, t, int32(i))
		}
	case *events.HandoffRejected:
		c.answer(v.Offer, stRejected, t)
	case *events.HandoffWithdrawn:
		c.answer(v.Offer, stWithdrawn, t)
	case *events.ResponsibilityReleased:
		c.release(syms.of(string(v.What)), syms.org(v.By), t)
	case *events.PathwayClosed:
		c.closed = t
		if c.closed == 0 {
			c.closed = 1 // an event without a time still closes the pathway
		}
	}
}

// pending returns the index of a pending offer in the chain, or -1. Offer
// ids are unique on a pathway (events.Decide), so the last match is it.
func (c *custody) pending(offer string) int {
	for i := len(c.chain) - 1; i >= 0; i-- {
		if c.chain[i].offer == offer {
			if c.chain[i].status != stPending {
				return -1
			}
			return i
		}
	}
	return -1
}

func (c *custody) answer(offer string, status uint8, t stamp) {
	if i := c.pending(offer); i >= 0 {
		c.chain[i].status, c.chain[i].answered = status, t
	}
}

// take makes org the holder of what, ending the previous holder's link.
func (c *custody) take(what, org sym, t stamp, link int32) {
	for i := range c.holders {
		h := &c.holders[i]
		if h.what != what {
			continue
		}
		if h.org == org && link < 0 {
			return // the same hospital admitting again keeps its since
		}
		c.end(h.link, t)
		*h = holding{what: what, org: org, since: t, link: link}
		return
	}
	c.holders = append(c.holders, holding{what: what, org: org, since: t, link: link})
}

// release drops the holder of what; by, if not 0, must be the holder.
func (c *custody) release(what, by sym, t stamp) {
	for i, h := range c.holders {
		if h.what == what && (by == 0 || h.org == by) {
			c.end(h.link, t)
			c.holders = slices.Delete(c.holders, i, i+1)
			return
		}
	}
}

func (c *custody) end(link int32, t stamp) {
	if link >= 0 && int(link) < len(c.chain) {
		c.chain[link].end = t
	}
}

func (c *custody) view(syms *symbols, id uuid.UUID) OwnerView {
	v := OwnerView{
		Pathway: id, Cluster: syms.str(c.cluster), Municipality: syms.orgID(c.municipality),
		OpenedAt: c.opened.time(), Died: c.died, Closed: c.closed != 0, ClosedAt: c.closed.time(),
	}
	for _, h := range c.holders {
		v.Holders = append(v.Holders, Holding{What: events.Responsibility(syms.str(h.what)), Org: syms.orgID(h.org), Since: h.since.time()})
	}
	for _, h := range c.chain {
		v.Chain = append(v.Chain, Handoff{
			Offer: h.offer, What: events.Responsibility(syms.str(h.what)), From: syms.orgID(h.from), To: syms.orgID(h.to),
			Status: offerStatuses[h.status], Offered: h.offered.time(), Deadline: h.deadline.time(),
			Answered: h.answered.time(), Ended: h.end.time(),
		})
	}
	return v
}

const ownerMagic = "STFO"

// Snapshot returns the whole state; the same state gives the same bytes.
func (o *Owner) Snapshot() ([]byte, error) {
	w := newWriter(o.syms)
	ids := sortedIDs(o.open)
	w.uvarint(uint64(len(ids)))
	for _, id := range ids {
		c := o.open[id]
		w.uuid(id)
		w.sym(c.cluster)
		w.sym(c.municipality)
		w.stamp(c.opened)
		w.stamp(c.closed)
		w.bool(c.died)
		w.uvarint(uint64(len(c.holders)))
		for _, h := range c.holders {
			w.sym(h.what)
			w.sym(h.org)
			w.stamp(h.since)
			w.varint(int64(h.link))
		}
		w.uvarint(uint64(len(c.chain)))
		for _, h := range c.chain {
			w.string(h.offer)
			w.sym(h.from)
			w.sym(h.to)
			w.sym(h.what)
			w.byte(h.status)
			w.stamp(h.offered)
			w.stamp(h.deadline)
			w.stamp(h.answered)
			w.stamp(h.end)
		}
	}
	w.uvarint(uint64(o.closed))
	return w.bytes(ownerMagic), nil
}

// Restore replaces the whole state with a snapshot's.
func (o *Owner) Restore(b []byte) error {
	syms := newSymbols().cached()
	r, err := newReader(b, ownerMagic, syms)
	if err != nil {
		return err
	}
	open := make(map[uuid.UUID]*custody)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		id := r.uuid()
		c := &custody{cluster: r.sym(), municipality: r.sym(), opened: r.stamp(), closed: r.stamp(), died: r.bool()}
		for k := r.count(); k > 0 && r.err == nil; k-- {
			c.holders = append(c.holders, holding{what: r.sym(), org: r.sym(), since: r.stamp(), link: int32(r.varint())})
		}
		for k := r.count(); k > 0 && r.err == nil; k-- {
			h := handoff{offer: r.string(), from: r.sym(), to: r.sym(), what: r.sym(), status: r.byte()}
			h.offered, h.deadline, h.answered, h.end = r.stamp(), r.stamp(), r.stamp(), r.stamp()
			if h.status > stWithdrawn {
				r.fail("unknown offer status")
			}
			c.chain = append(c.chain, h)
		}
		open[id] = c
	}
	closed := r.closedCount()
	if err := r.done(); err != nil {
		return fmt.Errorf("projections: owner: restore: %w", err)
	}
	o.syms, o.open, o.closed = syms, open, closed
	return nil
}

// closedCount reads how many pathways closed. Version 3 listed them,
// each with its cluster, municipality and times: they are counted.
func (r *reader) closedCount() int {
	if r.version == 3 {
		n := r.count()
		for k := n; k > 0 && r.err == nil; k-- {
			r.uuid()
			r.sym()
			r.sym()
			r.stamp()
			r.stamp()
		}
		return n
	}
	n := r.uvarint()
	if n > 1<<40 {
		r.fail("closed pathways beyond belief")
	}
	return int(n)
}

func sortedIDs[V any](m map[uuid.UUID]V) []uuid.UUID {
	return slices.SortedFunc(maps.Keys(m), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
}
