package projections_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

func TestOwnerFind(t *testing.T) {
	o := projections.NewOwner()
	ids := []uuid.UUID{
		uuid.MustParse("01930000-0000-7000-8000-00000000aaaa"),
		uuid.MustParse("01930000-0000-7000-8000-00000000bbbb"),
		uuid.MustParse("01940000-0000-7000-8000-0000000caaaa"),
	}
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i, id := range ids {
		e := events.Envelope{ID: events.NewID(), Pathway: id, Seq: uint64(i + 1), OccurredAt: at, RecordedAt: at, Type: events.TypePathwayOpened,
			Payload: &events.PathwayOpened{Patient: "p0123456789abcdef0123456789abcdef", Cluster: "aarhus"}}
		if err := o.Apply(e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, abbrev string
		want         []uuid.UUID
	}{
		{"the whole id", ids[1].String(), ids[1:2]},
		{"a beginning shared by two", "01930000", ids[:2]},
		{"a beginning with its dash", "0193000-0", ids[:2]},
		{"an end, as the dashboard shows it", "0000bbbb", ids[1:2]},
		{"an end shared by two", "AAAA", []uuid.UUID{ids[0], ids[2]}},
		{"too short", "aaa", nil},
		{"not hex", "zzzzzz", nil},
		{"nothing matches", "deadbeef", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := o.Find(tt.abbrev, 10); !slices.Equal(got, tt.want) {
				t.Errorf("Find(%q): got %v; want %v", tt.abbrev, got, tt.want)
			}
		})
	}
	if got := o.Find(strings.ToUpper("0193"), 1); len(got) != 1 {
		t.Errorf("Find with max 1: got %d ids; want 1", len(got))
	}
}
