package alerts

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// api mounts the alert routes as the HTTP API would, with a stand-in for
// its bearer-token authentication: the caller is named by test headers.
func api(t testing.TB, s *Service) *httptest.Server {
	mux := http.NewServeMux()
	for _, rt := range s.Routes(func(r *http.Request) Caller {
		return Caller{Operator: r.Header.Get("X-Test-Operator") != "", Org: events.OrgID(r.Header.Get("X-Test-Org"))}
	}) {
		mux.HandleFunc(rt.Pattern, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func asOrg(org events.OrgID) http.Header { return http.Header{"X-Test-Org": {string(org)}} }

func kindsOf[T any](xs []T, kind func(T) Kind) []Kind {
	out := make([]Kind, len(xs))
	for i, x := range xs {
		out[i] = kind(x)
	}
	return out
}

// TestDischargeAlerts follows an HL7-like discharge (admit, offer home care
// to the municipality, discharge with nobody accepting) to the
// municipality's alerts on all three channels.
func TestDischargeAlerts(t *testing.T) {
	store := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	s := startService(t, store, Config{Heartbeat: 50 * time.Millisecond})
	srv := api(t, s)
	sub := subscribe(t, store, OrgFilter(aarhus))
	sse := connectSSE(t, srv.URL+"/v1/alerts/stream", "", asOrg(aarhus))
	rc := newReceiver(t)
	hook, secret, err := s.Register(context.Background(), aarhus, rc.srv.URL+"/stafet")
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.secret = []byte(secret)
	rc.mu.Unlock()

	pw := dischargeFlow(t, store, aarhus)

	want := []Kind{OfferReceived, GapOpened, GapOpened}
	waitFor(t, 10*time.Second, "3 alerts on NATS", func() bool { return len(sub.snapshot()) >= 3 })
	got := sub.snapshot()
	if k := kindsOf(got, func(a Alert) Kind { return a.Kind }); !slices.Equal(k, want) {
		t.Fatalf("NATS: got kinds %v; want %v", k, want)
	}
	gapKinds := []string{string(got[1].Gap.Kind), string(got[2].Gap.Kind)}
	slices.Sort(gapKinds)
	if !slices.Equal(gapKinds, []string{"discharged-before-accept", "no-owner"}) {
		t.Errorf("gap kinds: got %v; want discharged-before-accept and no-owner", gapKinds)
	}
	for i, a := range got {
		if a.Org != aarhus || a.Pathway != pw || a.Cluster != "aarhus" || a.Counter != uint64(i+1) || a.EventSeq == 0 || a.RecordedAt.IsZero() {
			t.Errorf("alert %d: got org %s pathway %s cluster %s counter %d seq %d; want %s %s aarhus %d, seq and recorded_at set",
				i, a.Org, a.Pathway, a.Cluster, a.Counter, a.EventSeq, aarhus, pw, i+1)
		}
	}
	if got[0].Offer == nil || got[0].Offer.ID != "o1" || got[0].Offer.What != events.HomeCare || got[0].Offer.Deadline.IsZero() {
		t.Errorf("offer: got %+v; want o1, home-care, with deadline", got[0].Offer)
	}
	if got[1].Gap == nil || got[1].Gap.Severity == "" || got[1].Gap.OpenedAt.IsZero() || got[1].Gap.Deadline.IsZero() {
		t.Errorf("gap: got %+v; want severity, opened_at and deadline", got[1].Gap)
	}
	t.Run("no personal data", func(t *testing.T) {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		for _, raw := range sub.raw {
			for _, secret := range []string{cpr, string(patient(t))} {
				if strings.Contains(string(raw), secret) {
					t.Errorf("alert %s holds patient data %q", raw, secret)
				}
			}
		}
	})

	t.Run("sse", func(t *testing.T) {
		evs := sse.next(t, 3, 10*time.Second)
		for i, ev := range evs {
			if ev.Alert.ID != got[i].ID || ev.Event != string(want[i]) || ev.ID == "" {
				t.Errorf("sse event %d: got id %s event %s alert %s; want alert %s event %s", i, ev.ID, ev.Event, ev.Alert.ID, got[i].ID, want[i])
			}
		}
		select {
		case <-sse.heartbeats:
		case <-time.After(5 * time.Second):
			t.Error("sse: no heartbeat")
		}
		// Resume after the first: only the two newer alerts come.
		again := connectSSE(t, srv.URL+"/v1/alerts/stream", evs[0].ID, asOrg(aarhus))
		resumed := again.next(t, 2, 10*time.Second)
		if resumed[0].ID != evs[1].ID || resumed[1].ID != evs[2].ID {
			t.Errorf("resumed: got ids %s, %s; want %s, %s", resumed[0].ID, resumed[1].ID, evs[1].ID, evs[2].ID)
		}
		select {
		case ev := <-again.events:
			t.Errorf("resumed: got extra event %s", ev.ID)
		case <-time.After(200 * time.Millisecond):
		}
		// Another organisation's stream stays empty; the hospital's has its two.
		other := connectSSE(t, srv.URL+"/v1/alerts/stream", "0", asOrg(odder))
		select {
		case ev := <-other.events:
			t.Errorf("odder got aarhus' alert %s", ev.Alert.ID)
		case <-time.After(200 * time.Millisecond):
		}
		hosp := connectSSE(t, srv.URL+"/v1/alerts/stream?kind=gap-opened", "0", asOrg(hospital))
		if evs := hosp.next(t, 2, 10*time.Second); evs[0].Alert.Org != hospital || evs[0].Event != string(GapOpened) {
			t.Errorf("hospital: got %+v; want its gap-opened alerts", evs[0])
		}
	})

	t.Run("webhook", func(t *testing.T) {
		waitFor(t, 10*time.Second, "3 webhook deliveries", func() bool { return rc.count() >= 3 })
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, a := range got {
			if _, ok := rc.got[a.ID]; !ok {
				t.Errorf("webhook %s missed alert %s (%s)", hook.ID, a.ID, a.Kind)
			}
		}
		if rc.badSig != 0 || rc.dup != 0 {
			t.Errorf("webhook: got %d bad signatures, %d duplicates; want none", rc.badSig, rc.dup)
		}
	})
}

// TestRedeliveredEvent handles the same event twice, as the reactor does
// after a crash between publishing and acknowledging: the alerts are
// stored and seen once.
func TestRedeliveredEvent(t *testing.T) {
	store := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	s := startService(t, store, Config{})
	sub := subscribe(t, store, SubjectPrefix+".>")
	pw := dischargeFlow(t, store, aarhus)
	waitFor(t, 10*time.Second, "5 alerts", func() bool { return len(sub.snapshot()) >= 5 })

	history, err := store.Log().Load(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range history {
		for range 2 {
			if err := s.handle(context.Background(), e); err != nil {
				t.Fatalf("handle %s again: %v", e.Type, err)
			}
		}
	}
	s.forget(aarhus) // as a fresh instance would: read the position from the stream
	if err := s.handle(context.Background(), history[len(history)-1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(sub.snapshot()); n != 5 {
		t.Errorf("NATS subscriber: got %d alerts; want 5", n)
	}
	if n := streamCount(t, s); n != 5 {
		t.Errorf("stream: got %d alerts; want 5", n)
	}
}

// TestTwoInstances runs two stafetd-like instances on one NATS server:
// every alert is made once, and each addressee's counter has no holes.
func TestTwoInstances(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := openStore(t, engine.Config{URL: a.NATS().ClientURL(), Secret: a.Config().Secret, KeyDir: a.Config().KeyDir, NkeyFile: engine.StafetdKeyFile(a.NATS().DataDir())})
	startService(t, a, Config{})
	sb := startService(t, b, Config{})
	sub := subscribe(t, a, SubjectPrefix+".>")

	const flows = 20
	var wg sync.WaitGroup
	for i := range flows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, muni := a, aarhus
			if i%2 == 1 {
				st, muni = b, odder
			}
			dischargeFlow(t, st, muni)
		}()
	}
	wg.Wait()
	const want = flows * 5 // 3 to the municipality, 2 to the hospital
	waitFor(t, 20*time.Second, "every alert", func() bool { return len(sub.snapshot()) >= want })
	time.Sleep(200 * time.Millisecond)
	got := sub.snapshot()
	seen := map[string]int{}
	counters := map[events.OrgID][]uint64{}
	for _, x := range got {
		seen[x.ID]++
		counters[x.Org] = append(counters[x.Org], x.Counter)
	}
	if len(got) != want || len(seen) != want {
		t.Errorf("got %d alerts, %d distinct; want %d once each", len(got), len(seen), want)
	}
	for org, cs := range counters {
		slices.Sort(cs)
		for i, c := range cs {
			if c != uint64(i+1) {
				t.Errorf("%s: counters %v; want 1..%d without holes", org, cs, len(cs))
				break
			}
		}
	}
	if n := streamCount(t, sb); n != want {
		t.Errorf("stream: got %d alerts; want %d", n, want)
	}
}

// TestOneInstanceNumbersInOrder: the reactor's workers of one instance
// take an addressee's numbers in turn, without a refused write between
// them (stafet_alert_publish_conflicts_total stays 0): a conflict costs
// the alert a second write, a read and a back-off. Many pathways alert
// one municipality at once.
func TestOneInstanceNumbersInOrder(t *testing.T) {
	store := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	reg := prometheus.NewRegistry()
	startService(t, store, Config{Registerer: reg})
	sub := subscribe(t, store, SubjectPrefix+".>")
	const flows = 40
	var wg sync.WaitGroup
	for range flows {
		wg.Go(func() { dischargeFlow(t, store, aarhus) })
	}
	wg.Wait()
	const want = flows * 5
	waitFor(t, 30*time.Second, "every alert", func() bool { return len(sub.snapshot()) >= want })
	counters := map[events.OrgID][]uint64{}
	for _, x := range sub.snapshot() {
		counters[x.Org] = append(counters[x.Org], x.Counter)
	}
	for org, cs := range counters {
		slices.Sort(cs)
		if cs[0] != 1 || cs[len(cs)-1] != uint64(len(cs)) {
			t.Errorf("%s: counters %v; want 1..%d", org, cs, len(cs))
		}
	}
	if got := counterValue(t, reg, "stafet_alert_publish_conflicts_total"); got != 0 {
		t.Errorf("%v publishes refused for a number this instance's own workers took; want 0", got)
	}
}

// counterValue reads a counter without labels from reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) == 1 {
			return mf.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
