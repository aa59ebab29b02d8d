package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// TestReadClosedPathway reads a pathway after it closed. The projections
// no longer hold it (a closed pathway leaves them: memory follows the
// open pathways), so the read, as of now and as of earlier times, folds
// the pathway's own events from the log.
func TestReadClosedPathway(t *testing.T) {
	e := newEnv(t)
	kommune := e.token(aarhus)
	pw := e.admitted("2509479989", aarhus, t0)
	path := "/v1/pathways/" + pw.String()
	e.command("POST", path+"/offers/home-care/accept", kommune, map[string]any{"occurred_at": t0.Add(90 * time.Minute)})
	e.command("POST", path+"/close", e.hosp, map[string]any{"reason": "done", "occurred_at": t0.Add(4 * time.Hour)})
	e.setNow(t0.Add(5 * time.Hour))
	e.host.Read(func(p engine.Projection) {
		set := p.(*projections.Set)
		if v, held := set.Owner.Pathway(pw); held {
			t.Errorf("the projections hold the closed pathway: %+v", v)
		}
		if open, closed := set.Owner.Len(); open != 0 || closed != 1 {
			t.Errorf("Owner: %d open, %d closed; want 0, 1", open, closed)
		}
	})
	asOf := func(d time.Duration) string {
		return "?as_of_kind=valid&as_of=" + url.QueryEscape(t0.Add(d).Format(time.RFC3339))
	}
	tests := []struct {
		name     string
		query    string
		status   string
		timeline int
		offer    events.OfferStatus
		holders  int
	}{
		{"now", "", "closed", 5, events.OfferAccepted, 2},
		{"as of before the close", asOf(3 * time.Hour), "open", 4, events.OfferAccepted, 2},
		{"as of before the acceptance", asOf(80 * time.Minute), "open", 3, events.OfferPending, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := e.read(path+tt.query, kommune)
			if p.ID != pw || p.Status != tt.status || p.Cluster != "aarhus" {
				t.Errorf("got pathway %s, status %q, cluster %q; want %s, %q, aarhus", p.ID, p.Status, p.Cluster, pw, tt.status)
			}
			if len(p.Timeline) != tt.timeline {
				t.Errorf("timeline: got %d events; want %d", len(p.Timeline), tt.timeline)
			}
			if len(p.Owner.Chain) != 1 || p.Owner.Chain[0].Status != tt.offer {
				t.Errorf("chain: got %+v; want the home-care offer %s", p.Owner.Chain, tt.offer)
			}
			if len(p.Owner.Holders) != tt.holders {
				t.Errorf("holders: got %+v; want %d", p.Owner.Holders, tt.holders)
			}
		})
	}
}
