package projections

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// GapKind names a way the baton is dropped (docs/projections.md).
type GapKind string

// Gap kinds.
const (
	// NoOwner: discharged to care nobody holds, or the holder released a
	// responsibility while handing it over, and nobody has accepted it.
	NoOwner GapKind = "no-owner"
	// OfferOverdue: an offer neither accepted nor rejected by its deadline.
	OfferOverdue GapKind = "offer-overdue"
	// OfferRejected: an offer was rejected and the responsibility was not
	// offered again within the rule's time.
	OfferRejected GapKind = "offer-rejected"
	// DischargedBeforeAccept: discharged while an offer of care the
	// patient needs on arrival was still pending.
	DischargedBeforeAccept GapKind = "discharged-before-accept"
	// DocumentOverdue: a required document not sent, not acknowledged or
	// not acted on by its deadline.
	DocumentOverdue GapKind = "document-overdue"
	// ReadyButWaiting: ready for discharge ("færdigbehandlet") and still in
	// hospital; counted in bed-days the municipality pays for.
	ReadyButWaiting GapKind = "ready-but-waiting"
)

var kindNames = [nKinds]GapKind{NoOwner, OfferOverdue, OfferRejected, DischargedBeforeAccept, DocumentOverdue, ReadyButWaiting}

// Kinds lists the gap kinds.
func Kinds() []GapKind { return slices.Clone(kindNames[:]) }

// Gap is an interval in which a pathway is active and the baton is on the
// ground.
type Gap struct {
	// ID is derived from the pathway, the kind and Ref (GapID), so it is
	// the same in every replay and on every instance.
	ID           uuid.UUID
	Kind         GapKind
	Pathway      uuid.UUID
	Cluster      string
	Municipality events.OrgID
	// Body is the body the pathway belongs to on the date the query
	// groups by (List's GapFilter.At): Cluster up to 2026-12-31, the
	// sundhedsråd of the pathway's municipality from 2027-01-01.
	Body string
	// Ref names what the gap is about within its pathway: an offer id,
	// "request/<document>", "ack/<document>", "rehabilitation/<plan>",
	// "discharge-letter/<stay>", "admission-report/<stay>",
	// "care-process-plan/<stay>", "ready/<n>" or "<responsibility>/<n>".
	Ref      string
	Rule     string
	Severity Severity
	// Closers are the organisations that can close the gap, the one that
	// must act first.
	Closers []events.OrgID
	// OpenedAt is valid time: when the baton was dropped (for a missed
	// deadline, the deadline).
	OpenedAt time.Time
	// Deadline is when the gap escalates; for a missed deadline it is that
	// deadline, so equal to OpenedAt.
	Deadline time.Time
	// Escalated: the deadline has passed with the gap still open, by the
	// log (DeadlineElapsed) or by the query's now.
	Escalated bool
	// Recorded: the log holds what opened the gap. False for a deadline
	// that has passed by the query's now but whose DeadlineElapsed the
	// scheduler has not appended yet.
	Recorded bool
	// ClosedAt, ClosedBy and ClosedByType say when and by which event the
	// gap closed; zero while it is open.
	ClosedAt     time.Time
	ClosedBy     uuid.UUID
	ClosedByType events.Type
	// Days counts the calendar days a ready-but-waiting gap touched, up to
	// its close or the query's now: the bed-days the municipality pays.
	Days int
}

// Open reports whether the gap is still open.
func (g Gap) Open() bool { return g.ClosedAt.IsZero() }

// gapNamespace is the UUIDv5 namespace of gap ids.
var gapNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:stafet:gap"))

// GapID returns the id of the gap of a kind about ref on a pathway.
func GapID(pathway uuid.UUID, kind GapKind, ref string) uuid.UUID {
	return uuid.NewSHA1(gapNamespace, []byte(pathway.String()+"|"+string(kind)+"|"+ref))
}

// Deadline is a deadline still running, with the cluster and the kind of
// gap it belongs to: the engine's scheduler appends its DeadlineElapsed
// (events.Deadline.Elapsed) when it passes. Ref is a watch's ref (an offer
// id, "discharge-letter/1", …) or, for an open gap's escalation, the
// gap's id.
type Deadline struct {
	events.Deadline
	Cluster string
	Kind    GapKind
}

// Gaps finds dropped batons: the gaps of every open pathway, the deadlines
// still running, and the aggregates behind Figures. Worklists and Figures
// answer their queries from it.
//
// When a pathway closes its gaps close with it; the projection then keeps
// nothing of it but its share of the figures.
type Gaps struct {
	rs    *ruleset
	syms  *symbols
	paths map[uuid.UUID]*track
	st    *stats
	dir   *events.Directory // groups by the body in force at a date; queries only
	// integrity holds the quarantined messages by sequence, open and
	// resolved: they outlive their pathways.
	integrity map[uint64]*integrity
}

// UseDirectory makes queries group pathways by the body in force at a
// date (BodyAt). It changes no state: folds and snapshots never read it.
func (g *Gaps) UseDirectory(d *events.Directory) { g.dir = d }

// BodyAt returns the body a pathway belongs to at a date, for grouping
// (events.Directory.BodyOf). Without a directory it is the body the
// pathway was opened in.
func (g *Gaps) BodyAt(pathway uuid.UUID, at time.Time) (string, bool) {
	t, ok := g.paths[pathway]
	if !ok {
		return "", false
	}
	return g.bodyAt(t, at), true
}

// OpenIn returns the open pathways opened in a body (their subject's
// token) with their patient's municipality, sorted by id: the literal
// subjects a subscriber needs where a 2026 cluster splits between two
// sundhedsråd.
func (g *Gaps) OpenIn(cluster string) []PathwayPlace {
	s, ok := g.syms.lookup(cluster)
	if !ok || cluster == "" {
		return nil
	}
	var out []PathwayPlace
	for _, id := range sortedIDs(g.paths) {
		if t := g.paths[id]; t.cluster == s {
			out = append(out, PathwayPlace{Pathway: id, Municipality: g.syms.orgID(t.municipality)})
		}
	}
	return out
}

// PathwayPlace is an open pathway and its patient's municipality.
type PathwayPlace struct {
	Pathway      uuid.UUID
	Municipality events.OrgID
}

func (g *Gaps) bodyAt(t *track, at time.Time) string {
	return bodyAt(g.dir, g.syms.str(t.cluster), g.syms.orgID(t.municipality), at)
}

func bodyAt(d *events.Directory, cluster string, municipality events.OrgID, at time.Time) string {
	if d == nil {
		return cluster
	}
	return d.BodyOf(cluster, municipality, at)
}

// NewGaps returns an empty Gaps projection applying r.
func NewGaps(r Rules) (*Gaps, error) {
	rs, err := r.compile()
	if err != nil {
		return nil, err
	}
	return newGaps(rs), nil
}

func newGaps(rs *ruleset) *Gaps {
	return &Gaps{rs: rs, syms: newSymbols().cached(), paths: make(map[uuid.UUID]*track), st: newStats(), integrity: make(map[uint64]*integrity)}
}

// Apply folds one event in. A Correction changes nothing here: the host
// calls Refold next. A quarantined message's stand-in opens an integrity
// gap, and the operator's decision about it closes the gap.
func (g *Gaps) Apply(e events.Envelope) error { return g.apply(&e) }

// apply is Apply without copying the envelope again (Set.Apply).
func (g *Gaps) apply(e *events.Envelope) error {
	switch v := e.Payload.(type) {
	case nil:
		return fmt.Errorf("projections: gaps: event %s has no payload", e.ID)
	case *events.Quarantined:
		g.quarantined(e, v)
		return nil
	case *events.QuarantineResolved:
		g.resolved(e, v)
		return nil
	case *events.Correction:
		return nil
	}
	t := g.paths[e.Pathway]
	if t == nil {
		t = &track{}
		g.paths[e.Pathway] = t
	}
	g.fold(t, e)
	return nil
}

// fold folds e, an event with state of its own, into t, its pathway's
// track held in g.paths; a pathway it closed leaves.
func (g *Gaps) fold(t *track, e *events.Envelope) {
	// Set field by field: the compiler builds a composite literal in a
	// temporary and copies it with loads wider than its stores, a stall
	// that took a twentieth of Set.Apply.
	var x env
	x.rs, x.syms, x.st, x.sign, x.pathway = g.rs, g.syms, g.st, 1, e.Pathway
	t.evolve(&x, e)
	if t.has(fClosed) {
		delete(g.paths, e.Pathway)
	}
}

// Refold folds one pathway again after an event that changed its past
// (a Correction, a decision about a quarantined message): it takes back
// what before contributed to the figures, then folds after as if the
// annulled events never happened.
func (g *Gaps) Refold(pathway uuid.UUID, before, after []events.Envelope) error {
	back := env{rs: g.rs, syms: g.syms, st: g.st, sign: -1, pathway: pathway}
	foldTrack(&back, before)
	delete(g.paths, pathway)
	x := env{rs: g.rs, syms: g.syms, st: g.st, sign: 1, pathway: pathway}
	if t := foldTrack(&x, after); t != nil && !t.has(fClosed) {
		g.paths[pathway] = t
	}
	return nil
}

func foldTrack(x *env, history []events.Envelope) *track {
	var t *track
	eachLive(history, func(e *events.Envelope) {
		if t == nil {
			t = &track{}
		}
		t.evolve(x, e)
	})
	return t
}

// eachLive calls f for each event of a pathway's history that carries
// state: what a refold folds. Corrections, decisions about quarantined
// messages and their stand-ins are left out, and so is what they annul.
func eachLive(history []events.Envelope, f func(*events.Envelope)) {
	a := events.AnnulmentsOf(history)
	for i := range history {
		if e := &history[i]; a.Folded(e) {
			f(e)
		}
	}
}

// Len returns the number of open pathways held.
func (g *Gaps) Len() int { return len(g.paths) }

// GapStatus selects open or closed gaps.
type GapStatus uint8

// Gap statuses for GapFilter.
const (
	OpenGaps GapStatus = iota
	ClosedGaps
	AllGaps
)

// GapFilter selects gaps. The zero value selects every open gap; each
// field set narrows the selection.
type GapFilter struct {
	// Cluster selects the pathways that belong to a body at At (see
	// Gaps.BodyAt): a sundhedsråd from 2027 gathers the pathways of its
	// municipalities, whatever body they were opened in.
	Cluster string
	// At is the date whose structure groups the pathways; zero: the
	// query's now.
	At           time.Time
	Municipality events.OrgID // the pathway's municipality
	Org          events.OrgID // an organisation that can close the gap
	Kinds        []GapKind
	Status       GapStatus
}

// List returns the gaps that match f as they stand at now, oldest first.
// Gaps of closed pathways are not held (their figures are).
func (g *Gaps) List(f GapFilter, now time.Time) []Gap {
	muni, ok2 := g.symOrZero(string(f.Municipality))
	org, ok3 := g.symOrZero(string(f.Org))
	if !ok2 || !ok3 {
		return nil
	}
	at := cmp.Or(f.At, now)
	var out []Gap
	for id, t := range g.paths {
		if muni != 0 && t.municipality != muni {
			continue
		}
		body := g.bodyAt(t, at)
		if f.Cluster != "" && body != f.Cluster {
			continue
		}
		t.gapsAt(g.view(id), stampOf(now), func(v *gapView) {
			if org != 0 && v.a != org && v.b != org {
				return
			}
			if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, kindNames[v.kind]) {
				return
			}
			if (f.Status == OpenGaps && v.closed != 0) || (f.Status == ClosedGaps && v.closed == 0) {
				return
			}
			gap := v.gap()
			gap.Body = body
			out = append(out, gap)
		})
	}
	g.integrityGaps(f, uuid.Nil, at, func(gap Gap) { out = append(out, gap) })
	sortGaps(out)
	return out
}

// ForPathway returns every gap of one pathway, open and closed, as it
// stands at now, oldest first.
func (g *Gaps) ForPathway(id uuid.UUID, now time.Time) []Gap {
	var out []Gap
	if t, ok := g.paths[id]; ok {
		t.gapsAt(g.view(id), stampOf(now), func(v *gapView) { out = append(out, v.gap()) })
	}
	if id != uuid.Nil {
		g.integrityGaps(GapFilter{Status: AllGaps}, id, now, func(gap Gap) { out = append(out, gap) })
	}
	sortGaps(out)
	return out
}

// Quarantine returns the integrity gaps of the quarantined messages, open
// and resolved, oldest first, grouped by the body in force at now: what
// the operator has to resolve.
func (g *Gaps) Quarantine(now time.Time) []Gap {
	var out []Gap
	g.integrityGaps(GapFilter{Status: AllGaps}, uuid.Nil, now, func(gap Gap) { out = append(out, gap) })
	sortGaps(out)
	return out
}

// Due returns the deadlines still running with after < At ≤ before,
// earliest first. A deadline drops out once its DeadlineElapsed is
// applied, so Due(time.Time{}, now) lists exactly what the scheduler has
// yet to append, even after a restart.
func (g *Gaps) Due(after, before time.Time) []Deadline {
	lo, hi := stampOf(after), stampOf(before)
	in := func(s stamp) bool { return s != 0 && s > lo && s <= hi }
	var out []Deadline
	for id, t := range g.paths {
		cluster := g.syms.str(t.cluster)
		for _, w := range t.watches {
			if w.flags&(wPaused|wElapsed) == 0 && in(w.deadline) {
				out = append(out, Deadline{events.Deadline{Pathway: id, Ref: w.String(), Rule: ruleNames[w.rule], At: w.deadline.time()}, cluster, kindNames[w.kind]})
			}
		}
		for _, gr := range t.gaps {
			if gr.closed == 0 && !gr.escalated && gr.deadline > gr.opened && in(gr.deadline) {
				kind := kindNames[gr.kind]
				out = append(out, Deadline{events.Deadline{Pathway: id, Ref: GapID(id, kind, gr.String()).String(), Rule: ruleNames[gr.rule], At: gr.deadline.time()}, cluster, kind})
			}
		}
	}
	slices.SortFunc(out, func(a, b Deadline) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Pathway.String(), b.Pathway.String()), cmp.Compare(a.Ref, b.Ref), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

func (g *Gaps) symOrZero(s string) (sym, bool) {
	if s == "" {
		return 0, true
	}
	return g.syms.lookup(s)
}

func sortGaps(gs []Gap) {
	slices.SortFunc(gs, func(a, b Gap) int {
		return cmp.Or(a.OpenedAt.Compare(b.OpenedAt), cmp.Compare(a.Pathway.String(), b.Pathway.String()), cmp.Compare(a.ID.String(), b.ID.String()))
	})
}

// pathView is what gapsAt needs to render a pathway's gaps.
type pathView struct {
	rs   *ruleset
	syms *symbols
	id   uuid.UUID
}

func (g *Gaps) view(id uuid.UUID) pathView { return pathView{rs: g.rs, syms: g.syms, id: id} }

// gapView is one gap at a query's now, before it is rendered: queries
// filter on it without building the Gap.
type gapView struct {
	pv        pathView
	t         *track
	ref       ref
	rule      ruleID
	a, b      sym
	kind      uint8
	opened    stamp
	deadline  stamp
	closed    stamp
	escalated bool
	recorded  bool
	by        uuid.UUID
	byType    sym
	now       stamp
}

// gapsAt calls fn with each gap of the pathway at now: the gaps recorded
// and the deadlines passed by now that the log has not recorded yet.
func (t *track) gapsAt(pv pathView, now stamp, fn func(*gapView)) {
	for i := range t.gaps {
		r := &t.gaps[i]
		v := gapView{
			pv: pv, t: t, ref: r.ref, rule: r.rule, a: r.a, b: r.b, kind: r.kind, opened: r.opened, deadline: r.deadline,
			closed: r.closed, recorded: true, by: r.by, byType: r.byType, now: now,
			escalated: r.escalated || (r.closed == 0 && r.deadline > r.opened && now > r.deadline),
		}
		fn(&v)
	}
	for i := range t.watches {
		w := &t.watches[i]
		if w.flags&(wPaused|wElapsed) != 0 || w.deadline == 0 || now <= w.deadline {
			continue
		}
		v := gapView{pv: pv, t: t, ref: w.ref, rule: w.rule, a: w.party, b: w.other, kind: w.kind, opened: w.deadline, deadline: w.deadline, now: now}
		fn(&v)
	}
}

func (v *gapView) gap() Gap {
	syms, t := v.pv.syms, v.t
	kind := kindNames[v.kind]
	refStr := v.ref.String()
	g := Gap{
		ID: GapID(v.pv.id, kind, refStr), Kind: kind, Pathway: v.pv.id,
		Cluster: syms.str(t.cluster), Municipality: syms.orgID(t.municipality),
		Ref: refStr, Rule: ruleNames[v.rule], Severity: v.pv.rs.rule[v.rule].severity,
		OpenedAt: v.opened.time(), Deadline: v.deadline.time(), Escalated: v.escalated, Recorded: v.recorded,
		ClosedAt: v.closed.time(), ClosedBy: v.by, ClosedByType: events.Type(syms.str(v.byType)),
	}
	if v.a != 0 {
		g.Closers = append(g.Closers, syms.orgID(v.a))
	}
	if v.b != 0 && v.b != v.a {
		g.Closers = append(g.Closers, syms.orgID(v.b))
	}
	if v.kind == kReadyButWaiting {
		end := v.closed
		if end == 0 {
			end = v.now
		}
		if end > v.opened {
			g.Days = int(v.pv.rs.day(end.time().Add(-time.Nanosecond))-v.pv.rs.day(v.opened.time())) + 1
		}
	}
	return g
}

const gapsMagic = "STFG"

// Snapshot returns the whole state; the same state gives the same bytes.
func (g *Gaps) Snapshot() ([]byte, error) {
	w := newWriter(g.syms)
	ids := sortedIDs(g.paths)
	w.uvarint(uint64(len(ids)))
	for _, id := range ids {
		w.uuid(id)
		g.paths[id].write(w)
	}
	g.st.write(w)
	g.writeIntegrity(w)
	return w.bytes(gapsMagic), nil
}

// Restore replaces the whole state with a snapshot's.
func (g *Gaps) Restore(b []byte) error {
	syms := newSymbols().cached()
	r, err := newReader(b, gapsMagic, syms)
	if err != nil {
		return err
	}
	paths := make(map[uuid.UUID]*track)
	for n := r.count(); n > 0 && r.err == nil; n-- {
		id := r.uuid()
		paths[id] = readTrack(r)
	}
	st := readStats(r)
	integrity := readIntegrity(r)
	if err := r.done(); err != nil {
		return fmt.Errorf("projections: gaps: restore: %w", err)
	}
	g.syms, g.paths, g.st, g.integrity = syms, paths, st, integrity
	return nil
}

func (t *track) write(w *writer) {
	for _, s := range []sym{t.cluster, t.municipality, t.gp, t.hospital, t.readyBy} {
		w.sym(s)
	}
	for _, n := range []uint16{t.stay, t.nReady, t.nNoOwner, t.flags} {
		w.uvarint(uint64(n))
	}
	for _, s := range []stamp{t.admitted, t.discharged, t.leave} {
		w.stamp(s)
	}
	w.varint(int64(t.readyDay))
	w.uvarint(uint64(len(t.holders)))
	for _, h := range t.holders {
		w.sym(h.what)
		w.sym(h.org)
	}
	w.uvarint(uint64(len(t.watches)))
	for _, x := range t.watches {
		writeRef(w, x.ref)
		w.byte(uint8(x.rule))
		w.byte(x.flags)
		w.sym(x.what)
		w.sym(x.party)
		w.sym(x.other)
		w.stamp(x.start)
		w.stamp(x.deadline)
	}
	w.uvarint(uint64(len(t.gaps)))
	for _, x := range t.gaps {
		writeRef(w, x.ref)
		w.byte(uint8(x.rule))
		w.bool(x.escalated)
		w.sym(x.a)
		w.sym(x.b)
		w.stamp(x.opened)
		w.stamp(x.deadline)
		w.stamp(x.closed)
		w.uuid(x.by)
		w.sym(x.byType)
	}
}

// writeRef writes a ref. An id that is an interned name (a responsibility)
// and one taken from an event are both written as plain strings.
func writeRef(w *writer, r ref) {
	w.string(r.id)
	w.uvarint(uint64(r.n))
	w.byte(uint8(r.rk))
	w.byte(r.kind)
}

func readRef(r *reader) ref {
	x := ref{id: r.string(), n: uint16(r.uvarint()), rk: refKind(r.byte()), kind: r.byte()}
	if x.rk > refNoOwner || x.kind >= nKinds {
		r.fail("unknown gap kind")
	}
	if x.rk == refNoOwner {
		x.id = r.dst.str(r.dst.of(x.id)) // share the interned copy
	}
	return x
}

func readTrack(r *reader) *track {
	t := &track{cluster: r.sym(), municipality: r.sym(), gp: r.sym(), hospital: r.sym(), readyBy: r.sym()}
	t.stay, t.nReady, t.nNoOwner, t.flags = uint16(r.uvarint()), uint16(r.uvarint()), uint16(r.uvarint()), uint16(r.uvarint())
	t.admitted, t.discharged, t.leave = r.stamp(), r.stamp(), r.stamp()
	t.readyDay = r.int32()
	for n := r.count(); n > 0 && r.err == nil; n-- {
		t.holders = append(t.holders, hold{what: r.sym(), org: r.sym()})
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		w := watch{ref: readRef(r), rule: ruleID(r.byte()), flags: r.byte(), what: r.sym(), party: r.sym(), other: r.sym(), start: r.stamp(), deadline: r.stamp()}
		if w.rule >= nRules {
			r.fail("unknown rule")
		}
		t.watches = append(t.watches, w)
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		x := gapRec{ref: readRef(r), rule: ruleID(r.byte()), escalated: r.bool(), a: r.sym(), b: r.sym()}
		x.opened, x.deadline, x.closed = r.stamp(), r.stamp(), r.stamp()
		x.by, x.byType = r.uuid(), r.sym()
		if x.rule >= nRules {
			r.fail("unknown rule")
		}
		t.gaps = append(t.gaps, x)
	}
	return t
}
