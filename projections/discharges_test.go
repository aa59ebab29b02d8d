package projections

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// readmittedIn sums the readmissions the Board counted for a cluster.
func readmittedIn(b *Board, cluster string) int32 {
	s, ok := b.syms.lookup(cluster)
	if !ok {
		return 0
	}
	var n int32
	for k, m := range b.months {
		if k.scope == s && k.band == 0 {
			n += m.readmitted
		}
	}
	return n
}

// TestReadmissionsOfPackedPathways runs readmissions against more closed
// pathways than one pack holds, so their discharges sit in merged runs:
// the patients of every third closed pathway come back within 30 days,
// of every third after it, and the rest never. The figures must be as
// counted by hand, after a Refold that takes a readmission back, and
// across a snapshot.
func TestReadmissionsOfPackedPathways(t *testing.T) {
	const n = 3*packAt + 123
	hosp, muni := events.SOR("1001"), events.Kommune("0751")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	id := func(k, i int) uuid.UUID {
		var u uuid.UUID
		binary.BigEndian.PutUint64(u[:8], uint64(i)*0x9e3779b97f4a7c15) // spread over the id space
		u[8] = byte(k)
		return u
	}
	first := func(i int) []events.Envelope {
		at := t0.Add(time.Duration(i) * time.Minute)
		pw := id(1, i)
		return []events.Envelope{
			{ID: uuid.New(), Pathway: pw, OccurredAt: at, Payload: &events.PathwayOpened{Cluster: "aarhus", Municipality: muni}},
			{ID: uuid.New(), Pathway: pw, OccurredAt: at, Payload: &events.PatientAdmitted{Hospital: hosp, Class: events.Inpatient}},
			{ID: uuid.New(), Pathway: pw, OccurredAt: at.Add(time.Hour), Payload: &events.PatientDischarged{Hospital: hosp, Destination: events.DestHome}},
			{ID: uuid.New(), Pathway: pw, OccurredAt: at.Add(2 * time.Hour), Payload: &events.PathwayClosed{Reason: "done"}},
		}
	}
	again := func(i int) []events.Envelope {
		at := t0.Add(time.Duration(i)*time.Minute + 10*24*time.Hour)
		if i%3 == 1 {
			at = at.Add(40 * 24 * time.Hour)
		}
		pw := id(2, i)
		return []events.Envelope{
			{ID: uuid.New(), Pathway: pw, OccurredAt: at, Payload: &events.PathwayOpened{Cluster: "aarhus", Municipality: muni, Previous: id(1, i)}},
			{ID: uuid.New(), Pathway: pw, OccurredAt: at, Payload: &events.PatientAdmitted{Hospital: hosp, Class: events.Inpatient}},
		}
	}
	apply := func(b *Board, es []events.Envelope) {
		t.Helper()
		for _, e := range es {
			if err := b.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := NewBoard(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		apply(b, first(i))
	}
	if len(b.closed.runs) < 2 {
		t.Fatalf("%d runs after %d closed pathways; want at least 2 (the test must reach packed records)", len(b.closed.runs), n)
	}
	half := n / 2
	for i := range half {
		if i%3 != 2 {
			apply(b, again(i))
		}
	}
	// Take one readmission back: its admission annulled.
	back := again(0)
	if err := b.Refold(back[0].Pathway, back, back[:1]); err != nil {
		t.Fatal(err)
	}
	want := func(upTo int) int32 { return int32((upTo+2)/3) - 1 }
	if got := readmittedIn(b, "aarhus"); got != want(half) {
		t.Errorf("before the snapshot: got %d readmissions; want %d", got, want(half))
	}
	snap, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewBoard(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*Board{b, r} {
		for i := half; i < n; i++ {
			if i%3 != 2 {
				apply(x, again(i))
			}
		}
	}
	if got := readmittedIn(r, "aarhus"); got != want(n) {
		t.Errorf("restored: got %d readmissions; want %d", got, want(n))
	}
	sb, _ := b.Snapshot()
	sr, _ := r.Snapshot()
	if !bytes.Equal(sb, sr) {
		t.Errorf("snapshots differ after the same events: %d and %d bytes", len(sb), len(sr))
	}
	if got := readmittedIn(b, "aarhus"); got != want(n) {
		t.Errorf("straight: got %d readmissions; want %d", got, want(n))
	}
}
