package projections

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestRestoreRejects(t *testing.T) {
	s := scriptedDay(t, Rules{})
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, s.log, 0)
	good := snapshot(t, set)
	owner := snapshot(t, set.Owner)
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong magic", append([]byte("XXXX"), good[4:]...)},
		{"another projection's", owner},
		{"future version", append(append([]byte(setMagic), snapshotVersion+1), good[5:]...)},
		{"version too old to upcast", append(append([]byte(setMagic), oldestSnapshot-1), good[5:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(bytes.Clone(good), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fresh, _ := NewSet(Rules{})
			host(t, fresh, s.log[:10], 0)
			before := snapshot(t, fresh)
			err := fresh.Restore(tt.b)
			if !errors.Is(err, ErrSnapshot) {
				t.Errorf("Restore: got %v; want ErrSnapshot", err)
			}
			if after := snapshot(t, fresh); !bytes.Equal(after, before) {
				t.Errorf("a failed Restore changed the state; want it untouched")
			}
		})
	}
}

// FuzzRestore feeds Restore corrupt snapshots: it must fail cleanly or
// give a state that queries without panicking and snapshots to a fixed
// point.
func FuzzRestore(f *testing.F) {
	s := scriptedDay(f, Rules{})
	set, err := NewSet(Rules{})
	if err != nil {
		f.Fatal(err)
	}
	host(f, set, s.log, 0)
	for _, p := range []projection{set, set.Owner, set.Gaps} {
		b, err := p.Snapshot()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		set, _ := NewSet(Rules{})
		for _, p := range []projection{set, set.Owner, set.Gaps} {
			if err := p.Restore(b); err != nil {
				if !errors.Is(err, ErrSnapshot) {
					t.Fatalf("Restore: got %v; want an error matching ErrSnapshot", err)
				}
				continue
			}
			once := snapshot(t, p)
			if err := p.Restore(once); err != nil {
				t.Fatalf("Restore of its own snapshot: %v", err)
			}
			if twice := snapshot(t, p); !bytes.Equal(once, twice) {
				t.Fatalf("snapshot → restore → snapshot is not a fixed point")
			}
			now := dayNow
			set.Gaps.List(GapFilter{Status: AllGaps}, now)
			set.Gaps.Due(time.Time{}, now)
			set.Worklists.Worklist(aarhus, now)
			set.Figures.Cluster("aarhus", now)
		}
	})
}

// TestQueriesConcurrent runs every query from several goroutines at once,
// as a host does under a read lock: with -race it shows the queries do
// not write.
func TestQueriesConcurrent(t *testing.T) {
	s := scriptedDay(t, Rules{})
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, s.log, 0)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, id := range pathwayIDs(s.log) {
				set.Owner.Pathway(id)
				set.Gaps.ForPathway(id, dayNow)
			}
			set.Gaps.List(GapFilter{Status: AllGaps, Org: aarhus}, dayNow)
			set.Gaps.Due(time.Time{}, dayNow)
			set.Worklists.Worklist(auh, dayNow)
			set.Figures.Cluster("aarhus", dayNow)
			set.Figures.Municipality(samso, dayNow)
			set.PathwayView(s.hist[pathwayID("late-accept")], dayNow)
			if _, err := set.Snapshot(); err != nil {
				t.Error(err)
			}
		}()
	}
	for range 4 {
		<-done
	}
}
