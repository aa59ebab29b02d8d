package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/simulator"
)

// The phases, in the order they run.
const (
	PhaseAppend  = "append"
	PhaseReplay  = "replay"
	PhaseRestart = "restart"
	PhaseMemory  = "memory"
	PhaseAlert   = "alert"
	PhaseMLLP    = "mllp"
	// PhaseCluster runs alerts, append, replay and MLLP on two stafetd
	// instances over the embedded server (R1) and over docs/deploy's
	// three nats-server processes (R3).
	PhaseCluster = "cluster"
)

// Phases returns every phase, in the order they run.
func Phases() []string {
	return []string{PhaseAppend, PhaseReplay, PhaseRestart, PhaseMemory, PhaseAlert, PhaseMLLP, PhaseCluster}
}

// Options configure a run. The zero value means the defaults (Defaults).
type Options struct {
	// Events is the workload's size: the log holds this many events.
	// Default 200 000.
	Events int
	// Phases to run; default all.
	Phases []string
	// Durability of every server: engine.Safe (the default) or Bulk.
	Durability engine.Durability
	// Seed of the workload. Zero is a seed like any other; the CLI's
	// default is 1.
	Seed uint64
	// Rounds is how often append and replay alternate their sides.
	// Default 3.
	Rounds int
	// MaxWrite bounds each side's measured writes in the append phase
	// (every side the same) and the mllp phase's sending. Default 10 s.
	MaxWrite time.Duration
	// Writers are the goroutines calling Execute in the append phase.
	// Default 256.
	Writers int
	// Conns are the mllp phase's MLLP connections. Default 32.
	Conns int
	// AlertRate (events a second) and AlertFor pace the alert phase.
	// Default 1 000/s for 5 s.
	AlertRate int
	AlertFor  time.Duration
	// MLLPMessages is the most HL7 messages the mllp phase sends (at most
	// a quarter of Events). Default 10 000.
	MLLPMessages int
	// RestartTail is how many events the log holds after the checkpoint
	// the restart phase restores. Default: one minute of the workload's
	// traffic at its mean rate in simulated time.
	RestartTail int
	// Peer, if set, adds another store's sides to the append and replay
	// phases: PeerPostgres, a PostgreSQL server of the bench's own with a
	// plain events table and Message DB's schema (peer.go).
	Peer string
	// PeerConns are the peer's connections in the append phase. Default
	// 32: a pool the size PostgreSQL is tuned for, not one per writer.
	PeerConns int
	// CPUProfile, if set, gets a CPU profile of each phase's measured
	// Stafet part, in CPUProfile-<phase>.
	CPUProfile string
	// Tmp is where the servers' data goes; default the system's temporary
	// directory.
	Tmp string
	// Progress receives a line for each step; nil discards them.
	Progress io.Writer
}

// Defaults returns the options a zero Options means.
func Defaults() Options {
	return Options{}.withDefaults()
}

func (o Options) withDefaults() Options {
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&o.Events, 200_000)
	set(&o.Rounds, 3)
	set(&o.Writers, 256)
	set(&o.Conns, 32)
	set(&o.AlertRate, 1000)
	set(&o.MLLPMessages, 10_000)
	set(&o.PeerConns, 32)
	if len(o.Phases) == 0 {
		o.Phases = Phases()
	}
	if o.Durability == "" {
		o.Durability = engine.Safe
	}
	if o.MaxWrite == 0 {
		o.MaxWrite = 10 * time.Second
	}
	if o.AlertFor == 0 {
		o.AlertFor = 5 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate reports the first setting that cannot work.
func (o Options) Validate() error {
	o = o.withDefaults()
	for _, p := range o.Phases {
		if !slices.Contains(Phases(), p) {
			return fmt.Errorf("bench: unknown phase %q: want one of %s", p, strings.Join(Phases(), ", "))
		}
	}
	switch {
	case o.Events < 100:
		return fmt.Errorf("bench: %d events: want at least 100", o.Events)
	case o.Rounds < 1 || o.Writers < 1 || o.Conns < 1 || o.PeerConns < 1 || o.AlertRate < 1 || o.MLLPMessages < 1 || o.RestartTail < 0:
		return errors.New("bench: rounds, writers, conns, alert rate and MLLP messages must be positive, the restart tail not negative")
	case o.Peer != "" && o.Peer != PeerPostgres:
		return fmt.Errorf("bench: unknown peer %q: want %s", o.Peer, PeerPostgres)
	case o.MaxWrite < 0 || o.AlertFor < 0:
		return errors.New("bench: durations must not be negative")
	}
	return engine.Config{Durability: o.Durability}.Validate()
}

// bencher runs the phases of one run. Every phase opens its own fresh
// embedded servers in directories of their own; the phases that read a
// log start from a copy of one template log, written once in bulk mode
// (setting up is not measured).
type bencher struct {
	o        Options
	start    time.Time
	tmp      string
	work     []events.Command
	pathways []uuid.UUID
	events   int
	template *template
	// unchained is the template as a release before the chain wrote it.
	unchained *template
	// pg is the PostgreSQL peer's server, started by the first phase
	// that needs it and stopped when the run ends.
	pg    *pgServer
	res   *Result
	phase *PhaseRun
}

// Run runs the phases and returns every figure.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	o.Phases = slices.Clone(o.Phases)
	slices.SortFunc(o.Phases, func(a, b string) int { return slices.Index(Phases(), a) - slices.Index(Phases(), b) })
	o.Phases = slices.Compact(o.Phases)
	// As stafetd runs (internal/settings.GC): the bench measures the product.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	tmp, err := os.MkdirTemp(o.Tmp, "stafet-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &bencher{o: o, start: time.Now(), tmp: tmp}
	defer b.stopPeer()
	b.workload()
	b.res = &Result{
		Durability: o.Durability, Events: b.events, Messages: len(b.work), Pathways: len(b.pathways),
		Seed: o.Seed, Rounds: o.Rounds, Build: build(), Machine: machine(), Started: b.start.UTC().Truncate(time.Second),
		Peer: o.Peer,
	}
	run := map[string]func(context.Context) error{
		PhaseAppend: b.appendPhase, PhaseReplay: b.replayPhase, PhaseRestart: b.restartPhase,
		PhaseMemory: b.memoryPhase, PhaseAlert: b.alertPhase, PhaseMLLP: b.mllpPhase,
		PhaseCluster: b.clusterPhase,
	}
	for _, p := range o.Phases {
		b.progress("%s: start (%s)", p, o.Durability)
		b.phase = &PhaseRun{Name: p, Durability: o.Durability, LoadStart: load1()}
		start := time.Now()
		if err := run[p](ctx); err != nil {
			return nil, fmt.Errorf("bench: %s: %w", p, err)
		}
		took := time.Since(start)
		b.phase.Seconds, b.phase.LoadEnd = round(took.Seconds(), 2), load1()
		b.res.Phases = append(b.res.Phases, *b.phase)
		b.progress("%s: done in %s", p, took.Round(time.Millisecond))
	}
	b.res.LoadEnd = loadAvg()
	return b.res, nil
}

// note adds a remark to the running phase's record.
func (b *bencher) note(format string, args ...any) {
	b.phase.Notes = append(b.phase.Notes, fmt.Sprintf(format, args...))
}

func (b *bencher) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// workload generates the seeded national workload and keeps the commands
// whose events add up to Events.
func (b *bencher) workload() {
	start := time.Now()
	cmds := simulator.Workload(b.o.Seed, b.o.Events)
	n, k := 0, 0
	for k < len(cmds) && n < b.o.Events {
		n += len(cmds[k].Payloads)
		k++
	}
	b.work, b.events = cmds[:k:k], n
	seen := make(map[uuid.UUID]bool)
	for _, c := range b.work {
		if !seen[c.Pathway] {
			seen[c.Pathway] = true
			b.pathways = append(b.pathways, c.Pathway)
		}
	}
	b.progress("workload: %d events in %d commands on %d pathways (seed %d), generated in %s",
		b.events, len(b.work), len(b.pathways), b.o.Seed, time.Since(start).Round(time.Millisecond))
}

// minuteOfTraffic returns the workload's events in one minute of
// simulated time at its mean rate: the events a host meets after its last
// checkpoint when it checkpoints every minute (engine.HostOptions).
func minuteOfTraffic(work []events.Command, evs int) int {
	if len(work) < 2 {
		return 1
	}
	span := work[len(work)-1].OccurredAt.Sub(work[0].OccurredAt)
	if span < time.Minute {
		return evs
	}
	return max(1, int(float64(evs)/span.Minutes()+0.5))
}

// duplicateWindow is the JetStream duplicate window of the bench's
// servers.
const duplicateWindow = time.Second

// config is the store configuration of every server of the run: the
// product's defaults, in a directory of its own, except for the duplicate
// window. Stafet sets no Nats-Msg-Id on events or raw messages, so the
// window changes nothing on those streams; what it does set is how much
// log time engine.Open re-reads to reconcile the idempotency index when
// the index is not known to be complete (two windows back from the last
// event). The restart phase measures the default window on its own
// (restart_after_import_s).
func (b *bencher) config(dir string, d engine.Durability) engine.Config {
	return engine.Config{DataDir: dir, Durability: d, DuplicateWindow: duplicateWindow}
}

func (b *bencher) open(ctx context.Context, dir string, d engine.Durability) (*engine.Store, error) {
	return engine.Open(ctx, b.config(dir, d))
}

// inMode is the configuration of a server in the run's mode.
func (b *bencher) inMode(dir string) engine.Config { return b.config(dir, b.o.Durability) }

// dir returns a new empty directory for one server.
func (b *bencher) dir(name string) (string, error) {
	return os.MkdirTemp(b.tmp, name+"-")
}

// withStore runs fn on a fresh server configured by cfg, in a directory
// of its own that is removed after; opening and closing are not part of
// any measure.
func (b *bencher) withStore(ctx context.Context, name string, cfg func(dir string) engine.Config, fn func(*engine.Store) error) error {
	dir, err := b.dir(name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := engine.Open(ctx, cfg(dir))
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// round rounds v to digits decimals.
func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
