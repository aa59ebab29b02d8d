package projections

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// eachSet is a Set folding each event into each projection on its own
// (Set.applyEach): the Set as it was before its one lookup an event.
type eachSet struct{ *Set }

func (s eachSet) Apply(e events.Envelope) error { return s.applyEach(&e) }

// Set.Apply, which finds a pathway's three states with one lookup, folds
// exactly as the projections do one by one: the same snapshot, byte for
// byte, and the same answers, over logs with corrections (refolds),
// closings, snapshots restored mid-log and pathways interleaved.
func TestSetFoldsAsEachProjection(t *testing.T) {
	newSet := func(t *testing.T) *Set {
		s, err := NewSet(Rules{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var query func(projection, []uuid.UUID, time.Time) any
	for _, sub := range subjects {
		if sub.name == "set" {
			query = sub.query
		}
	}
	for _, l := range []struct {
		name string
		log  []events.Envelope
		now  time.Time
	}{
		{"scripted-day", scriptedDay(t, Rules{}).log, dayNow},
		{"random-1", randomLog(t, 1, 60).log, day(0, 0).Add(72 * time.Hour)},
		{"random-2", randomLog(t, 2, 120).log, day(0, 0).Add(40 * time.Hour)},
		{"random-2, interleaved", interleave(randomLog(t, 2, 120).log, 7), day(0, 0).Add(40 * time.Hour)},
	} {
		t.Run(l.name, func(t *testing.T) {
			ids := pathwayIDs(l.log)
			want := eachSet{newSet(t)}
			host(t, want, l.log, 0)
			for _, cut := range []int{0, len(l.log) / 3, len(l.log)} {
				got := newSet(t)
				host(t, got, l.log[:cut], 0)
				restored := newSet(t)
				if err := restored.Restore(snapshot(t, got)); err != nil {
					t.Fatal(err)
				}
				host(t, restored, l.log, cut)
				if !bytes.Equal(snapshot(t, restored), snapshot(t, want.Set)) {
					t.Errorf("restored at %d: the snapshot differs from folding each projection on its own", cut)
				}
				if g, w := query(restored, ids, l.now), query(want.Set, ids, l.now); !reflect.DeepEqual(g, w) {
					t.Errorf("restored at %d: answers differ:\ngot  %+v\nwant %+v", cut, g, w)
				}
			}
		})
	}
}
