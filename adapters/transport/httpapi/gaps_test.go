package httpapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// gapWorld has four pathways, each with an offer of home care whose
// answer was due an hour after it was made:
//
//	p1 Aarhus  offered t0+1h    overdue from t0+2h   open
//	p2 Aarhus  offered t0+2h    overdue from t0+3h   open
//	p3 Odder   offered t0+1h30  overdue from t0+2h30 open (cluster horsens)
//	p4 Aarhus  offered t0+1h    overdue from t0+2h   closed at t0+2h30 by a late acceptance
//
// and the clock stands at t0+5h.
func gapWorld(t *testing.T) (e *env, p1, p2, p3, p4 uuid.UUID) {
	e = newEnv(t)
	p1 = e.admitted(cpr(1), aarhus, t0)
	p2 = e.admitted(cpr(2), aarhus, t0.Add(time.Hour))
	p3 = e.admitted(cpr(3), odder, t0.Add(30*time.Minute))
	p4 = e.admitted(cpr(4), aarhus, t0)
	e.command("POST", "/v1/pathways/"+p4.String()+"/offers/home-care/accept", e.token(aarhus), map[string]any{"occurred_at": t0.Add(150 * time.Minute)})
	e.setNow(t0.Add(5 * time.Hour))
	return e, p1, p2, p3, p4
}

func pathways(gs []gap) []uuid.UUID {
	var out []uuid.UUID
	for _, g := range gs {
		out = append(out, g.Pathway)
	}
	return out
}

func TestGapList(t *testing.T) {
	e, p1, p2, p3, p4 := gapWorld(t)
	asOf := url.QueryEscape(t0.Add(135 * time.Minute).Format(time.RFC3339))
	cases := []struct {
		name  string
		token string
		query string
		want  []uuid.UUID
	}{
		{"open, oldest first", adminToken, "", []uuid.UUID{p1, p3, p2}},
		{"closed", adminToken, "status=closed", []uuid.UUID{p4}},
		{"all", adminToken, "status=all", []uuid.UUID{p1, p4, p3, p2}},
		{"one cluster", adminToken, "cluster=aarhus", []uuid.UUID{p1, p2}},
		{"a cluster in any case", adminToken, "cluster=Aarhus", []uuid.UUID{p1, p2}},
		{"another cluster", adminToken, "cluster=horsens", []uuid.UUID{p3}},
		{"one municipality", adminToken, "municipality=0727", []uuid.UUID{p3}},
		{"one municipality by id", adminToken, "municipality=kommune:0751&status=closed", []uuid.UUID{p4}},
		{"who can close", adminToken, "org=kommune:0727", []uuid.UUID{p3}},
		{"a kind", adminToken, "kind=offer-overdue", []uuid.UUID{p1, p3, p2}},
		{"kinds repeated", adminToken, "kind=no-owner&kind=document-overdue", nil},
		{"as of a time: later gaps not yet open, later closes still open", adminToken, "as_of=" + asOf, []uuid.UUID{p1, p4}},
		{"pages of one", adminToken, "limit=1", []uuid.UUID{p1, p3, p2}},
		{"pages of two, all", adminToken, "limit=2&status=all", []uuid.UUID{p1, p4, p3, p2}},
		{"an organisation sees its own pathways", e.token(aarhus), "status=all", []uuid.UUID{p1, p4, p2}},
		{"another organisation sees its own", e.token(odder), "status=all", []uuid.UUID{p3}},
		{"a stranger sees nothing", e.token(events.Kommune("0101")), "status=all", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pathways(e.gaps(c.token, c.query))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %v; want %v", got, c.want)
			}
		})
	}
	bad := []struct{ query, field string }{
		{"limit=0", "limit"},
		{"limit=501", "limit"},
		{"cursor=bm9wZQ", "cursor"},
		{"kind=bogus", "kind"},
		{"status=maybe", "status"},
		{"municipality=751", "municipality"},
		{"cluster=nowhere", "cluster"},
		{"cluster=aarhus!", "cluster"},
		{"org=nobody", "org"},
		{"as_of=now", "as_of"},
	}
	for _, c := range bad {
		t.Run(c.query, func(t *testing.T) {
			res := e.do("GET", "/v1/gaps?"+c.query, adminToken, nil)
			p := res.problem(t)
			if res.status != http.StatusBadRequest || p.Field != c.field || p.Type != problems+"bad-parameter" {
				t.Errorf("got %d %s field %q; want 400 bad-parameter on %s", res.status, p.Type, p.Field, c.field)
			}
			if c.field == "kind" && !strings.Contains(p.Detail, "offer-overdue, offer-rejected") {
				t.Errorf("detail %q; want the valid kinds listed", p.Detail)
			}
		})
	}
}

func TestWorklist(t *testing.T) {
	e, p1, p2, _, _ := gapWorld(t)
	kommune := e.token(aarhus)
	var wl struct {
		Org    events.OrgID `json:"org"`
		Offers []struct {
			Pathway uuid.UUID `json:"pathway"`
			Overdue bool      `json:"overdue"`
		} `json:"offers"`
		Gaps []gap `json:"gaps"`
	}
	res := e.do("GET", "/v1/worklist", kommune, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	res.json(t, &wl)
	if wl.Org != aarhus || len(wl.Offers) != 2 || !wl.Offers[0].Overdue || len(wl.Gaps) != 2 {
		t.Errorf("got %+v; want 2 overdue offers and 2 gaps", wl)
	}
	for _, o := range wl.Offers {
		if o.Pathway != p1 && o.Pathway != p2 {
			t.Errorf("offer on %s; want only %s and %s", o.Pathway, p1, p2)
		}
	}
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{adminToken, "/v1/orgs/kommune:0751/worklist", 200},
		{kommune, "/v1/orgs/kommune:0751/worklist", 200},
		{e.token(odder), "/v1/orgs/kommune:0751/worklist", 403},
		{adminToken, "/v1/worklist", 400},
		{adminToken, "/v1/orgs/nobody/worklist", 400},
	} {
		if res := e.do("GET", c.path, c.token, nil); res.status != c.want {
			t.Errorf("GET %s: status %d; want %d", c.path, res.status, c.want)
		}
	}
}

func TestFigures(t *testing.T) {
	e, _, _, _, _ := gapWorld(t)
	kommune := e.token(aarhus)
	type cluster struct {
		ID                 string         `json:"id"`
		OpenGaps           map[string]int `json:"open_gaps"`
		OpenTotal          int            `json:"open_total"`
		OpenByAge          [5]int         `json:"open_by_age"`
		OpenByMunicipality map[string]int `json:"open_by_municipality"`
	}
	var all struct{ Items []cluster }
	e.do("GET", "/v1/clusters", adminToken, nil).json(t, &all)
	if len(all.Items) != 21 {
		t.Errorf("operator: got %d clusters; want 21", len(all.Items))
	}
	for _, c := range all.Items {
		want := map[string]int{"aarhus": 2, "horsens": 1}[c.ID]
		if c.OpenGaps["offer-overdue"] != want || c.OpenTotal != want {
			t.Errorf("cluster %s: got %+v; want %d offer-overdue", c.ID, c, want)
		}
		// One snapshot: the same gaps by kind, by age and by municipality.
		byAge, byMuni := 0, 0
		for _, n := range c.OpenByAge {
			byAge += n
		}
		for _, n := range c.OpenByMunicipality {
			byMuni += n
		}
		if byAge != c.OpenTotal || byMuni != c.OpenTotal {
			t.Errorf("cluster %s: %d open gaps, %d by age, %d by municipality; want the same", c.ID, c.OpenTotal, byAge, byMuni)
		}
	}
	for _, c := range []struct {
		at    string
		n     int
		first string
	}{
		{"2026-12-31", 21, "byen"},
		{"2027-01-01", 17, "raad-byen"},
		{"2026-12-31T23:30:00Z", 17, "raad-byen"}, // 00:30 on 1 January in Copenhagen
	} {
		t.Run("at "+c.at, func(t *testing.T) {
			var got struct{ Items []cluster }
			e.do("GET", "/v1/clusters?at="+c.at, adminToken, nil).json(t, &got)
			if len(got.Items) != c.n || got.Items[0].ID != c.first {
				t.Errorf("got %d bodies, the first %+v; want %d, the first %s", len(got.Items), got.Items[0], c.n, c.first)
			}
		})
	}
	t.Run("subjects of a sundhedsråd", func(t *testing.T) {
		var got struct {
			Items []struct {
				ID       string   `json:"id"`
				Subjects []string `json:"subjects"`
			}
		}
		e.do("GET", "/v1/clusters?at=2027-01-01", adminToken, nil).json(t, &got)
		want := map[string][]string{
			"raad-aarhus": {"stafet.ev.raad-aarhus.*", "stafet.ev.aarhus.*", "stafet.ev.horsens.*"},
			// Lillebælt split (Middelfart to Fyn): no wildcard for it, only
			// its open pathways of Middelfart, none here.
			"raad-fyn": {"stafet.ev.raad-fyn.*", "stafet.ev.fyn.*"},
		}
		for _, it := range got.Items {
			if w, ok := want[it.ID]; ok && !slices.Equal(it.Subjects, w) {
				t.Errorf("%s: subjects %v; want %v", it.ID, it.Subjects, w)
			}
		}
	})
	if res := e.do("GET", "/v1/clusters?at=new-year", adminToken, nil); res.status != 400 {
		t.Errorf("GET /v1/clusters?at=new-year: status %d; want 400", res.status)
	}
	var mine struct{ Items []cluster }
	e.do("GET", "/v1/clusters", kommune, nil).json(t, &mine)
	if len(mine.Items) != 1 || mine.Items[0].ID != "aarhus" {
		t.Errorf("Aarhus: got %+v; want only its cluster", mine.Items)
	}
	for _, c := range []struct {
		token, path string
		want        int
		overdue     int
	}{
		{kommune, "/v1/clusters/aarhus/figures", 200, 2},
		{kommune, "/v1/clusters/horsens/figures", 403, 0},
		{adminToken, "/v1/clusters/horsens/figures", 200, 1},
		{adminToken, "/v1/clusters/atlantis/figures", 404, 0},
		{kommune, "/v1/municipalities/0751/figures", 200, 2},
		{kommune, "/v1/municipalities/kommune:0751/figures", 200, 2},
		{kommune, "/v1/municipalities/0727/figures", 403, 0},
		{adminToken, "/v1/municipalities/0727/figures", 200, 1},
		{adminToken, "/v1/municipalities/9999/figures", 404, 0},
	} {
		res := e.do("GET", c.path, c.token, nil)
		if res.status != c.want {
			t.Errorf("GET %s: status %d; want %d", c.path, res.status, c.want)
			continue
		}
		if c.want != 200 {
			continue
		}
		var f struct {
			Scope    string `json:"scope"`
			OpenGaps map[string]struct {
				Total int    `json:"total"`
				ByAge [5]int `json:"by_age"`
			} `json:"open_gaps"`
			Daily []struct{ Day string } `json:"daily"`
		}
		res.json(t, &f)
		if got := f.OpenGaps["offer-overdue"]; got.Total != c.overdue || len(f.Daily) != 30 {
			t.Errorf("GET %s: got %+v, %d days; want %d offer-overdue, 30 days", c.path, got, len(f.Daily), c.overdue)
		}
	}
	t.Run("daily counts over a range", func(t *testing.T) {
		for _, c := range []struct {
			query      string
			status     int
			days       int
			first, bad string
		}{
			{"from=2026-10-01&to=2026-11-30", 200, 61, "2026-10-01", ""},
			{"from=2026-11-02&to=2026-11-02", 200, 1, "2026-11-02", ""},
			{"from=2026-11-02", 400, 0, "", "to"},
			{"from=2026-11-02&to=2026-11-01", 400, 0, "", "to"},
			{"from=2020-01-01&to=2026-11-01", 400, 0, "", "from"},
			{"from=yesterday&to=2026-11-01", 400, 0, "", "from"},
		} {
			t.Run(c.query, func(t *testing.T) {
				res := e.do("GET", "/v1/clusters/aarhus/figures?at=2026-11-30&"+c.query, kommune, nil)
				if res.status != c.status {
					t.Fatalf("status %d; want %d: %s", res.status, c.status, res.body)
				}
				if c.status != 200 {
					if p := res.problem(t); p.Field != c.bad {
						t.Errorf("problem on %q; want %q", p.Field, c.bad)
					}
					return
				}
				var f struct {
					Daily []struct {
						Day        string `json:"day"`
						GapsOpened int    `json:"gaps_opened"`
					} `json:"daily"`
				}
				res.json(t, &f)
				opened := 0
				for _, d := range f.Daily {
					opened += d.GapsOpened
				}
				if len(f.Daily) != c.days || f.Daily[0].Day != c.first {
					t.Errorf("got %d days from %s; want %d from %s", len(f.Daily), f.Daily[0].Day, c.days, c.first)
				}
				if c.days > 1 && opened == 0 {
					t.Error("no gap opened over the range of the gaps")
				}
			})
		}
	})
}

func TestOrganisations(t *testing.T) {
	e := newEnv(t)
	var page struct {
		Items []events.Organisation `json:"items"`
		Next  string                `json:"next"`
	}
	e.do("GET", "/v1/organisations?kind=hospital", e.hosp, nil).json(t, &page)
	if len(page.Items) != 2 || page.Next != "" {
		t.Errorf("hospitals: got %d, next %q; want 2 on one page", len(page.Items), page.Next)
	}
	n := 0
	for next := "/v1/organisations?kind=municipality"; next != ""; n++ {
		page.Next = ""
		e.do("GET", next, e.hosp, nil).json(t, &page)
		next = page.Next
		if n > 3 {
			t.Fatal("too many pages")
		}
	}
	if n != 2 {
		t.Errorf("municipalities: %d pages; want 2 of 50", n)
	}
	if res := e.do("GET", "/v1/organisations?kind=bank", e.hosp, nil); res.status != http.StatusBadRequest {
		t.Errorf("unknown kind: status %d; want 400", res.status)
	}
}

// Cluster Lillebælt splits on 1 January 2027 (Middelfart to Fyn): a
// subscriber for each sundhedsråd gets its own pathways of it by literal
// subject, and no one else's.
func TestSubjectsOfASplitCluster(t *testing.T) {
	e := newEnv(t)
	middelfart := e.admitted(cpr(5), events.Kommune("0410"), t0)
	kolding := e.admitted(cpr(6), events.Kommune("0621"), t0)
	var got struct {
		Items []struct {
			ID       string   `json:"id"`
			Subjects []string `json:"subjects"`
		}
	}
	e.do("GET", "/v1/clusters?at=2027-01-01", adminToken, nil).json(t, &got)
	want := map[string][]string{
		"raad-fyn":        {"stafet.ev.raad-fyn.*", "stafet.ev.fyn.*", "stafet.ev.lillebaelt." + middelfart.String()},
		"raad-lillebaelt": {"stafet.ev.raad-lillebaelt.*", "stafet.ev.lillebaelt." + kolding.String()},
	}
	for _, it := range got.Items {
		if w, ok := want[it.ID]; ok {
			delete(want, it.ID)
			if !slices.Equal(it.Subjects, w) {
				t.Errorf("%s: subjects %v; want %v", it.ID, it.Subjects, w)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("missing bodies %v", want)
	}
}
