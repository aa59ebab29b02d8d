package projections

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Board folds what the boards of the sundhedsklynger and sundhedsråd
// follow month by month and Gaps does not keep: 30-day readmissions,
// the time from discharge to the first service, and offer-to-acceptance
// time by the month of the acceptance. Figures.Months reads it with the
// daily counts of Gaps (docs/projections.md, "The boards' figures").
//
// Like Gaps it keeps its aggregates under the pathway's body (the one it
// was opened in) and its patient's municipality; a sundhedsråd's are its
// municipalities' summed.
type Board struct {
	rs     *ruleset
	syms   *symbols
	open   map[uuid.UUID]*boardPath
	closed *closedDischarges // closed pathways' last discharges, for readmissions
	months map[monthKey]*monthAgg
	cal    calendar // for the folds
}

// ReadmissionWindow is how soon after a discharge an admission counts as
// a readmission: 30 days (the national indicator, docs/projections.md).
const ReadmissionWindow = 30 * 24 * time.Hour

type boardPath struct {
	cluster, muni sym
	band          uint8 // index in bandNames; 0 unknown
	previous      uuid.UUID
	offers        []offered
	discharged    stamp // the discharge still waiting for its first service
	last          discharge
	hasLast       bool
}

type offered struct {
	id string
	at stamp
}

type discharge struct {
	at            stamp
	cluster, muni sym
	band          uint8
	readmitted    bool
}

type monthKey struct {
	scope sym
	month int32 // months since January 1970, in the rules' time zone
	band  uint8 // 0: every patient; else the patients of bandNames[band]
}

// bandNames are the age bands the monthly figures are split by
// (PathwayOpened.age_band); index 0 is "all".
var bandNames = [...]events.AgeBand{"", events.AgeChild, events.AgeAdult, events.AgeOlder, events.AgeOldest}

func bandOf(b events.AgeBand) uint8 {
	for i, n := range bandNames {
		if i > 0 && n == b {
			return uint8(i)
		}
	}
	return 0
}

type monthAgg struct {
	discharges, readmitted int32
	accept, service        histogram
}

// NewBoard returns an empty Board counting days and months in r's time
// zone.
func NewBoard(r Rules) (*Board, error) {
	rs, err := r.compile()
	if err != nil {
		return nil, err
	}
	return newBoard(rs, newSymbols().cached()), nil
}

func newBoard(rs *ruleset, syms *symbols) *Board {
	return &Board{rs: rs, syms: syms, open: make(map[uuid.UUID]*boardPath), closed: newClosedDischarges(), months: make(map[monthKey]*monthAgg)}
}

// Apply folds one event in. A Correction changes nothing here: the host
// calls Refold next.
func (b *Board) Apply(e events.Envelope) error { return b.apply(&e, 1) }

func (b *Board) apply(e *events.Envelope, sign int32) error {
	switch e.Payload.(type) {
	case nil:
		return fmt.Errorf("projections: board: event %s has no payload", e.ID)
	case *events.Correction, *events.QuarantineResolved, *events.Quarantined:
		return nil
	}
	p := b.open[e.Pathway]
	if p == nil {
		p = &boardPath{}
		b.open[e.Pathway] = p
	}
	b.fold(p, e, sign)
	return nil
}

// fold folds e, an event with state of its own, into p, its pathway's
// state held in b.open; false if that closed the pathway, which left.
func (b *Board) fold(p *boardPath, e *events.Envelope, sign int32) bool {
	at := stampOf(e.OccurredAt)
	switch v := e.Payload.(type) {
	case *events.PathwayOpened:
		p.cluster, p.previous, p.band = b.syms.of(v.Cluster), v.Previous, bandOf(v.AgeBand)
		if v.Municipality != "" {
			p.muni = b.syms.org(v.Municipality)
		}
	case *events.PatientAdmitted:
		if p.muni == 0 && v.Notified != "" {
			p.muni = b.syms.org(v.Notified)
		}
		b.readmission(e.Pathway, p, at, sign)
	case *events.PatientDischarged:
		// Taking a pathway back, its discharges are as the forward fold
		// left them: readmitted if an admission came in the window, which
		// the take-back of that admission then undoes.
		d := discharge{at: at, cluster: p.cluster, muni: p.muni, band: p.band, readmitted: sign < 0}
		b.count(d.cluster, d.muni, d.band, at, sign, func(m *monthAgg) { m.discharges += sign })
		p.last, p.hasLast = d, true
		p.discharged = at
	case *events.ServiceStarted:
		if p.discharged != 0 && at >= p.discharged {
			bucket := bucketOf(time.Duration(at - p.discharged))
			b.count(p.cluster, p.muni, p.band, p.discharged, sign, func(m *monthAgg) { m.service[bucket] += sign })
			p.discharged = 0
		}
	case *events.HandoffOffered:
		p.offers = append(p.offers, offered{id: v.Offer, at: at})
	case *events.HandoffAccepted:
		if i := slices.IndexFunc(p.offers, func(o offered) bool { return o.id == v.Offer }); i >= 0 {
			bucket := bucketOf(time.Duration(at - p.offers[i].at))
			b.count(p.cluster, p.muni, p.band, at, sign, func(m *monthAgg) { m.accept[bucket] += sign })
			p.offers = slices.Delete(p.offers, i, i+1)
		}
	case *events.HandoffRejected:
		p.offers = slices.DeleteFunc(p.offers, func(o offered) bool { return o.id == v.Offer })
	case *events.HandoffWithdrawn:
		p.offers = slices.DeleteFunc(p.offers, func(o offered) bool { return o.id == v.Offer })
	case *events.PathwayClosed:
		if p.hasLast {
			b.closed.set(e.Pathway, p.last)
		}
		delete(b.open, e.Pathway)
		return false
	}
	return true
}

// readmission counts an admission within ReadmissionWindow of the last
// discharge of the same pathway, else of the pathway it follows
// (PathwayOpened.Previous), in the month and scopes of that discharge:
// each discharge is readmitted at most once.
func (b *Board) readmission(pathway uuid.UUID, p *boardPath, at stamp, sign int32) {
	for _, id := range []uuid.UUID{pathway, p.previous} {
		if id == uuid.Nil {
			continue
		}
		d, ok := b.last(id)
		if !ok {
			continue
		}
		if d.readmitted == (sign > 0) || at < d.at || time.Duration(at-d.at) > ReadmissionWindow {
			return
		}
		d.readmitted = sign > 0
		b.setLast(id, d)
		b.count(d.cluster, d.muni, d.band, d.at, sign, func(m *monthAgg) { m.readmitted += sign })
		return
	}
}

// last returns a pathway's last discharge: an open pathway holds its
// own, a closed one's is packed.
// Only a Correction follows PathwayClosed, so an open pathway was never
// closed: it has no packed discharge to look up.
func (b *Board) last(id uuid.UUID) (discharge, bool) {
	if p := b.open[id]; p != nil {
		return p.last, p.hasLast
	}
	return b.closed.get(id)
}

func (b *Board) setLast(id uuid.UUID, d discharge) {
	if p := b.open[id]; p != nil {
		p.last, p.hasLast = d, true
		return
	}
	b.closed.set(id, d)
}

// count updates the month's aggregates of the pathway's scopes, for all
// patients and for its age band.
func (b *Board) count(cluster, muni sym, band uint8, at stamp, sign int32, f func(*monthAgg)) {
	month := b.month(at)
	bands := []uint8{0}
	if band != 0 {
		bands = append(bands, band)
	}
	for _, sc := range [2]sym{cluster, muni} {
		if sc == 0 {
			continue
		}
		for _, bd := range bands {
			k := monthKey{sc, month, bd}
			m := b.months[k]
			if m == nil {
				m = new(monthAgg)
				b.months[k] = m
			}
			f(m)
			if *m == (monthAgg{}) {
				delete(b.months, k)
			}
		}
	}
}

// Refold rebuilds one pathway after a Correction: it takes back what the
// history before the Correction contributed, then folds the whole history
// as if the annulled events never happened.
func (b *Board) Refold(pathway uuid.UUID, before, after []events.Envelope) error {
	b.refold(pathway, before, -1)
	b.refold(pathway, after, 1)
	return nil
}

// refold folds a pathway's history from nothing, adding (sign 1) or
// taking back (-1) its contribution; each pass starts without the
// pathway's state, so an admission meets only the discharges before it.
func (b *Board) refold(pathway uuid.UUID, history []events.Envelope, sign int32) {
	delete(b.open, pathway)
	b.closed.remove(pathway)
	eachLive(history, func(e *events.Envelope) { b.apply(e, sign) })
	if sign < 0 {
		delete(b.open, pathway)
		b.closed.remove(pathway)
	}
}

// month returns the months since January 1970 of t in the rules' zone.
// month is rs.month of at.time(), through the fold's calendar.
func (b *Board) month(at stamp) int32 {
	if at == 0 {
		return b.rs.month(at.time())
	}
	y, m, _ := time.Unix(int64(b.cal.day(b.rs, int64(at)))*86400, 0).UTC().Date()
	return int32((y-1970)*12 + int(m) - 1)
}

func (rs *ruleset) month(t time.Time) int32 {
	y, m, _ := t.In(rs.loc).Date()
	return int32((y-1970)*12 + int(m) - 1)
}

func monthString(m int32) string {
	return time.Date(1970+int(m)/12, time.Month(m%12+1), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
}

// ParseMonth reads a month as YYYY-MM.
func ParseMonth(s string) (int32, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return 0, fmt.Errorf("projections: month %q: want YYYY-MM", s)
	}
	return int32((t.Year()-1970)*12 + int(t.Month()) - 1), nil
}

const boardMagic = "STFB"

// Snapshot returns the whole state; the same state gives the same bytes.
func (b *Board) Snapshot() ([]byte, error) {
	w := newWriter(b.syms)
	ids := sortedIDs(b.open)
	w.uvarint(uint64(len(ids)))
	for _, id := range ids {
		p := b.open[id]
		w.uuid(id)
		w.sym(p.cluster)
		w.sym(p.muni)
		w.byte(p.band)
		w.uuid(p.previous)
		w.stamp(p.discharged)
		w.uvarint(uint64(len(p.offers)))
		for _, o := range p.offers {
			w.string(o.id)
			w.stamp(o.at)
		}
	}
	// Every pathway's last discharge, open and closed, by id.
	opened := make(map[uuid.UUID]discharge)
	for id, p := range b.open {
		if p.hasLast {
			opened[id] = p.last
		}
	}
	w.uvarint(uint64(len(opened) + b.closed.live))
	b.closed.each(opened, func(id uuid.UUID, d discharge) {
		w.uuid(id)
		w.stamp(d.at)
		w.sym(d.cluster)
		w.sym(d.muni)
		w.byte(d.band)
		w.bool(d.readmitted)
	})
	keys := slices.SortedFunc(maps.Keys(b.months), func(x, y monthKey) int {
		return cmp.Or(cmp.Compare(w.src.str(x.scope), w.src.str(y.scope)), cmp.Compare(x.month, y.month), cmp.Compare(x.band, y.band))
	})
	w.uvarint(uint64(len(keys)))
	for _, k := range keys {
		m := b.months[k]
		w.sym(k.scope)
		w.varint(int64(k.month))
		w.byte(k.band)
		w.varint(int64(m.discharges))
		w.varint(int64(m.readmitted))
		writeHist(w, &m.accept)
		writeHist(w, &m.service)
	}
	return w.bytes(boardMagic), nil
}

// Restore replaces the whole state with a snapshot's, or changes nothing.
func (b *Board) Restore(data []byte) error { return b.restore(data, newSymbols().cached()) }

// restore reads a snapshot interning into syms: a Set's Board shares the
// symbols of its Gaps, whose keys Figures looks it up by.
func (b *Board) restore(data []byte, syms *symbols) error {
	r, err := newReader(data, boardMagic, syms)
	if err != nil {
		return err
	}
	n := newBoard(b.rs, syms)
	for k := r.count(); k > 0 && r.err == nil; k-- {
		id := r.uuid()
		p := &boardPath{cluster: r.sym(), muni: r.sym(), band: r.band(), previous: r.uuid(), discharged: r.stamp()}
		for j := r.count(); j > 0 && r.err == nil; j-- {
			p.offers = append(p.offers, offered{id: r.string(), at: r.stamp()})
		}
		n.open[id] = p
	}
	var ids []uuid.UUID
	var ds []discharge
	for k := r.count(); k > 0 && r.err == nil; k-- {
		id := r.uuid()
		d := discharge{at: r.stamp(), cluster: r.sym(), muni: r.sym(), band: r.band(), readmitted: r.bool()}
		if p := n.open[id]; p != nil {
			p.last, p.hasLast = d, true
			continue
		}
		ids, ds = append(ids, id), append(ds, d)
	}
	if r.err == nil && !n.closed.restored(ids, ds) {
		r.fail("closed discharges out of order")
	}
	for k := r.count(); k > 0 && r.err == nil; k-- {
		key := monthKey{scope: r.sym(), month: r.int32(), band: r.band()}
		m := &monthAgg{discharges: r.int32(), readmitted: r.int32()}
		readHist(r, &m.accept)
		readHist(r, &m.service)
		n.months[key] = m
	}
	if err := r.done(); err != nil {
		return fmt.Errorf("projections: board: restore: %w", err)
	}
	*b = *n
	return nil
}

// writeHist writes a histogram sparsely: most buckets are empty.
// band reads an age band's index.
func (r *reader) band() uint8 {
	b := r.byte()
	if int(b) >= len(bandNames) {
		r.fail("unknown age band")
	}
	return b
}

// writeHist writes a histogram sparsely: most buckets are empty.
func writeHist(w *writer, h *histogram) {
	var used uint64
	for _, c := range h {
		if c != 0 {
			used++
		}
	}
	w.uvarint(used)
	for i, c := range h {
		if c != 0 {
			w.uvarint(uint64(i))
			w.varint(int64(c))
		}
	}
}

func readHist(r *reader, h *histogram) {
	for k := r.count(); k > 0 && r.err == nil; k-- {
		i := r.uvarint()
		if i >= histBuckets {
			r.fail("histogram bucket out of range")
			return
		}
		h[i] = r.int32()
	}
}
