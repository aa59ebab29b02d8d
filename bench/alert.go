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
	connect := func(seed []byte) (*nats.Conn, error) {
		nkey, err := nkeyOption(seed)
		if err != nil {
			return nil, err
		}
		return nats.Connect(s.NATS().ClientURL(), nkey)
	}
	al, err := b.timeAlerts(ctx, []*engine.Store{s}, connect, b.alertWork())
	if err != nil {
		return err
	}
	b.progress("alert: %d alerts from %d events appended at %.0f/s", len(al.lat), al.appended, al.rate())
	r := b.res
	r.Alerts = len(al.lat)
	r.AlertP50Ms, r.AlertP99Ms, r.AlertMaxMs = quantileMs(al.lat, 0.50), quantileMs(al.lat, 0.99), quantileMs(al.lat, 1)
	r.AlertEventsPS = round(al.rate(), 0)
	return nil
}

// alertTimes are the alerts' latencies, sorted, and the appends that
// made them.
type alertTimes struct {
	lat      []time.Duration
	appended int
	took     time.Duration
}

func (a alertTimes) rate() float64 { return float64(a.appended) / a.took.Seconds() }

// timeAlerts runs the alert service on every store (instances of one
// deployment), subscribes to stafet.alert.> as an organisation's NATS user
// does (connect gets the user's seed), appends cmds at AlertRate events a
// second through the stores, and times each alert
// from its event's recording (RecordedAt, taken just before the append)
// to its arrival.
func (b *bencher) timeAlerts(ctx context.Context, stores []*engine.Store, connect func(seed []byte) (*nats.Conn, error), cmds []events.Command) (alertTimes, error) {
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	for _, s := range stores {
		svc, err := alerts.New(ctx, alerts.Config{Store: s})
		if err != nil {
			return alertTimes{}, err
		}
		wg.Add(1)
		// A service that stops early makes no alerts: settle says so.
		go func() { defer wg.Done(); svc.Run(sctx) }()
	}
	if _, err := pendingAlerts(ctx, stores[0], 30*time.Second); err != nil {
		return alertTimes{}, err
	}
	seed, _, err := stores[0].Subscribers().Issue(ctx, "bench", alerts.Exports)
	if err != nil {
		return alertTimes{}, err
	}
	nc, err := connect(seed)
	if err != nil {
		return alertTimes{}, fmt.Errorf("the subscriber's connection: %w", err)
	}
	defer nc.Close()
	rec := &alertRecorder{}
	if _, err = nc.Subscribe(alerts.SubjectPrefix+".>", rec.receive); err != nil {
		return alertTimes{}, err
	}
	if err := nc.Flush(); err != nil {
		return alertTimes{}, err
	}
	var at alertTimes
	err = b.profileIf(true, PhaseAlert, func() error {
		var err error
		at.appended, at.took, err = b.paced(ctx, stores, cmds, b.o.AlertRate)
		return err
	})
	if err != nil {
		return alertTimes{}, err
	}
	if at.lat, err = rec.settle(ctx, stores[0]); err == nil && len(at.lat) == 0 {
		err = fmt.Errorf("no alerts from %d events", at.appended)
	}
	return at, err
}

// alertWork is the start of the workload the alert phase appends:
// AlertRate events a second for AlertFor.
func (b *bencher) alertWork() []events.Command {
	want := min(b.events, int(float64(b.o.AlertRate)*b.o.AlertFor.Seconds()))
	var cmds []events.Command
	for n := 0; len(cmds) < len(b.work) && n < want; {
		c := b.work[len(cmds)]
		cmds = append(cmds, c)
		n += len(c.Payloads)
	}
	return cmds
}

// alertRecorder keeps the latency of every alert a subscriber receives.
type alertRecorder struct {
	mu   sync.Mutex
	lat  []time.Duration
	last time.Time
	bad  error
}

func (r *alertRecorder) receive(m *nats.Msg) {
	now := time.Now()
	var a alerts.Alert
	err := json.Unmarshal(m.Data, &a)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || a.RecordedAt.IsZero() {
		r.bad = fmt.Errorf("alert on %s: %v", m.Subject, err)
		return
	}
	r.lat = append(r.lat, now.Sub(a.RecordedAt))
	r.last = now
}

// settle waits for the reactor to handle everything and the alerts to
// stop arriving, then returns the latencies, sorted.
func (r *alertRecorder) settle(ctx context.Context, s *engine.Store) ([]time.Duration, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pending, err := pendingAlerts(ctx, s, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		quiet := time.Since(r.last) > 500*time.Millisecond
		r.mu.Unlock()
		if pending == 0 && quiet {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("alerts still pending 2 minutes after the last append: %d events unhandled", pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	lat := slices.Clone(r.lat)
	slices.Sort(lat)
	return lat, r.bad
}

// quantileMs is the q-quantile of sorted latencies, in milliseconds.
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return round(float64(sorted[int(q*float64(len(sorted)-1)+0.5)])/float64(time.Millisecond), 2)
}

// nkeyOption signs in as the NATS user whose seed is given.
func nkeyOption(seed []byte) (nats.Option, error) {
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	return nats.Nkey(pub, kp.Sign), nil
}

// pendingAlerts returns how many events the alert service's reactor has
// not handled yet, waiting up to wait for its Run to set it up. A
// reactor's consumer on a cluster is a Raft group of its own, which may
// not answer while it elects its leader: errors are tried again until
// wait has passed.
func pendingAlerts(ctx context.Context, s *engine.Store, wait time.Duration) (uint64, error) {
	deadline := time.Now().Add(wait)
	for {
		n, err := s.Reactors().Pending(ctx, alerts.Reactor)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return n, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// paced executes cmds at rate events a second, each pathway's commands in
// order on one of 64 writers, the writers spread over the stores. It
// returns the events appended and how long the appends took.
func (b *bencher) paced(ctx context.Context, stores []*engine.Store, cmds []events.Command, rate int) (int, time.Duration, error) {
	const writers = 64
	queues := make([]chan events.Command, writers)
	var evs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan events.Command, 256)
		s := stores[i%len(stores)]
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
