package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// BenchmarkAlertLatency appends offers at about 1 000 events/s for a few
// seconds and measures, for each, the time from the event's recording
// (RecordedAt, taken just before the append) to its offer-received alert
// arriving at a plain NATS subscriber over TCP. It reports p50 and p99 in
// milliseconds (target p99 < 50 ms) for both durability modes. Run it with
// -benchtime 1x; one run takes about five seconds.
func BenchmarkAlertLatency(b *testing.B) {
	for _, d := range []engine.Durability{engine.Safe, engine.Bulk} {
		b.Run(string(d), func(b *testing.B) {
			benchLatency(b, d, 1000, 3*time.Second)
		})
	}
}

func benchLatency(b *testing.B, durability engine.Durability, rate int, dur time.Duration) {
	store := openStore(b, engine.Config{ListenAddr: "127.0.0.1:0", Durability: durability, Logger: benchLog()})
	ctx := context.Background()
	const pathways = 300
	munis := []events.OrgID{aarhus, odder, events.Kommune("0101"), events.Kommune("0147")}
	// The service runs before the pathways open, as in steady state: the
	// pathways active lately are in its history cache.
	svc := startService(b, store, Config{Logger: benchLog()})
	pws := make([]uuid.UUID, pathways)
	var wg sync.WaitGroup
	for i := range pws {
		pws[i] = events.NewID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := store.Log().Execute(ctx, hl7(pws[i], "A01", t0, &events.PathwayOpened{Patient: patient(b), Cluster: "aarhus", Municipality: munis[i%len(munis)]},
				&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}))
			if err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()

	n := int(float64(rate) * dur.Seconds())
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	nc := connectSubscriber(b, store, SubjectPrefix+".>")
	nc.Subscribe(SubjectPrefix+".>", func(m *nats.Msg) {
		now := time.Now()
		var a Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			b.Error(err)
			return
		}
		mu.Lock()
		lat = append(lat, now.Sub(a.RecordedAt))
		if len(lat) == n {
			close(done)
		}
		mu.Unlock()
	})
	nc.Flush()

	b.ResetTimer()
	jobs := make(chan int, 1024)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				pw := pws[i%pathways]
				offer := &events.HandoffOffered{Offer: fmt.Sprintf("o%d", i), From: hospital, To: munis[(i%pathways)%len(munis)], What: events.HomeCare, Deadline: t0.Add(5 * time.Hour)}
				if _, err := store.Log().Execute(ctx, hl7(pw, offer.Offer, t0.Add(time.Hour), offer)); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	sent := time.Since(start)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		mu.Lock()
		last, _ := store.Log().LastSeq(ctx)
		st, _ := natstest.JetStream(b, store.NATS().Conn()).Stream(ctx, engine.EventStream)
		c, _ := st.Consumer(ctx, Reactor)
		ci, _ := c.Info(ctx)
		b.Fatalf("got %d of %d alerts; log at %d, tail at %d; reactor %+v", len(lat), n, last, svc.hist.pos, ci)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.99), "p99_ms")
	b.ReportMetric(q(1), "max_ms")
	b.ReportMetric(float64(n)/sent.Seconds(), "events/s")
}

func benchLog() *slog.Logger {
	if os.Getenv("STAFET_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
