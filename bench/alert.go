package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// alertPhase appends the workload at AlertRate events a second with the
// alert service running, and times each alert from its event's recording
// (RecordedAt, taken just before the append) to its arrival at a plain
// NATS subscriber on stafet.alert.> over TCP.
func (b *bencher) alertPhase(ctx context.Context) error {
	// A client port on loopback for the subscriber, and the alert
	// subjects exported to the subscribers' account, as stafetd runs.
	cfg := func(dir string) engine.Config {
		c := b.inMode(dir)
		c.ListenAddr, c.Exports = "127.0.0.1:0", alerts.Exports
		return c
	}
	return b.withStore(ctx, "alert", cfg, func(s *engine.Store) error { return b.alertsOn(ctx, s) })
}

// alertsOn runs the alert service on s and times the alerts of the paced
// appends.
func (b *bencher) alertsOn(ctx context.Context, s *engine.Store) error {
	svc, err := alerts.New(ctx, alerts.Config{Store: s})
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(sctx) }()
	defer func() { stop(); <-svcDone }()
	if _, err := pendingAlerts(ctx, s, 30*time.Second); err != nil {
		return err
	}

	// A subscriber's NATS user, as an organisation's alert consumer has.
	seed, _, err := s.Subscribers().Issue(ctx, "bench", alerts.Exports)
	if err != nil {
		return err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(s.ClientURL(), nats.Nkey(pub, kp.Sign))
	if err != nil {
		return err
	}
	defer nc.Close()
	var mu sync.Mutex
	var lat []time.Duration
	var lastAlert time.Time
	var bad error
	_, err = nc.Subscribe(alerts.SubjectPrefix+".>", func(m *nats.Msg) {
		now := time.Now()
		var a alerts.Alert
		err := json.Unmarshal(m.Data, &a)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || a.RecordedAt.IsZero() {
			bad = fmt.Errorf("alert on %s: %v", m.Subject, err)
			return
		}
		lat = append(lat, now.Sub(a.RecordedAt))
		lastAlert = now
	})
	if err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}

	want := min(b.events, int(float64(b.o.AlertRate)*b.o.AlertFor.Seconds()))
	var cmds []events.Command
	for n := 0; len(cmds) < len(b.work) && n < want; {
		c := b.work[len(cmds)]
		cmds = append(cmds, c)
		n += len(c.Payloads)
	}
	var sent time.Duration
	var appended int
	err = b.profileIf(true, PhaseAlert, func() error {
		var err error
		appended, sent, err = b.paced(ctx, s, cmds, b.o.AlertRate)
		return err
	})
	if err != nil {
		return err
	}
	// Wait for the reactor to handle everything and the alerts to settle.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pending, err := pendingAlerts(ctx, s, time.Until(deadline))
		if err != nil {
			return err
		}
		mu.Lock()
		quiet := time.Since(lastAlert) > 500*time.Millisecond
		mu.Unlock()
		if pending == 0 && quiet {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alerts still pending 2 minutes after the last append: %d events unhandled", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		return bad
	}
	if len(lat) == 0 {
		return fmt.Errorf("no alerts from %d events", appended)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return round(float64(lat[int(p*float64(len(lat)-1)+0.5)])/float64(time.Millisecond), 2)
	}
	b.progress("alert: %d alerts from %d events appended at %.0f/s", len(lat), appended, float64(appended)/sent.Seconds())
	r := b.res
	r.Alerts = len(lat)
	r.AlertP50Ms, r.AlertP99Ms, r.AlertMaxMs = q(0.50), q(0.99), q(1)
	r.AlertEventsPS = round(float64(appended)/sent.Seconds(), 0)
	return nil
}

// pendingAlerts returns how many events the alert service's reactor has
// not handled yet, waiting up to wait for its Run to set it up.
func pendingAlerts(ctx context.Context, s *engine.Store, wait time.Duration) (uint64, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := s.Reactors().Pending(ctx, alerts.Reactor)
		if !errors.Is(err, engine.ErrNoReactor) || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// paced executes cmds at rate events a second, each pathway's commands in
// order on one of 64 writers. It returns the events appended and how long
// the appends took.
func (b *bencher) paced(ctx context.Context, s *engine.Store, cmds []events.Command, rate int) (int, time.Duration, error) {
	const writers = 64
	queues := make([]chan events.Command, writers)
	var evs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan events.Command, 256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queues[i] {
				res, err := s.Log().Execute(ctx, c)
				if err != nil && !errors.Is(err, events.ErrRule) {
					once.Do(func() { firstErr = fmt.Errorf("execute %s: %w", c.Pathway, err) })
					continue
				}
				evs.Add(int64(len(res.Events)))
			}
		}()
	}
	start := time.Now()
	n := 0
	for _, c := range cmds {
		if wait := time.Until(start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		queues[shard(c.Pathway, writers)] <- c
		n += len(c.Payloads)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return int(evs.Load()), time.Since(start), firstErr
}
