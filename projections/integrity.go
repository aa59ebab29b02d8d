package projections

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Integrity is the gap kind of a quarantined message: the pathway's
// history holds an event Stafet could not read, so what the other gaps
// say about it may be wrong. It is open until the operator resolves the
// message (take in or annul); its parties and the operator see it.
const Integrity GapKind = "integrity"

// IntegrityRule is the Rule of integrity gaps.
const IntegrityRule = "quarantine"

// integrity is one quarantined message as the gap list shows it.
type integrity struct {
	seq     uint64
	pathway uuid.UUID
	cluster sym // the cluster its subject names, if any
	reason  sym
	hash    string
	opened  stamp
	closed  stamp
	by      uuid.UUID
}

// quarantined records a stand-in.
func (g *Gaps) quarantined(e *events.Envelope, q *events.Quarantined) {
	if _, ok := g.integrity[q.Seq]; ok {
		return
	}
	rec := &integrity{seq: q.Seq, pathway: e.Pathway, reason: g.syms.of(string(q.Reason)), hash: q.Hash, opened: stampOf(e.RecordedAt)}
	if c, _, ok := cutSubject(q.Subject); ok {
		rec.cluster = g.syms.of(c)
	}
	g.integrity[q.Seq] = rec
}

// resolved closes the integrity gap of the message the decision names.
func (g *Gaps) resolved(e *events.Envelope, r *events.QuarantineResolved) {
	rec, ok := g.integrity[r.Seq]
	if !ok || rec.closed != 0 || rec.hash != r.Hash {
		return
	}
	at := e.RecordedAt
	if at.IsZero() {
		at = e.OccurredAt
	}
	rec.closed, rec.by = stampOf(at), e.ID
}

// cutSubject reads stafet.ev.<cluster>.<rest>.
func cutSubject(subject string) (cluster, rest string, ok bool) {
	const prefix = "stafet.ev."
	if len(subject) <= len(prefix) || subject[:len(prefix)] != prefix {
		return "", "", false
	}
	for i := len(prefix); i < len(subject); i++ {
		if subject[i] == '.' {
			c := subject[len(prefix):i]
			return c, subject[i+1:], events.ValidateClusterID(c) == nil
		}
	}
	return "", "", false
}

// integrityGaps calls fn with each integrity gap that f selects (its
// body at at, municipality, kinds and status; an organisation filter
// selects none, as nobody but the operator closes them).
func (g *Gaps) integrityGaps(f GapFilter, pathway uuid.UUID, at time.Time, fn func(Gap)) {
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, Integrity) || f.Org != "" {
		return
	}
	for _, seq := range slices.Sorted(maps.Keys(g.integrity)) {
		rec := g.integrity[seq]
		if pathway != uuid.Nil && rec.pathway != pathway {
			continue
		}
		if (f.Status == OpenGaps && rec.closed != 0) || (f.Status == ClosedGaps && rec.closed == 0) {
			continue
		}
		gap := g.integrityGap(rec, at)
		if (f.Cluster != "" && gap.Body != f.Cluster) || (f.Municipality != "" && gap.Municipality != f.Municipality) {
			continue
		}
		fn(gap)
	}
}

func (g *Gaps) integrityGap(rec *integrity, at time.Time) Gap {
	ref := "seq/" + strconv.FormatUint(rec.seq, 10)
	gap := Gap{
		ID: GapID(rec.pathway, Integrity, ref), Kind: Integrity, Pathway: rec.pathway,
		Cluster: g.syms.str(rec.cluster), Ref: ref, Rule: IntegrityRule + "/" + g.syms.str(rec.reason), Severity: Critical,
		OpenedAt: rec.opened.time(), Deadline: rec.opened.time(), Escalated: rec.closed == 0, Recorded: true,
		ClosedAt: rec.closed.time(), ClosedBy: rec.by,
	}
	if rec.closed != 0 {
		gap.ClosedByType = events.TypeQuarantineResolved
	}
	gap.Body = gap.Cluster
	if t, ok := g.paths[rec.pathway]; ok {
		gap.Cluster, gap.Municipality, gap.Body = g.syms.str(t.cluster), g.syms.orgID(t.municipality), g.bodyAt(t, at)
	}
	return gap
}

func (g *Gaps) writeIntegrity(w *writer) {
	seqs := slices.Sorted(maps.Keys(g.integrity))
	w.uvarint(uint64(len(seqs)))
	for _, seq := range seqs {
		rec := g.integrity[seq]
		w.uvarint(rec.seq)
		w.uuid(rec.pathway)
		w.sym(rec.cluster)
		w.sym(rec.reason)
		w.string(rec.hash)
		w.stamp(rec.opened)
		w.stamp(rec.closed)
		w.uuid(rec.by)
	}
}

// readIntegrity reads what writeIntegrity wrote; a snapshot written
// before the quarantine existed ends before it.
func readIntegrity(r *reader) map[uint64]*integrity {
	out := make(map[uint64]*integrity)
	if r.err != nil || len(r.b) == 0 {
		return out
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		rec := &integrity{seq: r.uvarint(), pathway: r.uuid(), cluster: r.sym(), reason: r.sym(), hash: r.string()}
		rec.opened, rec.closed, rec.by = r.stamp(), r.stamp(), r.uuid()
		out[rec.seq] = rec
	}
	return out
}
