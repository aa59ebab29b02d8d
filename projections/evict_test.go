package projections

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// staysLog writes the log of n patients with one to three hospital stays
// each: a pathway opened (following the patient's last, if any),
// admitted, home care offered and accepted, discharged home and closed;
// the next stay opens 5 to 60 days after the last closed, so some are
// 30-day readmissions of a closed pathway and some are not. Some closed
// pathways have their discharge annulled after the close, and some
// readmissions their admission: Corrections that refold a closed pathway
// or take a readmission of one back. Events are in time order, sequenced.
func staysLog(n int, seed uint64) []events.Envelope {
	rng := rand.New(rand.NewPCG(seed, 21))
	t0 := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	munis := []events.OrgID{aarhus, samso, events.Kommune("0727")}
	clusters := []string{"aarhus", "aarhus", "horsens"}
	bands := []events.AgeBand{events.AgeOldest, "", events.AgeOldest}
	var log []events.Envelope
	for i := range n {
		m := rng.IntN(len(munis))
		at := t0.Add(time.Duration(rng.IntN(60*24)) * time.Hour)
		prev := uuid.Nil
		for k := range 1 + rng.IntN(3) {
			pw := uuid.NewSHA1(simSpace, fmt.Appendf(nil, "stay/%d/%d/%d", seed, i, k))
			add := func(h time.Duration, p events.Payload) uuid.UUID {
				id := uuid.NewSHA1(pw, fmt.Appendf(nil, "%d", len(log)))
				log = append(log, events.Envelope{ID: id, Pathway: pw, Type: p.Type(), OccurredAt: at.Add(h), Payload: p})
				return id
			}
			offer := "home/" + pw.String()
			add(0, &events.PathwayOpened{Patient: patientRef(i), Cluster: clusters[m], Municipality: munis[m], GP: gp1, Previous: prev, AgeBand: bands[m]})
			admitted := add(time.Minute, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})
			add(20*time.Hour, &events.HandoffOffered{Offer: offer, From: auh, To: munis[m], What: events.HomeCare})
			add(22*time.Hour, &events.HandoffAccepted{Offer: offer, By: munis[m]})
			discharged := add(48*time.Hour, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
			add(50*time.Hour, &events.ServiceStarted{By: munis[m], What: events.HomeCare})
			add(72*time.Hour, &events.PathwayClosed{Reason: "done"})
			switch r := rng.IntN(10); {
			case r == 0:
				add(80*time.Hour, &events.Correction{Annuls: discharged, Reason: "wrong patient"})
			case r == 1 && k > 0:
				add(80*time.Hour, &events.Correction{Annuls: admitted, Reason: "planned, not acute"})
			}
			prev = pw
			at = at.Add(72*time.Hour + time.Duration(5+rng.IntN(56))*24*time.Hour)
		}
	}
	slices.SortStableFunc(log, func(a, b events.Envelope) int { return a.OccurredAt.Compare(b.OccurredAt) })
	for i := range log {
		log[i].Seq = uint64(i + 1)
		log[i].RecordedAt = log[i].OccurredAt
	}
	return log
}

// setFigures are the figures a Set answers that closed pathways feed:
// the months' board (admissions, discharges, readmissions by age band,
// discharge to service, offer to acceptance) and the clusters' and
// municipalities' daily counts and latencies, not their open gaps.
func setFigures(s *Set, now time.Time) []any {
	first, last := s.Gaps.rs.month(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)), s.Gaps.rs.month(now)
	var out []any
	for _, scope := range []string{"aarhus", "horsens", string(aarhus), string(samso)} {
		out = append(out, s.Figures.Months(scope, first, last, now))
	}
	for _, f := range []ClusterFigures{s.Figures.Cluster("aarhus", now), s.Figures.Cluster("horsens", now), s.Figures.Municipality(aarhus, now)} {
		// Open gaps are the open pathways': a close closes them.
		f.OpenGaps = nil
		out = append(out, f)
	}
	return out
}

// TestClosedPathwaysLeave folds a log whose pathways all close, then
// readmit: a closed pathway leaves the projections, and the figures stay
// those of a fold that keeps every pathway (the same log without its
// PathwayClosed events: nothing leaves), however many closed discharges
// are packed. With the closes applied at the end instead, the state is
// byte for byte the same: when a pathway leaves changes nothing.
func TestClosedPathwaysLeave(t *testing.T) {
	log := staysLog(3*packAt/2, 1)
	now := log[len(log)-1].OccurredAt.Add(40 * 24 * time.Hour)
	var kept, closes []events.Envelope
	pathways := map[uuid.UUID]bool{}
	for _, e := range log {
		pathways[e.Pathway] = true
		if _, ok := e.Payload.(*events.PathwayClosed); ok {
			closes = append(closes, e)
			continue
		}
		kept = append(kept, e)
	}
	newSet := func() *Set {
		s, err := NewSet(Rules{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	left, all, late := newSet(), newSet(), newSet()
	host(t, left, log, 0)
	host(t, all, kept, 0)
	host(t, late, append(slices.Clone(kept), closes...), 0)

	t.Run("closed pathways are not held", func(t *testing.T) {
		if open, closed := left.Owner.Len(); open != 0 || closed != len(pathways) {
			t.Errorf("Owner: %d open, %d closed; want 0, %d", open, closed, len(pathways))
		}
		if n := left.Gaps.Len(); n != 0 {
			t.Errorf("Gaps holds %d pathways; want 0", n)
		}
		if n := len(left.Board.open); n != 0 {
			t.Errorf("Board holds %d pathways; want 0", n)
		}
		if len(left.Board.closed.runs) == 0 {
			t.Errorf("no packed discharges: the test must reach them")
		}
		if open, _ := all.Owner.Len(); open != len(pathways) {
			t.Errorf("the fold without closes holds %d pathways; want %d", open, len(pathways))
		}
	})
	t.Run("figures equal a fold that keeps every pathway", func(t *testing.T) {
		got, want := setFigures(left, now), setFigures(all, now)
		for i := range got {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Errorf("figures %d differ:\ngot  %+v\nwant %+v", i, got[i], want[i])
			}
		}
		var readmitted int
		for _, m := range got[0].([]MonthFigures) {
			readmitted += m.Readmitted
		}
		if readmitted == 0 {
			t.Errorf("no readmissions in aarhus: the test must count some of closed pathways")
		}
	})
	t.Run("closing late gives the same state", func(t *testing.T) {
		if a, b := snapshot(t, left), snapshot(t, late); !bytes.Equal(a, b) {
			t.Errorf("snapshots differ: %d bytes closing in time, %d closing at the end", len(a), len(b))
		}
	})
	t.Run("a closed pathway's detail folds from its history", func(t *testing.T) {
		id := log[0].Pathway
		var history []events.Envelope
		for _, e := range log {
			if e.Pathway == id {
				history = append(history, e)
			}
		}
		v := left.PathwayView(history, now)
		if !v.Owner.Closed || len(v.Owner.Chain) != 1 || v.Owner.Chain[0].Status != events.OfferAccepted {
			t.Errorf("PathwayView of a closed pathway: got %+v; want closed, one accepted offer", v.Owner)
		}
	})
}

// TestSnapshotVersion3Upcasts restores a version 3 checkpoint, whose
// Owner listed every closed pathway: it restores to the state a version 4
// snapshot holds, byte for byte, so a checkpoint written before closed
// pathways left the projections is read, not replayed.
func TestSnapshotVersion3Upcasts(t *testing.T) {
	log := staysLog(200, 3)
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, log, 0)
	want := snapshot(t, set)
	if open, _ := set.Owner.Len(); open != 0 {
		t.Fatalf("%d open pathways: the test writes a version 3 Owner of closed ones only", open)
	}
	// Version 3's Owner: no open pathway, then each closed one by id with
	// its cluster, municipality, opening and closing times.
	type closedCustody struct {
		cluster, muni  string
		opened, closed stamp
	}
	closed := map[uuid.UUID]closedCustody{}
	for _, e := range log {
		c := closed[e.Pathway]
		switch v := e.Payload.(type) {
		case *events.PathwayOpened:
			c.cluster, c.muni, c.opened = v.Cluster, string(v.Municipality), stampOf(e.OccurredAt)
		case *events.PathwayClosed:
			c.closed = stampOf(e.OccurredAt)
		}
		closed[e.Pathway] = c
	}
	syms := newSymbols()
	w := newWriter(syms)
	w.uvarint(0)
	w.uvarint(uint64(len(closed)))
	for _, id := range sortedIDs(closed) {
		c := closed[id]
		w.uuid(id)
		w.sym(syms.of(c.cluster))
		w.sym(syms.of(c.muni))
		w.stamp(c.opened)
		w.stamp(c.closed)
	}
	owner := w.bytes(ownerMagic)
	// The Gaps and Board parts did not change from 3 to 4.
	parts := [][]byte{owner, snapshot(t, set.Gaps), snapshot(t, set.Board)}
	v3 := append([]byte(setMagic), 3)
	for _, p := range parts {
		p = bytes.Clone(p)
		p[4] = 3
		v3 = binary.AppendUvarint(v3, uint64(len(p)))
		v3 = append(v3, p...)
	}
	restored, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Restore(v3); err != nil {
		t.Fatalf("restore version 3: %v", err)
	}
	if got := snapshot(t, restored); !bytes.Equal(got, want) {
		t.Errorf("version 3 restored: snapshot differs from the version 4 one (%d and %d bytes)", len(got), len(want))
	}
	if open, n := restored.Owner.Len(); open != 0 || n != len(closed) {
		t.Errorf("version 3 restored: %d open, %d closed; want 0, %d", open, n, len(closed))
	}
}
