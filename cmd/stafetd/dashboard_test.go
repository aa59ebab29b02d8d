package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/projections"
	"github.com/stafet/stafet/simulator"
	"github.com/stafet/stafet/web"
)

const chromiumPath = "/usr/bin/chromium"

// TestDashboard runs stafetd in-process, feeds it with the simulator and
// a pathway of its own through the API, and drives the dashboard in a
// real headless Chromium: the overview shows the API's numbers, a gap
// made through the API appears live, a filter narrows the gap list, the
// timeline draws the gap interval, and another municipality sees neither
// the gap nor the pathway. Screenshots go to the test's temporary
// directory and, if STAFET_ARTEFACTS names one, there too.
func TestDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("starts stafetd and a browser")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no browser at %s (install Debian's chromium package; .ci/run does); CI is not set, so skipping", chromiumPath)
		}
		t.Fatalf("CI is set and the dashboard tests need Debian's chromium at %s: %v", chromiumPath, err)
	}
	start := time.Now()
	// 600 simulated minutes a real second, and the deadlines compressed
	// alike: stays end and deadlines pass within the few seconds the
	// simulator runs, so there are gaps all over the country.
	const scale = 600
	dir := t.TempDir()
	const admin = "dashboard-test-operator-token"
	env := simulatorFiles(t, dir, scale)
	env["STAFET_ADMIN_TOKEN"], env["STAFET_DURABILITY"] = admin, "bulk"
	svc, _ := startService(t, filepath.Join(dir, "data"), env)
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	checkServesPage(t, base)
	front := dashboardFront(t, svc, base)
	api := &apiClient{t: t, base: base}

	// The simulator runs while the browser starts.
	simDone := make(chan simulator.Stats, 1)
	go func() {
		st, err := simulator.Run(context.Background(), simulator.Config{
			MLLPAddr: svc.mllpAddr.String(), BaseURL: base, Token: admin, Seed: 7, TimeScale: scale,
			Rate: 150, Duration: 5 * time.Second, PollInterval: 500 * time.Millisecond, RunID: "dashboard",
		})
		if err != nil {
			t.Errorf("simulator: %v", err)
		}
		simDone <- st
	}()
	b := newBrowser(t)
	st := <-simDone
	t.Logf("simulator: sent %v, answers %v, errors %d", st.Sent, st.Answers, st.Errors)

	// A pathway of our own in Aarhus: admitted, home care offered to Aarhus
	// Kommune, not yet answered. Discharging the patient opens the gaps.
	hospital := api.hospitalOf("aarhus", admin)
	pw := api.openPathway(admin, hospital, "kommune:0751", "1205471234")
	// And one in Odense, discharged at once, so that a filter on Aarhus
	// has something to leave out whatever the simulator did.
	odense := api.hospitalOf("fyn", admin)
	api.discharge(admin, api.openPathway(admin, odense, "kommune:0461", "0307521234"), odense, "kommune:0461")

	tab := b.tab(t, "operator")
	tab.do(chromedp.Navigate(front + "/#/"))
	tab.waitFor(`document.querySelector('#token')`)
	tab.audit()
	tab.screenshot("signin")
	tab.signIn(front, admin)
	if who := tab.text("#whoami"); !strings.Contains(who, "Operatør") {
		t.Errorf("signed in as the operator: header says %q", who)
	}

	t.Run("overview matches the API", func(t *testing.T) {
		tab := tab.with(t)
		tab.open(front, "#/")
		if n := tab.count(`#clusters-table tbody tr`); n < 21 {
			t.Errorf("cluster rows: got %d; want the 21 clusters", n)
		}
		if n := tab.count(`li.tile`); n != 98 {
			t.Errorf("municipality tiles: got %d; want 98", n)
		}
		overviewMatches(t, tab, api, admin)
		tab.audit()
		tab.screenshot("overview")
		tab.fullScreenshot("overview-full")
		tab.keyboard()
		// English labels, then back to Danish.
		tab.do(chromedp.Click(chromedp.CSS("#lang")))
		tab.waitFor(`document.querySelector('main h1')?.textContent === 'Overview' && document.documentElement.lang === 'en'`)
		tab.screenshot("overview-en")
		tab.do(chromedp.Click(chromedp.CSS("#lang")))
		tab.waitFor(`document.querySelector('main h1')?.textContent === 'Oversigt' && document.documentElement.lang === 'da'`)
	})

	t.Run("a gap made through the API appears live", func(t *testing.T) {
		tab := tab.with(t)
		tab.open(front, "#/gaps?cluster=aarhus")
		tab.waitFor(`document.querySelector('#gap-count') && document.getElementById('live').dataset.status === 'open'`)
		if tab.has(fmt.Sprintf(`tr[data-pathway=%q]`, pw)) {
			t.Fatal("the pathway has a gap before the discharge")
		}
		// A reload would lose this mark.
		tab.eval(`window.stafetTestMark = 'still here'`)
		before := tab.text("#updates")
		api.discharge(admin, pw, hospital, "kommune:0751")
		tab.waitFor(fmt.Sprintf(`document.querySelector('tr[data-pathway=%q][data-kind="discharged-before-accept"]')`, pw))
		if mark := tab.eval(`window.stafetTestMark || ''`); mark != "still here" {
			t.Error("the page was reloaded; want the new gap without a reload")
		}
		if !tab.has(fmt.Sprintf(`tr.is-new[data-pathway=%q]`, pw)) {
			t.Error("the new gap's row is not marked new")
		}
		// The row can come with a refresh an earlier alert started, before
		// the alert about this gap is gathered: give the news its moment.
		news := fmt.Sprintf(`(u => u !== %q && (u.includes('nyt hul') || u.includes('nye huller')))(document.getElementById('updates').textContent)`, before)
		if !tab.poll(news, 30*time.Second) {
			t.Errorf("live region: got %q; want news of the new gap", tab.text("#updates"))
		}
		tab.screenshot("live-gap")
	})

	t.Run("a filter narrows the list", func(t *testing.T) {
		tab := tab.with(t)
		tab.open(front, "#/gaps")
		all := tab.int(`+document.getElementById('gap-count').dataset.count`)
		tab.do(
			chromedp.SetValue(chromedp.CSS("#f-cluster"), "aarhus"),
			chromedp.Click(chromedp.CSS("#f-kinds > summary")),
			chromedp.Click(chromedp.CSS(`#f-kind-discharged-before-accept`)),
			chromedp.Click(chromedp.CSS("#f-apply")),
		)
		tab.waitFor(`document.querySelector('main').dataset.view === '#/gaps?cluster=aarhus&kind=discharged-before-accept'`)
		got := tab.int(`+document.getElementById('gap-count').dataset.count`)
		kinds := tab.strings(`[...document.querySelectorAll('#gaps-table tbody tr')].map(r => r.dataset.kind)`)
		want := len(api.gaps(admin, "cluster=aarhus&kind=discharged-before-accept"))
		if got == 0 || got >= all {
			t.Errorf("filtered list: %d gaps of %d; want fewer, and at least ours", got, all)
		}
		if got != want {
			t.Errorf("filtered list: %d rows; the API lists %d", got, want)
		}
		for _, k := range kinds {
			if k != "discharged-before-accept" {
				t.Errorf("a row of kind %s in a list filtered to discharged-before-accept", k)
			}
		}
		if !tab.has(fmt.Sprintf(`tr[data-pathway=%q]`, pw)) {
			t.Error("our pathway's gap is missing from the filtered list")
		}
		tab.audit()
		tab.screenshot("gaps-filtered")
	})

	t.Run("the timeline shows the gap interval", func(t *testing.T) {
		tab := tab.with(t)
		// Clicked in the page, in one step: the live list can re-render
		// between a node lookup and a click (CI under load saw "Could not
		// find node with given id").
		tab.waitFor(fmt.Sprintf(`(() => { const a = document.querySelector('tr[data-pathway=%q] a.pathway-link'); if (a) a.click(); return !!a; })()`, pw))
		tab.waitFor(fmt.Sprintf(`document.querySelector('main').dataset.view === '#/pathway/%s'`, pw))
		if !strings.Contains(tab.eval(`location.hash`), pw) {
			t.Errorf("the row's link went to %s; want the pathway", tab.eval(`location.hash`))
		}
		var open []struct {
			ID   string `json:"id"`
			Kind string `json:"kind"`
		}
		api.get("/v1/pathways/"+pw, admin, &struct {
			OpenGaps *[]struct {
				ID   string `json:"id"`
				Kind string `json:"kind"`
			} `json:"open_gaps"`
		}{&open})
		drawn := tab.strings(`[...document.querySelectorAll('svg.timeline rect.gap.gap-open')].filter(r => r.getBBox().width > 0).map(r => r.dataset.gap)`)
		for _, g := range open {
			if !slices.Contains(drawn, g.ID) {
				t.Errorf("open gap %s (%s) is not drawn; drawn: %v", g.ID, g.Kind, drawn)
			}
		}
		if len(open) == 0 {
			t.Error("the API shows no open gap on the pathway")
		}
		if fill := tab.eval(`getComputedStyle(document.querySelector('svg.timeline rect.gap')).fill`); fill != "rgb(198, 40, 40)" {
			t.Errorf("gap fill: got %s; want red", fill)
		}
		if late := tab.text("#late-list"); !strings.Contains(late, "forsinket") {
			t.Errorf("what is late: got %q; want the open gaps with how late", late)
		}
		tab.audit()
		tab.screenshot("pathway")
		tab.fullScreenshot("pathway-full")
	})

	t.Run("another municipality does not see the pathway", func(t *testing.T) {
		samso := api.token(admin, "kommune:0741") // Samsø, in the Aarhus cluster too
		other := b.tab(t, "samso")
		other.signIn(front, samso)
		if who := other.text("#whoami"); !strings.Contains(who, "Samsø") {
			t.Errorf("signed in as Samsø: header says %q", who)
		}
		other.open(front, "#/gaps")
		if other.has(fmt.Sprintf(`tr[data-pathway=%q]`, pw)) {
			t.Error("Samsø's gap list shows Aarhus' pathway")
		}
		for _, g := range api.gaps(samso, "") {
			if g.Pathway == pw {
				t.Error("the API lists Aarhus' pathway to Samsø")
			}
		}
		other.open(front, "#/pathway/"+pw)
		if st := other.eval(`document.getElementById('pathway-error').dataset.status`); st != "403" {
			t.Errorf("opening Aarhus' pathway as Samsø: status %s; want 403", st)
		}
		if msg := other.text("#pathway-error"); !strings.Contains(msg, "403") {
			t.Errorf("message: %q; want it to say 403", msg)
		}
		if other.has("svg.timeline") {
			t.Error("a timeline is drawn for a forbidden pathway")
		}
		if page := other.text("main"); strings.Contains(page, patientName) || strings.Contains(page, "120547-1234") {
			t.Error("Samsø, not party to the pathway, sees the patient's name or CPR number")
		}
		other.screenshot("forbidden")

		// Its overview: its own cluster, and tiles without figures for the
		// municipalities outside it.
		other.open(front, "#/")
		overviewMatches(t, other, api, samso)
		want := api.overview(samso)
		if n := other.count(`#clusters-table tbody tr`); n != len(want.clusters) {
			t.Errorf("Samsø's overview: %d clusters; the API lets it see %d", n, len(want.clusters))
		}
		if n := other.count(`li.tile-none`); n != 98-len(want.munis) {
			t.Errorf("Samsø's overview: %d tiles without access; want %d", n, 98-len(want.munis))
		}
		other.audit()
		other.screenshot("overview-other-municipality")
	})

	aarhus := api.token(admin, "kommune:0751")
	w := b.tab(t, "aarhus")
	w.signIn(front, aarhus)

	t.Run("a party sees the patient's name, others do not", func(t *testing.T) {
		w := w.with(t)
		w.open(front, "#/pathway/"+pw)
		w.waitFor(`document.getElementById('patient-identity')`)
		if who := w.text("#patient-identity"); !strings.Contains(who, patientName) || !strings.Contains(who, "120547-1234") {
			t.Errorf("Aarhus Kommune, a party, sees %q; want the name and the CPR number", who)
		}
		w.audit()
		w.screenshot("pathway-party")
		// The operator's dashboard shows pseudonyms (the API would show the
		// name; running the service needs none).
		o := tab.with(t)
		o.open(front, "#/pathway/"+pw)
		if page := o.text("main"); strings.Contains(page, patientName) || strings.Contains(page, "1205471234") || strings.Contains(page, "120547-1234") {
			t.Error("the operator's pathway page shows the patient's name or CPR number")
		}
		if o.has("#patient-identity") || !strings.Contains(o.text("#patient-pseudonym"), "operatørens dashboard viser ikke navne") {
			t.Errorf("the operator's page does not say why the patient is a pseudonym: %.300s", o.text("main"))
		}
		// Every identity read is in the parties' access log.
		var log struct {
			Items []struct {
				Reader  string `json:"reader"`
				What    string `json:"what"`
				Allowed bool   `json:"allowed"`
			} `json:"items"`
		}
		api.get("/v1/access-log?limit=500&pathway="+pw, aarhus, &log)
		seen := false
		for _, r := range log.Items {
			if r.Reader == "kommune:0751" && r.What == "pathway+identity" && r.Allowed {
				seen = true
			}
			if r.Reader == "operator" && strings.Contains(r.What, "identity") {
				t.Errorf("the operator read the identity: %+v", r)
			}
		}
		if !seen {
			t.Errorf("the access log lacks Aarhus Kommune's identity read: %+v", log.Items)
		}
	})

	t.Run("a coordinator accepts an offer from the worklist and sees the gap close live", func(t *testing.T) {
		w := w.with(t)
		// The operator watches the gap list meanwhile, without a reload.
		o := tab.with(t)
		o.open(front, "#/gaps?cluster=aarhus")
		gapRow := fmt.Sprintf(`tr[data-pathway=%q][data-kind="discharged-before-accept"]`, pw)
		o.waitFor(fmt.Sprintf(`document.querySelector(%q)`, gapRow))
		o.eval(`window.stafetTestMark = 'still here'`)

		w.open(front, "#/worklist")
		offer := fmt.Sprintf(`#worklist-offers tr[data-pathway=%q][data-offer="home-care-1"]`, pw)
		w.waitFor(fmt.Sprintf(`document.querySelector(%q)`, offer))
		if !w.has(fmt.Sprintf(`#worklist-gaps tr[data-pathway=%q]`, pw)) {
			t.Error("Aarhus Kommune's worklist lacks the gap it can close")
		}
		if row := w.text(offer); !strings.Contains(row, patientName) {
			t.Errorf("the offer's row: %q; want the patient's name", row)
		}
		if w.has(`#worklist-offers th code`) {
			t.Error("the worklist shows technical offer ids")
		}
		w.audit()
		w.screenshot("worklist")
		w.waitFor(fmt.Sprintf(`(() => { const b = document.querySelector(%q); if (b) b.click(); return !!b; })()`, offer+` button[data-action="accept"]`))
		w.waitFor(`document.querySelector('#worklist-status.message-ok')`)
		w.waitFor(fmt.Sprintf(`!document.querySelector(%q)`, offer))
		w.waitFor(fmt.Sprintf(`!document.querySelector('#worklist-gaps tr[data-pathway=%q][data-kind="discharged-before-accept"]')`, pw))
		// Live: the operator's list loses the gap by itself.
		o.waitFor(fmt.Sprintf(`!document.querySelector(%q)`, gapRow))
		if mark := o.eval(`window.stafetTestMark || ''`); mark != "still here" {
			t.Error("the operator's gap list was reloaded; want the gap to close live")
		}
		var p struct {
			Owner struct {
				Chain []struct {
					Offer, Status string
				} `json:"chain"`
			} `json:"owner"`
		}
		api.get("/v1/pathways/"+pw, admin, &p)
		for _, c := range p.Owner.Chain {
			if c.Offer == "home-care-1" && c.Status != "accepted" {
				t.Errorf("the offer after the click: %s; want accepted", c.Status)
			}
		}
	})

	t.Run("a coordinator rejects with a reason and gives a responsibility back on the pathway page", func(t *testing.T) {
		w := w.with(t)
		api.post("/v1/pathways/"+pw+"/offers", admin, map[string]any{
			"offer": "nursing-1", "to": "kommune:0751", "what": "home-nursing", "actor": hospital,
			"occurred_at": time.Now().UTC(), "deadline": time.Now().UTC().Add(time.Hour),
		}, nil)
		w.open(front, "#/pathway/"+pw)
		row := `#chain-table tr[data-offer="nursing-1"]`
		w.waitFor(fmt.Sprintf(`document.querySelector('%s button[data-action="reject"]')`, row))
		w.eval(fmt.Sprintf(`(() => { document.querySelector('%s button[data-action="reject"]').click(); return true; })()`, row))
		w.eval(fmt.Sprintf(`(() => { const f = document.querySelector('%s form.reject-form'); f.querySelector('input[name=reason]').value = 'ingen ledig kapacitet'; f.querySelector('button[type=submit]').click(); return true; })()`, row))
		w.waitFor(`document.querySelector('#pathway-status.message-ok')`)
		w.waitFor(`document.querySelector('#chain-table tr[data-offer="nursing-1"][data-status="rejected"]')`)

		// Home care, accepted from the worklist, is Aarhus Kommune's: give it back.
		w.waitFor(`document.querySelector('button[data-action="release"][data-what="home-care"]')`)
		w.eval(`(() => { document.querySelector('button[data-action="release"][data-what="home-care"]').click(); return true; })()`)
		w.waitFor(`(() => { const b = document.getElementById('release-confirm-home-care'); if (b && !b.closest('[hidden]')) b.click(); return !!b && !b.closest('[hidden]'); })()`)
		w.waitFor(`!document.querySelector('button[data-action="release"][data-what="home-care"]')`)

		var p struct {
			Owner struct {
				Holders []struct{ What, Org string }     `json:"holders"`
				Chain   []struct{ Offer, Status string } `json:"chain"`
			} `json:"owner"`
			Timeline []struct {
				Type string         `json:"type"`
				Data map[string]any `json:"data"`
			} `json:"timeline"`
		}
		api.get("/v1/pathways/"+pw, admin, &p)
		for _, c := range p.Owner.Chain {
			if c.Offer == "nursing-1" && c.Status != "rejected" {
				t.Errorf("the offer after the rejection: %s; want rejected", c.Status)
			}
		}
		for _, h := range p.Owner.Holders {
			if h.What == "home-care" && h.Org == "kommune:0751" {
				t.Error("Aarhus Kommune still holds home care after giving it back")
			}
		}
		reasoned := false
		for _, e := range p.Timeline {
			if e.Type == "HandoffRejected" && fmt.Sprint(e.Data["reason"]) == "ingen ledig kapacitet" {
				reasoned = true
			}
		}
		if !reasoned {
			t.Errorf("no HandoffRejected with the reason typed in the page: %+v", p.Timeline)
		}
	})

	t.Run("figures render", func(t *testing.T) {
		w := w.with(t)
		w.open(front, "#/figures?cluster=aarhus")
		if !w.has("#o2a-table") || !w.has("#ready-table") {
			t.Errorf("figures: want the offer-to-acceptance and the bed-day tables; page: %.500s", w.text("main"))
		}
		w.audit()
		w.screenshot("figures")
	})

	t.Run("the trend chart for a date range", func(t *testing.T) {
		o := tab.with(t)
		// The figures count by the day in Copenhagen, as a coordinator
		// picks the range; between 23:00 and 24:00 UTC the host's date is
		// a day behind it, and today's gaps fell outside the range.
		cph, err := time.LoadLocation("Europe/Copenhagen")
		if err != nil {
			t.Fatal(err)
		}
		to := time.Now().In(cph)
		from := to.AddDate(0, 0, -13)
		o.open(front, "#/trends?from="+from.Format(time.DateOnly)+"&to="+to.Format(time.DateOnly)+"&cluster=aarhus")
		o.waitFor(`document.querySelector('#gap-trend') || document.querySelector('#trend-gaps .message-error')`)
		for _, series := range []string{"opened", "closed"} {
			if n := o.int(fmt.Sprintf(`document.querySelector('#gap-trend polyline[data-series=%q]').getAttribute('points').trim().split(/\s+/).length`, series)); n != 14 {
				t.Errorf("gaps %s: %d points; want one for each of the 14 days", series, n)
			}
		}
		// Deadlines keep elapsing and opening gaps: the page and the API
		// must agree when read at the same moment, so a gap opened between
		// the two reads is a reason to read both again, not a failure.
		apiOpened := func() int {
			var f struct {
				Daily []struct {
					GapsOpened int `json:"gaps_opened"`
				} `json:"daily"`
			}
			api.get("/v1/clusters/aarhus/figures?at="+to.Format(time.DateOnly)+"&from="+from.Format(time.DateOnly)+"&to="+to.Format(time.DateOnly), admin, &f)
			n := 0
			for _, d := range f.Daily {
				n += d.GapsOpened
			}
			return n
		}
		// The page's figure is compared only when the API said the same
		// before the page loaded and after it was read.
		for deadline := time.Now().Add(30 * time.Second); ; {
			before := apiOpened()
			// A reload, not a navigation to the same address: that would
			// keep the document, and the figure read before.
			o.do(chromedp.Reload())
			o.waitFor(`document.querySelector('main').dataset.view && document.querySelector('#gap-trend')`)
			got := o.eval(`document.getElementById('trend-sums').dataset.opened`)
			after := apiOpened()
			if after != before && time.Now().Before(deadline) {
				continue
			}
			if got != strconv.Itoa(after) || after == 0 {
				t.Errorf("gaps opened over the range: page %s, API %d before the page and %d after; want the same, and some", got, before, after)
			}
			break
		}
		if n := o.count("#board-trends polyline.trend"); n != 5 {
			t.Errorf("%d board trend lines; want 5", n)
		}
		o.audit()
		o.screenshot("trends")
	})

	t.Run("the message browser finds a dead letter, and it is fixed and reprocessed", func(t *testing.T) {
		o := tab.with(t)
		body, facility := deadHL7(t)
		if code := sendHL7(t, svc.mllpAddr.String(), body); code != "AE" {
			t.Fatalf("the message from an unknown hospital was answered %s; want AE", code)
		}
		o.open(front, "#/messages?status=dead&code=unknown-organisation")
		o.waitFor(`document.querySelector('#messages-table tbody tr[data-dead="true"]')`)
		seq := o.eval(`document.querySelector('#messages-table tbody tr[data-dead="true"]').dataset.seq`)
		if !o.has(`#channels-table tbody tr[data-channel="hl7v2"]`) {
			t.Error("no counters for the HL7 channel")
		}
		o.waitFor(fmt.Sprintf(`(() => { const b = document.querySelector('button[data-show=%q]'); if (b) b.click(); return !!b; })()`, seq))
		o.waitFor(`document.querySelector('#raw-body') && document.querySelector('#translation')`)
		if tr := o.text("#translation"); !strings.Contains(tr, "unknown-organisation") {
			t.Errorf("the translation beside the message: %q; want the reason it fails", tr)
		}
		o.audit()
		o.screenshot("messages")
		o.screenshotOf("message", "#message-detail")
		// The operator corrects the hospital's SOR code and reprocesses.
		o.eval(fmt.Sprintf(`(() => { const a = document.getElementById('raw-body'); a.value = a.value.replaceAll(%q, %q); return 'ok'; })()`, unknownSOR, facility))
		o.do(chromedp.Click(chromedp.CSS("#reprocess-fixed")))
		o.waitFor(`document.querySelector('#message-status.message-ok')`)
		code, _ := get(t, base+"/v1/dead-letters/"+seq, admin)
		if code != http.StatusNotFound {
			t.Errorf("dead letter %s after the fix: status %d; want 404 (resolved)", seq, code)
		}
		o.waitFor(fmt.Sprintf(`!document.querySelector('#messages-table tbody tr[data-seq=%q][data-dead="true"]')`, seq))
		var access struct {
			Items []struct {
				What string `json:"what"`
			} `json:"items"`
		}
		api.get("/v1/access-log?limit=500&reader=operator", admin, &access)
		if !slices.ContainsFunc(access.Items, func(r struct {
			What string `json:"what"`
		}) bool {
			return r.What == "message/"+seq
		}) {
			t.Errorf("the access log lacks the read of message %s", seq)
		}
	})

	t.Run("either structure by the month picked", func(t *testing.T) {
		o := b.tab(t, "operator-structure")
		o.signIn(front, admin)
		for _, c := range []struct {
			month, kind string
			n           int
			has, lacks  string
		}{
			{"2026-12", "sundhedsklynge", 21, "syd-hovedstaden", "raad-amager-vestegnen"},
			{"2027-01", "sundhedsraad", 17, "raad-amager-vestegnen", "syd-hovedstaden"},
		} {
			o.open(front, "#/figures?month="+c.month)
			o.waitFor(`document.querySelector('#board-table') || document.querySelector('#board .error')`)
			if got := o.count("#fig-cluster option"); got != c.n {
				t.Errorf("%s: %d bodies to choose from; want %d", c.month, got, c.n)
			}
			if got := o.eval(`document.querySelector('#fig-structure').dataset.kind + ' ' + document.querySelector('#fig-structure').dataset.count`); got != fmt.Sprintf("%s %d", c.kind, c.n) {
				t.Errorf("%s: structure %q; want %s %d", c.month, got, c.kind, c.n)
			}
			if !o.has(fmt.Sprintf(`#fig-cluster option[value=%q]`, c.has)) || o.has(fmt.Sprintf(`#fig-cluster option[value=%q]`, c.lacks)) {
				t.Errorf("%s: want %s among the bodies and not %s; got %v", c.month, c.has, c.lacks,
					o.strings(`[...document.querySelectorAll('#fig-cluster option')].map(o => o.value)`))
			}
			if got := o.count("#board-table tbody tr"); got != 12 {
				t.Errorf("%s: %d months in the board table; want 12", c.month, got)
			}
			if got := o.count("#board-trends polyline.trend"); got != 5 {
				t.Errorf("%s: %d trend lines; want 5", c.month, got)
			}
			if got := o.eval(`document.querySelector('#board-table tbody tr').dataset.month`); got != c.month {
				t.Errorf("%s: the board table starts with %q; want the month picked", c.month, got)
			}
			o.audit()
			o.screenshot("figures-" + c.month)
		}
	})
	// Last: it stops the projections for good.
	t.Run("a banner and no Live while the projections are stopped", func(t *testing.T) {
		s := b.tab(t, "operator-stale")
		s.signIn(front, admin)
		s.open(front, "#/gaps")
		s.waitFor(`document.getElementById('live').dataset.status === 'open'`)
		if !s.has("#health-banner[hidden]") {
			t.Errorf("banner shown while live: %q", s.text("#health-text"))
		}
		svc.stopProjections()
		// The next read says it is stale: the view re-fetches on the
		// health check, or here at once.
		s.open(front, "#/")
		if !s.poll(`!document.getElementById('health-banner').hidden && document.getElementById('live').dataset.status === 'stale'`, time.Minute) {
			t.Fatalf("a minute after the projections stopped: banner hidden %s %q, live %s %q, health %s",
				s.eval(`document.getElementById('health-banner').hidden`), s.text("#health-text"),
				s.eval(`document.getElementById('live').dataset.status`), s.text("#live-text"), svc.host.Status().State)
		}
		if got := s.text("#health-text"); !strings.Contains(got, "Forældede data") || !strings.Contains(got, "er stoppet") {
			t.Errorf("banner %q; want it to say the data is stale and the views stopped", got)
		}
		if got := s.text("#live-text"); strings.Contains(got, "forbundet") || !strings.Contains(got, "Ikke live") {
			t.Errorf("live indicator %q; want it not to say Live", got)
		}
		if got := s.eval(`getComputedStyle(document.getElementById('health-banner')).display`); got == "none" {
			t.Error("the banner is in the page but not displayed")
		}
		s.audit()
		s.screenshot("stale")
	})
	b.checkConsole(t)
	t.Logf("dashboard test took %v", time.Since(start).Round(time.Millisecond))
}

// simulatorFiles writes the simulator's organisations and its rules at a
// time scale into dir, and returns the settings that name them.
func simulatorFiles(t *testing.T, dir string, scale float64) map[string]string {
	t.Helper()
	rules, err := simulator.Rules(scale)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"organisations.json": simulator.Organisations(), "rules.json": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return map[string]string{"STAFET_ORGANISATIONS": filepath.Join(dir, "organisations.json"), "STAFET_RULES": filepath.Join(dir, "rules.json")}
}

// checkServesPage checks that stafetd itself serves the dashboard.
func checkServesPage(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET /: %d %s, CSP %q; want the dashboard (is Config.Dashboard set in wire.go?)", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}
}

// dashboardFront returns where the browser goes: stafetd itself once it
// serves the alert stream (adapters/transport/alerts) beside the API. Until
// cmd/stafetd mounts it, the test serves the same API, with the alert
// routes and the dashboard, from the same store, projections and tokens.
func dashboardFront(t *testing.T, svc *service, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+svc.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return base
	}
	t.Logf("stafetd answers GET /v1/alerts/stream with %d: serving the API with adapters/transport/alerts mounted for the browser", resp.StatusCode)
	api := httpapi.New(httpapi.Config{
		Store: svc.store, Tokens: svc.tokens, Directory: svc.dir, Ingest: svc.ingest,
		Projections: svc.host, Rules: svc.rules, Dashboard: web.Handler(),
	})
	views, err := projections.NewGaps(svc.rules)
	if err != nil {
		t.Fatal(err)
	}
	as, err := alerts.New(context.Background(), alerts.Config{Store: svc.store, Views: views, Heartbeat: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- as.Run(runCtx) }()
	as.Mount(api, alertCaller)
	srv := httptest.NewServer(api)
	// Registered after startService's cleanup, so it runs before it: the
	// server and the alerts stop before the store closes.
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		stop()
		<-done
	})
	return srv.URL
}

// apiClient calls the API as the test's own client.
type apiClient struct {
	t    *testing.T
	base string
}

func (c *apiClient) get(path, token string, out any) {
	c.t.Helper()
	if code := apiJSON(c.t, "GET", c.base+path, token, nil, out); code != 200 {
		c.t.Fatalf("GET %s: %d", path, code)
	}
}

func (c *apiClient) post(path, token string, body, out any) {
	c.t.Helper()
	if code := apiJSON(c.t, "POST", c.base+path, token, body, out); code/100 != 2 {
		c.t.Fatalf("POST %s: %d", path, code)
	}
}

func (c *apiClient) token(admin, org string) string {
	c.t.Helper()
	var tok struct{ Token string }
	c.post("/v1/tokens", admin, map[string]string{"org": org, "label": "dashboard test"}, &tok)
	return tok.Token
}

// hospitalOf finds the acute hospital of a cluster in the directory.
func (c *apiClient) hospitalOf(cluster, token string) string {
	c.t.Helper()
	var page struct {
		Items []struct {
			ID       string   `json:"id"`
			Clusters []string `json:"clusters"`
		} `json:"items"`
	}
	c.get("/v1/organisations?kind=hospital&limit=500", token, &page)
	for _, o := range page.Items {
		if slices.Contains(o.Clusters, cluster) {
			return o.ID
		}
	}
	c.t.Fatalf("no hospital in cluster %s", cluster)
	return ""
}

// patientName is the name of the patients the test opens pathways for.
const patientName = "Karen Testesen"

// openPathway opens a pathway admitted at hospital, with home care offered
// to municipality and not answered.
func (c *apiClient) openPathway(admin, hospital, municipality, cpr string) string {
	c.t.Helper()
	var opened struct{ Pathway string }
	c.post("/v1/pathways", admin, map[string]any{
		"patient": map[string]string{"cpr": cpr, "name": patientName}, "municipality": municipality, "actor": hospital,
	}, &opened)
	now := time.Now().UTC()
	c.post("/v1/pathways/"+opened.Pathway+"/events", admin, map[string]any{
		"type": "PatientAdmitted", "actor": hospital, "occurred_at": now.Add(-2 * time.Second),
		"data": map[string]string{"hospital": hospital, "class": "inpatient"},
	}, nil)
	c.post("/v1/pathways/"+opened.Pathway+"/offers", admin, map[string]any{
		"offer": "home-care-1", "to": municipality, "what": "home-care", "actor": hospital,
		"occurred_at": now.Add(-time.Second), "deadline": now.Add(time.Hour),
	}, nil)
	return opened.Pathway
}

// discharge sends the patient home with municipal services while the
// offer of home care is still pending: that opens gaps at once.
func (c *apiClient) discharge(admin, pw, hospital, municipality string) {
	c.t.Helper()
	c.post("/v1/pathways/"+pw+"/events", admin, map[string]any{
		"type": "PatientDischarged", "actor": hospital,
		"data": map[string]string{"hospital": hospital, "destination": "home-with-municipal-services", "to": municipality},
	}, nil)
}

type gapItem struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Pathway string `json:"pathway"`
}

// gaps lists every gap the token may see, following the pages.
func (c *apiClient) gaps(token, query string) []gapItem {
	c.t.Helper()
	var out []gapItem
	next := "/v1/gaps?limit=500&" + query
	for next != "" {
		var page struct {
			Items []gapItem `json:"items"`
			Next  string    `json:"next"`
		}
		c.get(next, token, &page)
		out = append(out, page.Items...)
		next = page.Next
	}
	return out
}

// overviewNumbers are the overview's numbers, as strings: per cluster, the
// open gaps of each kind, "total" and "age0"…"age4"; per municipality,
// its open gaps.
type overviewNumbers struct {
	clusters map[string]map[string]string
	munis    map[string]string
}

type agesJSON struct {
	Total int    `json:"total"`
	ByAge [5]int `json:"by_age"`
}

// overview reads what the overview shows from the API.
func (c *apiClient) overview(token string) overviewNumbers {
	c.t.Helper()
	var clusters struct {
		Items []struct {
			ID             string         `json:"id"`
			Municipalities []string       `json:"municipalities"`
			OpenGaps       map[string]int `json:"open_gaps"`
			OpenTotal      int            `json:"open_total"`
		} `json:"items"`
	}
	c.get("/v1/clusters", token, &clusters)
	out := overviewNumbers{clusters: map[string]map[string]string{}, munis: map[string]string{}}
	var f struct {
		OpenGaps map[string]agesJSON `json:"open_gaps"`
	}
	for _, cl := range clusters.Items {
		row := map[string]string{"total": strconv.Itoa(cl.OpenTotal)}
		for k, n := range cl.OpenGaps {
			row[k] = strconv.Itoa(n)
		}
		out.clusters[cl.ID] = row
		clear(f.OpenGaps)
		c.get("/v1/clusters/"+cl.ID+"/figures", token, &f)
		for a := range 5 {
			n := 0
			for _, k := range f.OpenGaps {
				n += k.ByAge[a]
			}
			row["age"+strconv.Itoa(a)] = strconv.Itoa(n)
		}
		for _, m := range cl.Municipalities {
			if _, ok := out.munis[m]; ok {
				continue
			}
			clear(f.OpenGaps)
			c.get("/v1/municipalities/"+strings.TrimPrefix(m, "kommune:")+"/figures", token, &f)
			n := 0
			for _, k := range f.OpenGaps {
				n += k.Total
			}
			out.munis[m] = strconv.Itoa(n)
		}
	}
	return out
}

// overviewMatches checks that the overview shows the API's numbers.
// Deadlines keep elapsing after the simulator stops, so the numbers can
// move: the page is compared with the API read before and after it, when
// both reads agree.
func overviewMatches(t *testing.T, tab *tab, api *apiClient, token string) {
	t.Helper()
	var diffs []string
	for attempt := range 8 {
		before := api.overview(token)
		tab.reloadOverview()
		page := tab.overviewNumbers()
		after := api.overview(token)
		if !maps.EqualFunc(before.clusters, after.clusters, maps.Equal) || !maps.Equal(before.munis, after.munis) {
			t.Logf("attempt %d: the API's numbers moved meanwhile; again", attempt)
			continue
		}
		if diffs = compareOverview(after, page); len(diffs) == 0 {
			return
		}
	}
	if diffs == nil {
		t.Error("the API's numbers never held still for a comparison")
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

func compareOverview(api, page overviewNumbers) []string {
	var diffs []string
	for id, want := range api.clusters {
		got, ok := page.clusters[id]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("cluster %s: not on the page", id))
			continue
		}
		for k, w := range want {
			if got[k] != w {
				diffs = append(diffs, fmt.Sprintf("cluster %s, %s: got %q; want %q", id, k, got[k], w))
			}
		}
	}
	for m, want := range api.munis {
		if got := page.munis[m]; got != want {
			diffs = append(diffs, fmt.Sprintf("municipality %s: got %q; want %q", m, got, want))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// browser is one headless Chromium for the test.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	shots    []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return &browser{ctx: ctx}
}

// checkConsole fails the test for uncaught exceptions and for anything the
// Content-Security-Policy refused.
func (b *browser) checkConsole(t *testing.T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser console: %s", p)
	}
}

// tab is a browser tab, with its own sessionStorage and so its own
// sign-in.
type tab struct {
	t    *testing.T
	b    *browser
	ctx  context.Context
	name string
}

func (b *browser) tab(t *testing.T, name string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(func() { cancel() })
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1360, 1000)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s:%d)", name, m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	return &tab{t: t, b: b, ctx: ctx, name: name}
}

// with is the same tab reporting to a subtest.
func (tb *tab) with(t *testing.T) *tab { c := *tb; c.t = t; return &c }

func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 70*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
}

// waitFor waits until a JavaScript expression is truthy.
func (tb *tab) waitFor(expr string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 70*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(60*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		tb.screenshot("failed-wait")
		tb.t.Fatalf("%s: waiting for %s: %v\npage: %.2000s", tb.name, expr, err, tb.eval(`document.querySelector('main')?.innerText || ''`))
	}
}

// poll reports whether a JavaScript expression becomes truthy within d.
func (tb *tab) poll(expr string, d time.Duration) bool {
	tb.t.Helper()
	for end := time.Now().Add(d); ; time.Sleep(50 * time.Millisecond) {
		if evalAs[bool](tb, "!!("+expr+")") {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}

func evalAs[T any](tb *tab, expr string) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 70*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		tb.t.Fatalf("%s: %s: %v", tb.name, expr, err)
	}
	return v
}

func (tb *tab) eval(expr string) string      { tb.t.Helper(); return evalAs[string](tb, "String("+expr+")") }
func (tb *tab) int(expr string) int          { tb.t.Helper(); return evalAs[int](tb, expr) }
func (tb *tab) strings(expr string) []string { tb.t.Helper(); return evalAs[[]string](tb, expr) }
func (tb *tab) has(sel string) bool {
	tb.t.Helper()
	return evalAs[bool](tb, "!!document.querySelector("+strconv.Quote(sel)+")")
}
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return evalAs[int](tb, "document.querySelectorAll("+strconv.Quote(sel)+").length")
}
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return evalAs[string](tb, "document.querySelector("+strconv.Quote(sel)+")?.textContent || ''")
}

// signIn pastes the token into the sign-in form.
func (tb *tab) signIn(front, token string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(front + "/#/"))
	tb.waitFor(`document.querySelector('#token')`)
	tb.do(chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("form.signin button[type=submit]")))
	tb.waitFor(`!document.getElementById('whoami').hidden && document.querySelector('main').dataset.view`)
}

// open goes to a view and waits until it is shown.
func (tb *tab) open(front, hash string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(front + "/" + hash))
	tb.waitFor(fmt.Sprintf(`document.querySelector('main').dataset.view === %q`, hash))
}

// reloadOverview reloads the page (the token stays in sessionStorage) and
// waits for the overview.
func (tb *tab) reloadOverview() {
	tb.t.Helper()
	tb.do(chromedp.Reload())
	tb.waitFor(`document.querySelector('main').dataset.view === '#/'`)
}

func (tb *tab) overviewNumbers() overviewNumbers {
	tb.t.Helper()
	raw := evalAs[[]byte](tb, `(() => {
		const clusters = {};
		for (const tr of document.querySelectorAll('#clusters-table tbody tr')) {
			const row = {};
			for (const td of tr.querySelectorAll('td[data-kind]')) row[td.dataset.kind] = td.textContent;
			for (const td of tr.querySelectorAll('td[data-age]')) row['age' + td.dataset.age] = td.textContent;
			clusters[tr.dataset.cluster] = row;
		}
		const munis = {};
		for (const li of document.querySelectorAll('li.tile[data-open]')) munis[li.dataset.municipality] = li.querySelector('.tile-count').textContent;
		return {clusters, munis};
	})()`)
	var v struct {
		Clusters map[string]map[string]string `json:"clusters"`
		Munis    map[string]string            `json:"munis"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.t.Fatal(err)
	}
	return overviewNumbers{clusters: v.Clusters, munis: v.Munis}
}

// audit runs testdata/dashboard/audit.js in the page: landmarks, labels,
// table headers, names of images, and the contrast of every text.
func (tb *tab) audit() {
	tb.t.Helper()
	js, err := os.ReadFile("testdata/dashboard/audit.js")
	if err != nil {
		tb.t.Fatal(err)
	}
	for _, p := range evalAs[[]string](tb, string(js)) {
		tb.t.Errorf("%s: accessibility: %s", tb.name, p)
	}
}

// keyboard checks that the skip link comes first and moves focus to the
// main content, and that focus is visible.
func (tb *tab) keyboard() {
	tb.t.Helper()
	tb.reloadOverview()
	tb.do(chromedp.KeyEvent(kb.Tab))
	if id := tb.eval(`document.activeElement.id`); id != "skip-link" {
		tb.t.Errorf("first Tab: focus on %q; want the skip link", id)
	}
	if v := tb.eval(`getComputedStyle(document.activeElement).outlineStyle`); v == "none" {
		tb.t.Error("the focused skip link has no visible outline")
	}
	tb.do(chromedp.KeyEvent(kb.Enter))
	if tag := tb.eval(`document.activeElement.tagName + ' ' + !!document.activeElement.closest('main')`); tag != "H1 true" {
		tb.t.Errorf("after the skip link: focus on %s; want the main heading", tag)
	}
	if h := tb.eval(`location.hash`); h != "#/" {
		tb.t.Errorf("the skip link changed the route to %q", h)
	}
	// The next Tab goes into the content.
	tb.do(chromedp.KeyEvent(kb.Tab))
	if in := tb.eval(`!!document.activeElement.closest('main')`); in != "true" {
		tb.t.Errorf("Tab after the skip link left the main content (%s)", tb.eval(`document.activeElement.outerHTML.slice(0, 120)`))
	}
}

// screenshot saves the viewport, scrolled to the top, as a PNG in the
// test's directory and, if STAFET_ARTEFACTS is set, there too.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	tb.eval(`window.scrollTo(0, 0)`)
	tb.save(name, chromedp.CaptureScreenshot())
}

// screenshotOf saves the viewport scrolled to an element.
func (tb *tab) screenshotOf(name, sel string) {
	tb.t.Helper()
	tb.eval(fmt.Sprintf(`document.querySelector(%q).scrollIntoView()`, sel))
	tb.save(name, chromedp.CaptureScreenshot())
}

// fullScreenshot saves the whole page.
func (tb *tab) fullScreenshot(name string) {
	tb.t.Helper()
	tb.save(name, chromedp.FullScreenshot(100))
}

func (tb *tab) save(name string, shot chromedp.Action[[]byte]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 70*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		tb.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := "dashboard-" + name + ".png"
	dirs := []string{tb.t.TempDir()}
	if d := os.Getenv("STAFET_ARTEFACTS"); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.t.Error(err)
			continue
		}
		if err := os.WriteFile(filepath.Join(d, file), png, 0o644); err != nil {
			tb.t.Error(err)
		}
	}
	tb.t.Logf("screenshot %s (%d bytes) in %v", file, len(png), dirs)
}
