package simulator

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// One simulated world runs across 1 January 2027: every hospital is in a
// sundhedsklynge before midnight and in a sundhedsråd after, and from
// then the driver reads the regions' worklists for the tasks that moved.
func TestWorldAcrossNewYear(t *testing.T) {
	dir, err := events.NewDirectory(bytes.NewReader(Organisations()))
	if err != nil {
		t.Fatal(err)
	}
	before, after := time.Date(2026, 12, 31, 22, 59, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC)
	hospitals := dir.Organisations(events.KindHospital)
	if len(hospitals) == 0 {
		t.Fatal("no hospitals in the simulator's organisations")
	}
	for _, h := range hospitals {
		b, a := dir.ClusterAt(h.ID, before), dir.ClusterAt(h.ID, after)
		if b == "" || strings.HasPrefix(b, "raad-") || !strings.HasPrefix(a, "raad-") {
			t.Errorf("%s (%s): %q before midnight, %q after; want a sundhedsklynge, then a sundhedsråd", h.ID, h.Name, b, a)
		}
	}
	tests := []struct {
		m     events.OrgID
		at    time.Time
		watch []events.OrgID
	}{
		{events.Kommune("0101"), before, []events.OrgID{events.Kommune("0101")}},
		{events.Kommune("0101"), after, []events.OrgID{events.Kommune("0101"), "region:1086"}},
		{events.Kommune("0751"), after, []events.OrgID{events.Kommune("0751"), "region:1082"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.m)+" "+tt.at.Format(time.RFC3339), func(t *testing.T) {
			d := &driver{seen: map[events.OrgID]bool{}}
			d.watchReceivers(tt.m, tt.at)
			if got := d.watched(); !slices.Equal(got, tt.watch) {
				t.Errorf("watched %v; want %v", got, tt.watch)
			}
		})
	}
}
