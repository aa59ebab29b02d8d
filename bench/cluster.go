package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natsdeploy"
	"github.com/stafet/stafet/projections"
)

// The cluster phase's deployments. Each has two stafetd instances (two
// stores, the writers, alert services and MLLP connections spread over
// them).
const (
	// R1: the embedded server as `go run ./cmd/stafetd` runs it, in the
	// run's durability mode (in safe mode, the store's group commit); the
	// second instance connects to its client port.
	deployR1 = "r1"
	// R3: docs/deploy's three nats-server processes (TLS, accounts,
	// sync_interval: always) and streams of three replicas: a write is
	// acknowledged once a majority has it fsynced, whatever the mode.
	deployR3 = "r3"
)

// instances is how many stafetd a deployment runs.
const instances = 2

// ClusterResult is the cluster phase's figures: the same work on R1 and
// R3, medians over rounds, and R3's over R1's.
type ClusterResult struct {
	Instances int `json:"instances"`
	Nodes     int `json:"nodes"`
	// NATSServer is the nats-server the R3 nodes ran, with its version.
	NATSServer string `json:"nats_server"`
	// AppendEvents is the slice of the workload each deployment is given
	// to append (after the alert part); MaxWrite caps it.
	AppendEvents int        `json:"append_events"`
	R1           Deployment `json:"r1"`
	R3           Deployment `json:"r3"`
	// R3 over R1, the median of the rounds' ratios.
	AppendRatio float64 `json:"append_ratio"`
	ReplayRatio float64 `json:"replay_ratio"`
	MLLPRatio   float64 `json:"mllp_ratio"`
}

// Deployment is what one deployment did, medians over rounds.
type Deployment struct {
	// AppendEPS: Execute from Writers goroutines over the instances.
	AppendEPS float64 `json:"append_eps"`
	// ReplayEPS: one instance replays the whole log into every
	// production projection.
	ReplayEPS float64 `json:"replay_eps"`
	// Alert latency from an event's recording to an organisation's NATS
	// subscriber, the alert services of both instances sharing the work.
	AlertP50Ms float64 `json:"alert_p50_ms"`
	AlertP99Ms float64 `json:"alert_p99_ms"`
	// MLLP: HL7 messages a second over Conns connections split between
	// the instances' listeners, and a message's round trip (sent to
	// acknowledged).
	MLLPMps   float64 `json:"mllp_mps"`
	MLLPP50Ms float64 `json:"mllp_p50_ms"`
	MLLPP99Ms float64 `json:"mllp_p99_ms"`
}

// deploymentRun is one round's figures of one deployment.
type deploymentRun struct {
	append, replay     measure
	alertP50, alertP99 float64
	mllp               mllpRun
}

// A deployment starts its servers and instances for one round.
type deployment struct {
	name  string
	start func(ctx context.Context, dir string) (*running, error)
}

// running is a started deployment.
type running struct {
	stores []*engine.Store
	// subscriber connects as the organisation's NATS user whose seed is
	// given, once the deployment knows it.
	subscriber func(ctx context.Context, seed []byte) (*nats.Conn, error)
	stop       func()
}

// clusterPhase runs the same work — alerts, append, replay, MLLP — on R1
// and on R3, alternating which goes first over rounds.
func (b *bencher) clusterPhase(ctx context.Context) error {
	bin, err := natsdeploy.Binary(ctx)
	if err != nil {
		return err
	}
	version, err := natsdeploy.Version(ctx, bin)
	if err != nil {
		return err
	}
	d, conns, err := b.hl7Frames(b.o.Seed + 1)
	if err != nil {
		return err
	}
	deps := []deployment{{deployR1, b.startR1}, {deployR3, b.startR3(bin)}}
	got := map[string][]deploymentRun{}
	for r := range b.o.Rounds {
		for i := range deps {
			dp := deps[(i+r)%len(deps)]
			run, err := b.onDeployment(ctx, dp, d, conns)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", dp.name, r+1, err)
			}
			got[dp.name] = append(got[dp.name], run)
			b.phase.Rounds = append(b.phase.Rounds,
				roundRun(r, dp.name+" append", run.append), roundRun(r, dp.name+" replay", run.replay))
			b.progress("cluster: round %d: %s: append %.0f/s%s, replay %.0f/s, alert p99 %.1f ms, mllp %.0f/s p99 %.1f ms",
				r+1, dp.name, run.append.rate(), cappedNote(run.append), run.replay.rate(), run.alertP99, run.mllp.rate(), quantileMs(run.mllp.rtt, 0.99))
		}
	}
	b.res.Cluster = summarise(got)
	b.res.Cluster.NATSServer = "nats-server " + version
	b.res.Cluster.AppendEvents = b.events - countEvents(b.clusterAlertWork())
	for _, name := range []string{deployR1, deployR3} {
		if n := cappedRuns(got[name]); n > 0 {
			b.note("%s append stopped by the %s cap in %d of %d rounds", name, b.o.MaxWrite, n, b.o.Rounds)
		}
	}
	return nil
}

// onDeployment starts dp afresh and runs the round's work on it: the
// alert part of the workload at AlertRate, then the rest appended as
// fast as the writers go, then a replay of the whole log, then the HL7
// messages over MLLP.
func (b *bencher) onDeployment(ctx context.Context, dp deployment, d *events.Directory, conns [][][]byte) (deploymentRun, error) {
	dir, err := b.dir("cluster-" + dp.name)
	if err != nil {
		return deploymentRun{}, err
	}
	defer os.RemoveAll(dir)
	rn, err := dp.start(ctx, dir)
	if err != nil {
		return deploymentRun{}, err
	}
	defer rn.stop()
	var run deploymentRun
	paced := b.clusterAlertWork()
	al, err := b.timeAlerts(ctx, rn.stores, func(seed []byte) (*nats.Conn, error) { return rn.subscriber(ctx, seed) }, paced)
	if err != nil {
		return run, fmt.Errorf("alerts: %w", err)
	}
	run.alertP50, run.alertP99 = quantileMs(al.lat, 0.5), quantileMs(al.lat, 0.99)
	rest := b.work[len(paced):]
	run.append, err = timed(func() (int, bool, error) {
		evs, done, _, err := b.executeOn(ctx, rn.stores, rest, time.Now().Add(b.o.MaxWrite))
		return evs, done < len(rest), err
	})
	if err != nil {
		return run, fmt.Errorf("append: %w", err)
	}
	if run.replay, err = replayAll(ctx, rn.stores[0]); err != nil {
		return run, fmt.Errorf("replay: %w", err)
	}
	var addrs []string
	for _, s := range rn.stores {
		addr, stop, err := serveMLLP(ctx, s, d, len(conns))
		if err != nil {
			return run, err
		}
		defer stop()
		addrs = append(addrs, addr)
	}
	run.mllp, err = sendMLLP(ctx, addrs, conns, time.Now().Add(b.o.MaxWrite))
	return run, err
}

// clusterAlertWork is the part of the workload the cluster phase appends
// at AlertRate: the alert phase's, but at most half the workload, so that
// the append has the other half or more.
func (b *bencher) clusterAlertWork() []events.Command {
	cmds := b.alertWork()
	return cmds[:min(len(cmds), len(b.work)/2)]
}

// replayAll replays the whole log of s into the production projections.
func replayAll(ctx context.Context, s *engine.Store) (measure, error) {
	set, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return measure{}, err
	}
	return timed(func() (int, bool, error) {
		st, err := s.Log().Replay(ctx, engine.ReplayOptions{}, set)
		return int(st.Events), false, err
	})
}

// startR1 opens the embedded server with a client port on loopback and
// the alert exports, as stafetd does, and a second instance on it.
func (b *bencher) startR1(ctx context.Context, dir string) (*running, error) {
	cfg := b.inMode(dir)
	cfg.ListenAddr, cfg.Exports = "127.0.0.1:0", alerts.Exports
	a, err := engine.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	second := engine.Config{URL: a.NATS().ClientURL(), Secret: a.Config().Secret, KeyDir: a.Config().KeyDir,
		NkeyFile: engine.StafetdKeyFile(a.NATS().DataDir()), Durability: b.o.Durability, DuplicateWindow: duplicateWindow}
	c, err := engine.Open(ctx, second)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &running{
		stores: []*engine.Store{a, c},
		subscriber: func(_ context.Context, seed []byte) (*nats.Conn, error) {
			nkey, err := nkeyOption(seed)
			if err != nil {
				return nil, err
			}
			return nats.Connect(a.NATS().ClientURL(), nkey)
		},
		stop: func() { c.Close(); a.Close() },
	}, nil
}

// startR3 starts docs/deploy's cluster and two instances on it with
// three replicas.
func (b *bencher) startR3(bin string) func(context.Context, string) (*running, error) {
	return func(ctx context.Context, dir string) (*running, error) {
		cl, err := natsdeploy.Start(ctx, natsdeploy.Options{Bin: bin, Dir: dir})
		if err != nil {
			return nil, err
		}
		secret := make([]byte, 32)
		copy(secret, "stafet bench cluster phase secret")
		rn := &running{stop: cl.Stop}
		for i := range instances {
			s, err := engine.Open(ctx, engine.Config{
				URL: strings.Join(rotate(cl.URLs, i), ","), NkeyFile: cl.StafetdSeedFile, CAFile: cl.CAFile,
				Replicas: natsdeploy.Nodes, Secret: secret, Durability: b.o.Durability, DuplicateWindow: duplicateWindow,
				// Both instances share the deployment's keys, as stafetd's
				// STAFET_KEY_DIR on each host holds the same.
				KeyDir:  filepath.Join(dir, "keys"),
				Exports: alerts.Exports,
			})
			if err != nil {
				rn.close()
				return nil, err
			}
			rn.stores = append(rn.stores, s)
		}
		rn.stop = func() { rn.close(); cl.Stop() }
		rn.subscriber = func(ctx context.Context, seed []byte) (*nats.Conn, error) {
			return subscribeOnCluster(ctx, cl, rn.stores[0], seed)
		}
		return rn, nil
	}
}

func (rn *running) close() {
	for _, s := range rn.stores {
		s.Close()
	}
}

// subscribeOnCluster does what an operator does after issuing a token
// with a NATS user — writes subscribers.conf from stafetd's list and
// reloads every node — and connects as that user once a node knows it.
// It writes and reloads again every second until then: on three
// replicas the list can be read from a replica that has not yet stored
// the user just issued (CI once saw 30 s of "Authorization Violation"
// after a single write and reload).
func subscribeOnCluster(ctx context.Context, cl *natsdeploy.Cluster, s *engine.Store, seed []byte) (*nats.Conn, error) {
	nkey, err := nkeyOption(seed)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	var written time.Time
	for {
		if time.Since(written) >= time.Second {
			if err := writeSubscribers(ctx, cl, s); err != nil {
				return nil, err
			}
			written = time.Now()
		}
		nc, err := nats.Connect(cl.URLs[0], nkey, nats.RootCAs(cl.CAFile), nats.MaxReconnects(-1))
		if err == nil || time.Now().After(deadline) {
			return nc, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeSubscribers writes subscribers.conf from stafetd's list and
// reloads every node.
func writeSubscribers(ctx context.Context, cl *natsdeploy.Cluster, s *engine.Store) error {
	conf, err := s.Subscribers().Conf(ctx)
	if err != nil {
		return err
	}
	if err := cl.WriteSubscribers(conf); err != nil {
		return err
	}
	return cl.Reload()
}

// rotate starts the list at i, so each instance connects to another node
// first.
func rotate(urls []string, i int) []string {
	i %= len(urls)
	return append(append([]string{}, urls[i:]...), urls[:i]...)
}

// summarise takes each deployment's medians and R3's ratios to R1.
func summarise(got map[string][]deploymentRun) *ClusterResult {
	res := &ClusterResult{Instances: instances, Nodes: natsdeploy.Nodes}
	fig := func(name string) Deployment {
		var d Deployment
		runs := got[name]
		d.AppendEPS = round(medianOf(runs, func(r deploymentRun) float64 { return r.append.rate() }), 0)
		d.ReplayEPS = round(medianOf(runs, func(r deploymentRun) float64 { return r.replay.rate() }), 0)
		d.AlertP50Ms = round(medianOf(runs, func(r deploymentRun) float64 { return r.alertP50 }), 2)
		d.AlertP99Ms = round(medianOf(runs, func(r deploymentRun) float64 { return r.alertP99 }), 2)
		d.MLLPMps = round(medianOf(runs, func(r deploymentRun) float64 { return r.mllp.rate() }), 0)
		d.MLLPP50Ms = round(medianOf(runs, func(r deploymentRun) float64 { return quantileMs(r.mllp.rtt, 0.5) }), 2)
		d.MLLPP99Ms = round(medianOf(runs, func(r deploymentRun) float64 { return quantileMs(r.mllp.rtt, 0.99) }), 2)
		return d
	}
	res.R1, res.R3 = fig(deployR1), fig(deployR3)
	ratio := func(f func(deploymentRun) float64) float64 {
		var rs []float64
		for i, r3 := range got[deployR3] {
			if i < len(got[deployR1]) && f(got[deployR1][i]) > 0 {
				rs = append(rs, f(r3)/f(got[deployR1][i]))
			}
		}
		return round(median(rs), 3)
	}
	res.AppendRatio = ratio(func(r deploymentRun) float64 { return r.append.rate() })
	res.ReplayRatio = ratio(func(r deploymentRun) float64 { return r.replay.rate() })
	res.MLLPRatio = ratio(func(r deploymentRun) float64 { return r.mllp.rate() })
	return res
}

func medianOf(runs []deploymentRun, f func(deploymentRun) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return median(v)
}

func cappedRuns(runs []deploymentRun) int {
	n := 0
	for _, r := range runs {
		if r.append.capped {
			n++
		}
	}
	return n
}

func cappedNote(m measure) string {
	if m.capped {
		return " (capped)"
	}
	return ""
}

func countEvents(cmds []events.Command) int {
	n := 0
	for _, c := range cmds {
		n += len(c.Payloads)
	}
	return n
}
