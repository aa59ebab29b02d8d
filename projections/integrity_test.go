package projections

import (
	"bytes"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// A quarantined message's stand-in opens an integrity gap on the pathway
// its subject names; the operator's decision closes it; a snapshot keeps
// both; a refold of the pathway leaves it alone.
func TestIntegrityGaps(t *testing.T) {
	s := newSim(t, Rules{})
	pw := admitted(s, "quarantined")
	stand := func(seq uint64, subject string, on uuid.UUID) events.Envelope {
		q := &events.Quarantined{Seq: seq, Subject: subject, Reason: events.QuarantineUnknownType, Hash: events.Hash([]byte{byte(seq)})}
		return q.Envelope(on, day(9, 0))
	}
	onPathway := stand(100, "stafet.ev.aarhus."+pw.String(), pw)
	garbage := stand(101, "stafet.ev.aarhus.garbage", uuid.Nil)
	decision := events.Envelope{
		ID: events.NewID(), Pathway: pw, Type: events.TypeQuarantineResolved, OccurredAt: day(10, 0), RecordedAt: day(10, 0), Seq: 102,
		Payload: &events.QuarantineResolved{Seq: 100, Hash: onPathway.Payload.(*events.Quarantined).Hash, Decision: events.Annul, Reason: "forged"},
	}
	wrongHash := decision
	wrongHash.Payload = &events.QuarantineResolved{Seq: 101, Hash: events.Hash(nil), Decision: events.Annul, Reason: "other bytes"}
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, append(slices.Clone(s.log), onPathway, garbage), 0)
	open := set.Gaps.List(GapFilter{Kinds: []GapKind{Integrity}}, day(11, 0))
	if len(open) != 2 {
		t.Fatalf("got %d integrity gaps; want 2: %v", len(open), summary(open))
	}
	byRef := map[string]Gap{}
	for _, g := range open {
		byRef[g.Ref] = g
	}
	g := byRef["seq/100"]
	if g.Pathway != pw || g.Ref != "seq/100" || g.Cluster != "aarhus" || g.Municipality != aarhus || g.Severity != Critical || !g.Open() {
		t.Errorf("integrity gap: got %+v; want pathway %s, seq/100 in aarhus, the pathway's municipality, critical, open", g, pw)
	}
	if g := byRef["seq/101"]; g.Pathway != uuid.Nil || g.Cluster != "aarhus" {
		t.Errorf("garbage's gap: got pathway %s cluster %q; want none and the subject's cluster", g.Pathway, g.Cluster)
	}
	if n := len(set.Gaps.List(GapFilter{Org: aarhus}, day(11, 0))); n != 0 {
		t.Errorf("an organisation filter selected %d integrity gaps; want none: only the operator closes them", n)
	}
	if n := len(set.Gaps.List(GapFilter{Kinds: []GapKind{NoOwner}}, day(11, 0))); n != 0 {
		t.Errorf("kind no-owner selected %d gaps; want none", n)
	}
	for _, e := range []events.Envelope{decision, wrongHash} {
		if err := set.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	closed := set.Gaps.ForPathway(pw, day(11, 0))
	var found bool
	for _, g := range closed {
		if g.Kind == Integrity {
			found = true
			if g.Open() || g.ClosedBy != decision.ID || g.ClosedByType != events.TypeQuarantineResolved {
				t.Errorf("after the decision: got %+v; want closed by it", g)
			}
		}
	}
	if !found {
		t.Error("ForPathway: no integrity gap; want the closed one")
	}
	if q := set.Gaps.Quarantine(day(11, 0)); len(q) != 2 || q[0].Ref != "seq/101" || !q[0].Open() {
		t.Errorf("Quarantine: got %v; want the garbage's gap still open (its decision named other bytes)", summary(q))
	}
	if _, ok := set.Owner.Pathway(uuid.Nil); ok {
		t.Error("the owner projection made a pathway of the garbage; want none")
	}
	snap, err := set.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, _ := NewSet(Rules{})
	if err := back.Restore(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := back.Snapshot()
	if !bytes.Equal(snap, again) {
		t.Error("snapshot → restore → snapshot differs; want the same bytes")
	}
	if got := summary(back.Gaps.Quarantine(day(11, 0))); len(got) != 2 {
		t.Errorf("restored: got %v; want both integrity gaps", got)
	}
}
