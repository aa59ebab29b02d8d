package alerts

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
)

// TestFaultSlowAndDeadWebhooks registers three webhooks for one
// municipality: a healthy receiver, a slow one that never answers within
// the timeout, and a dead one that answers 503. The healthy one gets every
// alert promptly; the others are retried with growing delays; once they
// recover they get every alert too (issue 8, fault 6).
func TestFaultSlowAndDeadWebhooks(t *testing.T) {
	backoff := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
	store := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	s := startService(t, store, Config{
		WebhookTimeout: 300 * time.Millisecond, WebhookInFlight: 2, WebhookBackoff: backoff, WebhookRetryFor: time.Minute,
	})
	sub := subscribe(t, store, OrgFilter(aarhus))

	var slowUp, deadUp atomic.Bool
	healthy, slow, dead := newReceiver(t), newReceiver(t), newReceiver(t)
	slow.handle = func(w http.ResponseWriter, r *http.Request) bool {
		if slowUp.Load() {
			return true
		}
		<-r.Context().Done() // hangs until Stafet gives up on it
		return false
	}
	dead.handle = func(w http.ResponseWriter, r *http.Request) bool {
		if deadUp.Load() {
			return true
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return false
	}
	for _, rc := range []*receiver{healthy, slow, dead} {
		_, secret, err := s.Register(context.Background(), aarhus, rc.srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		rc.mu.Lock()
		rc.secret = []byte(secret)
		rc.mu.Unlock()
	}

	const flows = 20
	const want = flows * 3
	start := time.Now()
	for range flows {
		dischargeFlow(t, store, aarhus)
	}
	appended := time.Since(start)
	waitFor(t, 10*time.Second, "every alert at the healthy receiver", func() bool { return healthy.count() == want })
	healthyAll := time.Since(start)
	waitFor(t, 10*time.Second, "every alert on NATS", func() bool { return len(sub.snapshot()) == want })

	var lat []time.Duration
	healthy.mu.Lock()
	for key, a := range healthy.got {
		lat = append(lat, healthy.attempts[key][0].Sub(a.RecordedAt))
	}
	healthy.mu.Unlock()
	slices.Sort(lat)

	// Let the dead receiver fail a few times, then look at the retry gaps.
	time.Sleep(1600 * time.Millisecond)
	dead.mu.Lock()
	var gaps []time.Duration
	var first string
	for key, ts := range dead.attempts {
		if len(ts) > len(dead.attempts[first]) {
			first = key
		}
	}
	for i := 1; i < len(dead.attempts[first]); i++ {
		gaps = append(gaps, dead.attempts[first][i].Sub(dead.attempts[first][i-1]).Round(time.Millisecond))
	}
	deadTried := len(dead.attempts)
	dead.mu.Unlock()
	slow.mu.Lock()
	slowTried, slowGot := len(slow.attempts), len(slow.got)
	slow.mu.Unlock()

	if len(gaps) < 3 {
		t.Fatalf("dead receiver: %d attempts at one alert in 1.6 s; want at least 4", len(gaps)+1)
	}
	for i, g := range gaps {
		if min := backoff[min(i, len(backoff)-1)] * 8 / 10; g < min {
			t.Errorf("dead receiver: retry %d after %v; want at least %v (backoff)", i+1, g, min)
		}
	}
	if slowGot != 0 || deadTried > 2+1 || slowTried > 2+1 {
		// In flight is bounded at 2 per webhook: a stuck receiver sees at
		// most the 2 alerts it holds (plus one that was swapped in).
		t.Errorf("stuck receivers: slow saw %d alerts (%d accepted), dead saw %d; want at most 3 each while stuck", slowTried, slowGot, deadTried)
	}

	// Recovery: nothing is lost.
	recovered := time.Now()
	slowUp.Store(true)
	deadUp.Store(true)
	waitFor(t, 15*time.Second, "every alert at the recovered receivers", func() bool { return slow.count() == want && dead.count() == want })
	catchUp := time.Since(recovered)

	t.Logf("appended %d flows (%d alerts to the municipality) in %v", flows, want, appended.Round(time.Millisecond))
	t.Logf("healthy receiver: all %d alerts %v after the first append; latency from record p50 %v, max %v",
		want, healthyAll.Round(time.Millisecond), lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	t.Logf("while stuck: slow receiver held %d alerts, dead receiver %d; dead receiver's retry gaps for one alert: %v",
		slowTried, deadTried, gaps)
	t.Logf("after recovery: slow and dead caught up with all %d alerts in %v; duplicates accepted: slow %d, dead %d, healthy %d",
		want, catchUp.Round(time.Millisecond), slow.dup, dead.dup, healthy.dup)
	if healthyAll > 5*time.Second {
		t.Errorf("healthy receiver needed %v for %d alerts; want it not held up", healthyAll, want)
	}
}
