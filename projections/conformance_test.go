package projections

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// projection is the contract every projection here meets: the engine's
// Projection with every optional ability.
type projection interface {
	Apply(events.Envelope) error
	Snapshot() ([]byte, error)
	Restore([]byte) error
	Refold(uuid.UUID, []events.Envelope, []events.Envelope) error
}

// subjects are the projections the conformance suite runs over. query
// returns what the projection answers about a log's pathways at now, to
// check that a restored projection answers like the original, not only
// that it writes the same bytes.
var subjects = []struct {
	name  string
	new   func(tb testing.TB) projection
	query func(p projection, ids []uuid.UUID, now time.Time) any
}{
	{
		name: "owner",
		new:  func(testing.TB) projection { return NewOwner() },
		query: func(p projection, ids []uuid.UUID, now time.Time) any {
			var out []OwnerView
			for _, id := range ids {
				v, _ := p.(*Owner).Pathway(id)
				out = append(out, v)
			}
			return out
		},
	},
	{
		name: "gaps",
		new: func(tb testing.TB) projection {
			g, err := NewGaps(Rules{})
			if err != nil {
				tb.Fatal(err)
			}
			return g
		},
		query: func(p projection, ids []uuid.UUID, now time.Time) any {
			g := p.(*Gaps)
			return []any{
				g.List(GapFilter{Status: AllGaps}, now), g.Due(time.Time{}, now.Add(30*24*time.Hour)),
				NewWorklists(g).Worklist(aarhus, now), NewWorklists(g).Worklist(auh, now),
				NewFigures(g).Cluster("aarhus", now), NewFigures(g).Municipality(aarhus, now),
			}
		},
	},
	{
		name: "set",
		new: func(tb testing.TB) projection {
			s, err := NewSet(Rules{})
			if err != nil {
				tb.Fatal(err)
			}
			return s
		},
		query: func(p projection, ids []uuid.UUID, now time.Time) any {
			s := p.(*Set)
			var owners []OwnerView
			for _, id := range ids {
				v, _ := s.Owner.Pathway(id)
				owners = append(owners, v)
			}
			return []any{owners, s.Gaps.List(GapFilter{Status: AllGaps}, now), s.Worklists.Worklist(samso, now), s.Figures.Cluster("aarhus", now)}
		},
	},
}

// host replays a log into p as the engine does: in order, calling Refold
// after each Correction with the pathway's history so far. from skips the
// first events (already in a restored snapshot) but still counts them in
// the histories.
func host(tb testing.TB, p projection, log []events.Envelope, from int) {
	tb.Helper()
	hist := map[uuid.UUID][]events.Envelope{}
	for i, e := range log {
		hist[e.Pathway] = append(hist[e.Pathway], e)
		if i < from {
			continue
		}
		if err := p.Apply(e); err != nil {
			tb.Fatalf("apply %s (seq %d): %v", e.Type, e.Seq, err)
		}
		if h := hist[e.Pathway]; e.ChangesPast() {
			if err := p.Refold(e.Pathway, h[:len(h)-1], h); err != nil {
				tb.Fatalf("refold after seq %d: %v", e.Seq, err)
			}
		}
	}
}

func snapshot(tb testing.TB, p projection) []byte {
	tb.Helper()
	b, err := p.Snapshot()
	if err != nil {
		tb.Fatalf("snapshot: %v", err)
	}
	return b
}

// interleave returns the log with the pathways' events merged in another
// random order, each pathway's own order kept.
func interleave(log []events.Envelope, seed uint64) []events.Envelope {
	rng := rand.New(rand.NewPCG(seed, 1))
	var order []uuid.UUID
	per := map[uuid.UUID][]events.Envelope{}
	for _, e := range log {
		if _, ok := per[e.Pathway]; !ok {
			order = append(order, e.Pathway)
		}
		per[e.Pathway] = append(per[e.Pathway], e)
	}
	out := make([]events.Envelope, 0, len(log))
	for len(out) < len(log) {
		id := order[rng.IntN(len(order))]
		if q := per[id]; len(q) > 0 {
			out = append(out, q[0])
			per[id] = q[1:]
		}
	}
	return out
}

// withoutCorrections returns the log with every Correction and every
// event one annuls left out: what a straight fold sees.
func withoutCorrections(log []events.Envelope) []events.Envelope {
	a := events.AnnulmentsOf(log)
	var out []events.Envelope
	for _, e := range log {
		if a.Folded(&e) {
			out = append(out, e)
		}
	}
	return out
}

func pathwayIDs(log []events.Envelope) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, e := range log {
		if !seen[e.Pathway] {
			seen[e.Pathway] = true
			out = append(out, e.Pathway)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	logs := []struct {
		name string
		log  []events.Envelope
		now  time.Time
	}{
		{"scripted-day", scriptedDay(t, Rules{}).log, dayNow},
		{"random-1", randomLog(t, 1, 60).log, day(0, 0).Add(72 * time.Hour)},
		{"random-2", randomLog(t, 2, 120).log, day(0, 0).Add(40 * time.Hour)},
	}
	for _, l := range logs {
		if corrections := len(l.log) - len(withoutCorrections(l.log)); corrections == 0 && l.name != "scripted-day" {
			t.Fatalf("%s: the log has no Correction; the suite would not test Refold", l.name)
		}
		ids := pathwayIDs(l.log)
		for _, sub := range subjects {
			t.Run(l.name+"/"+sub.name, func(t *testing.T) {
				straight := sub.new(t)
				host(t, straight, l.log, 0)
				want := snapshot(t, straight)
				wantQ := sub.query(straight, ids, l.now)

				t.Run("replay twice", func(t *testing.T) {
					p := sub.new(t)
					host(t, p, l.log, 0)
					if got := snapshot(t, p); !bytes.Equal(got, want) {
						t.Errorf("second replay: got %d snapshot bytes; want the first replay's %d, byte for byte", len(got), len(want))
					}
				})
				t.Run("snapshot restore continue", func(t *testing.T) {
					for _, cut := range []int{0, 1, len(l.log) / 3, len(l.log) / 2, len(l.log) - 1, len(l.log)} {
						first := sub.new(t)
						host(t, first, l.log[:cut], 0)
						restored := sub.new(t)
						if err := restored.Restore(snapshot(t, first)); err != nil {
							t.Fatalf("cut %d: restore: %v", cut, err)
						}
						host(t, restored, l.log, cut)
						if got := snapshot(t, restored); !bytes.Equal(got, want) {
							t.Errorf("cut %d: restored and continued snapshot differs from a straight replay", cut)
						}
						if got := sub.query(restored, ids, l.now); !reflect.DeepEqual(got, wantQ) {
							t.Errorf("cut %d: restored and continued answers differ from a straight replay:\ngot  %+v\nwant %+v", cut, got, wantQ)
						}
					}
				})
				t.Run("restore replaces state", func(t *testing.T) {
					p := sub.new(t)
					host(t, p, l.log[:len(l.log)/2], 0)
					if err := p.Restore(want); err != nil {
						t.Fatal(err)
					}
					if got := snapshot(t, p); !bytes.Equal(got, want) {
						t.Errorf("restore over existing state: got a different snapshot; want the restored one")
					}
				})
				t.Run("interleaved", func(t *testing.T) {
					for seed := range uint64(3) {
						p := sub.new(t)
						host(t, p, interleave(l.log, seed), 0)
						if got := snapshot(t, p); !bytes.Equal(got, want) {
							t.Errorf("seed %d: interleaving pathways differently changed the snapshot", seed)
						}
					}
				})
				t.Run("refold equals straight fold", func(t *testing.T) {
					p := sub.new(t)
					host(t, p, withoutCorrections(l.log), 0)
					if got := snapshot(t, p); !bytes.Equal(got, want) {
						t.Errorf("a fold without the annulled events differs from a replay that refolds after each Correction")
					}
					if got := sub.query(p, ids, l.now); !reflect.DeepEqual(got, wantQ) {
						t.Errorf("answers differ:\ngot  %+v\nwant %+v", got, wantQ)
					}
				})
			})
		}
	}
}
