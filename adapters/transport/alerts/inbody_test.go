package alerts

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// A pathway opened in 2026 in cluster Lillebælt for a Middelfart patient
// alerts under Lillebælt through 31 December and under Sundhedsråd Fyn
// from 1 January, though its subject stays.
func TestInBody(t *testing.T) {
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := uuid.New()
	history := []events.Envelope{{Pathway: pw, Payload: &events.PathwayOpened{Patient: "p00000000000000000000000000000001", Cluster: "lillebaelt", Municipality: events.Kommune("0410")}}}
	tests := []struct {
		name string
		dir  *events.Directory
		at   string
		want string
	}{
		{"31 December, 23:59 in Copenhagen", dir, "2026-12-31T22:59:00Z", "lillebaelt"},
		{"1 January, 00:00 in Copenhagen", dir, "2026-12-31T23:00:00Z", "raad-fyn"},
		{"no directory: the body opened in", nil, "2027-03-01T12:00:00Z", "lillebaelt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, tt.at)
			got := InBody(tt.dir, []Alert{{Kind: GapOpened, Cluster: "lillebaelt", Org: events.Kommune("0410"), Pathway: pw, OccurredAt: at}}, history)
			if got[0].Cluster != tt.want {
				t.Errorf("got %q; want %q", got[0].Cluster, tt.want)
			}
			if s := storedSubject(&got[0]); s != "stafet.alertlog."+tt.want+".kommune-0410.gap-opened" {
				t.Errorf("stored under %q", s)
			}
		})
	}
}
