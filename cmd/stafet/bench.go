package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/engine"
)

// Bench phases, in the order they run.
const (
	phaseAppend  = "append"
	phaseReplay  = "replay"
	phaseRestart = "restart"
	phaseMemory  = "memory"
	phaseAlert   = "alert"
	phaseMLLP    = "mllp"
)

var benchPhases = []string{phaseAppend, phaseReplay, phaseRestart, phaseMemory, phaseAlert, phaseMLLP}

// benchOptions are stafet bench's settings.
type benchOptions struct {
	events     int
	phases     []string
	durability engine.Durability
	seed       uint64
	// maxWrite bounds the measured writes of the append and mllp phases,
	// so that safe mode (one fsync per message) finishes; the raw
	// baseline then gets exactly the events Stafet appended.
	maxWrite time.Duration
	// writers are the goroutines calling Execute in the append phase;
	// conns the MLLP connections.
	writers, conns int
	// alertRate and alertFor pace the alert phase's appends.
	alertRate int
	alertFor  time.Duration
	// mllpMessages is the most HL7 messages the mllp phase sends.
	mllpMessages int
	cpuProfile   string
	tmp          string
}

// defaultBenchEvents makes a full run (all phases, safe mode, the
// writes capped by -max-write) take about a minute on a 2-core machine.
const defaultBenchEvents = 200_000

// cmdBench measures Stafet against raw JetStream, side by side, on a
// fresh embedded server per phase (docs/performance.md).
func cmdBench(ctx context.Context, e env) error {
	fs, asJSON := newFlags("bench", e)
	o := benchOptions{durability: engine.Safe}
	fs.IntVar(&o.events, "events", defaultBenchEvents, "events in the workload (the log holds this many)")
	fs.Func("phase", "phase to run (repeatable): "+strings.Join(benchPhases, ", ")+"; default all", func(v string) error {
		if !slices.Contains(benchPhases, v) {
			return fmt.Errorf("unknown phase %q: want one of %s", v, strings.Join(benchPhases, ", "))
		}
		if !slices.Contains(o.phases, v) {
			o.phases = append(o.phases, v)
		}
		return nil
	})
	fs.Func("durability", "safe (fsync before every acknowledgement, the default) or bulk", func(v string) error {
		o.durability = engine.Durability(v)
		return engine.Config{Durability: o.durability}.Validate()
	})
	fs.Uint64Var(&o.seed, "seed", 1, "the workload's seed")
	fs.DurationVar(&o.maxWrite, "max-write", 10*time.Second, "stop the measured writes of append and mllp after this long")
	fs.IntVar(&o.writers, "writers", 256, "goroutines appending in the append phase")
	fs.IntVar(&o.conns, "conns", 32, "MLLP connections in the mllp phase")
	fs.IntVar(&o.alertRate, "alert-rate", 1000, "events a second appended in the alert phase")
	fs.DurationVar(&o.alertFor, "alert-for", 5*time.Second, "how long the alert phase appends")
	fs.IntVar(&o.mllpMessages, "mllp-messages", 10_000, "most HL7 messages the mllp phase sends")
	fs.StringVar(&o.tmp, "tmp", "", "directory for the servers' data (default the system's temporary directory)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each phase's measured Stafet part to FILE-<phase>")
	fs.Usage = func() {
		fmt.Fprintln(e.stderr, "usage: stafet bench [-events N] [-phase P]... [-durability safe|bulk] [-seed S] [-json]")
		fs.VisitAll(func(f *flag.Flag) {
			switch {
			case f.Name == "cpuprofile":
			case f.DefValue == "" || f.DefValue == "false":
				fmt.Fprintf(e.stderr, "  -%s\t%s\n", f.Name, f.Usage)
			default:
				fmt.Fprintf(e.stderr, "  -%s\t%s (default %s)\n", f.Name, f.Usage, f.DefValue)
			}
		})
	}
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("bench: unexpected arguments %q", fs.Args())}
	}
	if o.events < 100 {
		return &exitError{2, fmt.Errorf("bench: -events %d: want at least 100", o.events)}
	}
	if o.writers < 1 || o.conns < 1 || o.alertRate < 1 || o.mllpMessages < 1 {
		return &exitError{2, fmt.Errorf("bench: -writers, -conns, -alert-rate and -mllp-messages must be positive")}
	}
	if len(o.phases) == 0 {
		o.phases = benchPhases
	}
	slices.SortFunc(o.phases, func(a, b string) int { return slices.Index(benchPhases, a) - slices.Index(benchPhases, b) })
	res, err := runBench(ctx, o, e.stderr)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		return printJSON(e.stdout, res)
	}
	res.table(e.stdout)
	return nil
}

// benchResult is what stafet bench prints: one JSON object with every
// figure, the mode it ran in, the machine and the workload.
type benchResult struct {
	Durability engine.Durability `json:"durability"`
	Events     int               `json:"events"`
	Messages   int               `json:"messages"`
	Pathways   int               `json:"pathways"`
	Seed       uint64            `json:"seed"`
	Machine    machineInfo       `json:"machine"`
	Phases     []phaseRun        `json:"phases"`

	// append: the same events appended by Execute and by raw async
	// publish of the stored bytes on the same subjects.
	AppendEvents   int     `json:"append_events,omitempty"`
	AppendMessages int     `json:"append_messages,omitempty"`
	AppendEPS      float64 `json:"append_eps,omitempty"`
	RawPublishEPS  float64 `json:"raw_publish_eps,omitempty"`
	AppendRatio    float64 `json:"append_ratio,omitempty"`
	// The process's CPU time (user and system, the embedded server
	// included) per event, in microseconds, on each side.
	AppendCPUPerEvent     float64 `json:"append_cpu_us_per_event,omitempty"`
	RawPublishCPUPerEvent float64 `json:"raw_publish_cpu_us_per_event,omitempty"`
	// Safe mode only: Stafet again with the server fsyncing every message
	// itself (engine.Config.FsyncEach, STAFET_FSYNC=each) instead of the
	// store's group commit, and its ratio to raw publish.
	AppendFsyncEachEPS   float64 `json:"append_fsync_each_eps,omitempty" mode:"safe"`
	AppendFsyncEachRatio float64 `json:"append_fsync_each_ratio,omitempty" mode:"safe"`
	// replay: the whole log into every production projection, and read
	// by an ordered consumer that only counts.
	ReplayEPS   float64 `json:"replay_eps,omitempty"`
	RawReadEPS  float64 `json:"raw_read_eps,omitempty"`
	ReplayRatio float64 `json:"replay_ratio,omitempty"`
	// CPU time per event, as for append.
	ReplayCPUPerEvent  float64 `json:"replay_cpu_us_per_event,omitempty"`
	RawReadCPUPerEvent float64 `json:"raw_read_cpu_us_per_event,omitempty"`
	// restart: engine.Open + NewHost + Run until Ready, with a checkpoint
	// of the whole log and without one; Open alone with the checkpoint.
	RestartReadyS      float64 `json:"restart_ready_s,omitempty"`
	RestartOpenS       float64 `json:"restart_open_s,omitempty"`
	RestartFullReplayS float64 `json:"restart_full_replay_s,omitempty"`
	// CheckpointBytes is the size of the projections' checkpoint of the
	// whole log.
	CheckpointBytes int `json:"checkpoint_bytes,omitempty"`
	// RestartAfterImportS is restart_ready_s with the default duplicate
	// window, when the whole log was written within the last two windows
	// (as right after a bulk import): engine.Open re-reads all of it.
	RestartAfterImportS float64 `json:"restart_after_import_s,omitempty"`
	// memory: heap after replay into a Set, split between open and closed
	// pathways.
	BytesPerOpenPathway   float64 `json:"bytes_per_open_pathway,omitempty"`
	BytesPerClosedPathway float64 `json:"bytes_per_closed_pathway,omitempty"`
	OpenPathways          int     `json:"open_pathways,omitempty"`
	ClosedPathways        int     `json:"closed_pathways,omitempty"`
	// alert: event recorded → alert at a plain NATS subscriber.
	AlertP50Ms     float64 `json:"alert_p50_ms,omitempty"`
	AlertP99Ms     float64 `json:"alert_p99_ms,omitempty"`
	AlertMaxMs     float64 `json:"alert_max_ms,omitempty"`
	Alerts         int     `json:"alerts,omitempty"`
	AlertEventsPS  float64 `json:"alert_events_per_s,omitempty"`
	MLLPMps        float64 `json:"mllp_mps,omitempty"`
	MLLPMessages   int     `json:"mllp_messages,omitempty"`
	MLLPAccepted   int     `json:"mllp_aa,omitempty"`
	MLLPConns      int     `json:"mllp_conns,omitempty"`
	MLLPEventsPerS float64 `json:"mllp_events_per_s,omitempty"`
	// MLLPNATSPerMessage is how many messages (publishes and requests)
	// the embedded server received per HL7 message: the round trips of
	// the ingest.
	MLLPNATSPerMessage float64 `json:"mllp_nats_msgs_per_message,omitempty"`
}

// phaseRun says how one phase ran.
type phaseRun struct {
	Name       string            `json:"name"`
	Durability engine.Durability `json:"durability"`
	Seconds    float64           `json:"seconds"`
	Notes      []string          `json:"notes,omitempty"`
}

type machineInfo struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPU        string `json:"cpu"`
	Go         string `json:"go"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when the
	// run started: other work on the machine.
	LoadAvg string `json:"load_avg"`
}

func machine() machineInfo {
	return machineInfo{
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPU: cpuModel(), Go: runtime.Version(), LoadAvg: loadAvg(),
	}
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAvg returns the load averages of /proc/loadavg, or "unknown".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// table prints the result for people: one row per figure, Stafet beside
// raw JetStream where the phase has a baseline, and the target.
func (r *benchResult) table(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "stafet bench: %d events (%d messages, %d pathways), seed %d, durability %s\n",
		r.Events, r.Messages, r.Pathways, r.Seed, r.Durability)
	fmt.Fprintf(w, "machine: GOMAXPROCS %d, %s/%s, %s, %s, load average %s\n\n", m.GOMAXPROCS, m.GOOS, m.GOARCH, m.CPU, m.Go, m.LoadAvg)
	dur := map[string]string{}
	for _, p := range r.Phases {
		dur[p.Name] = string(p.Durability)
	}
	var rows [][]string
	row := func(phase, what, stafet, raw, ratio, target string) {
		rows = append(rows, []string{phase, dur[phase], what, stafet, raw, ratio, target})
	}
	if _, ok := dur[phaseAppend]; ok {
		row(phaseAppend, fmt.Sprintf("events/s (%d events, %d messages)", r.AppendEvents, r.AppendMessages), num(r.AppendEPS), num(r.RawPublishEPS), ratio(r.AppendRatio), "ratio ≥ 0.8")
		row(phaseAppend, "CPU µs per event", ratio(r.AppendCPUPerEvent), ratio(r.RawPublishCPUPerEvent), "", "")
		if r.AppendFsyncEachEPS > 0 {
			row(phaseAppend, "events/s, the server fsyncing each message", num(r.AppendFsyncEachEPS), num(r.RawPublishEPS), ratio(r.AppendFsyncEachRatio), "")
		}
	}
	if _, ok := dur[phaseReplay]; ok {
		row(phaseReplay, "events/s into all projections", num(r.ReplayEPS), num(r.RawReadEPS), ratio(r.ReplayRatio), "ratio ≥ 0.9")
		row(phaseReplay, "CPU µs per event", ratio(r.ReplayCPUPerEvent), ratio(r.RawReadCPUPerEvent), "", "")
	}
	if _, ok := dur[phaseRestart]; ok {
		row(phaseRestart, "s to ready, with checkpoint", secs(r.RestartReadyS), "", "", "≤ 5 s at 10 M events")
		row(phaseRestart, "s of it in engine.Open", secs(r.RestartOpenS), "", "", "")
		row(phaseRestart, "checkpoint size, bytes", num(float64(r.CheckpointBytes)), "", "", "")
		row(phaseRestart, "s to ready, full replay", secs(r.RestartFullReplayS), "", "", "")
		row(phaseRestart, "s to ready, with checkpoint, after an import", secs(r.RestartAfterImportS), "", "", "")
	}
	if _, ok := dur[phaseMemory]; ok {
		row(phaseMemory, fmt.Sprintf("bytes per open pathway (%d)", r.OpenPathways), num(r.BytesPerOpenPathway), "", "", "≤ 2048")
		row(phaseMemory, fmt.Sprintf("bytes per closed pathway (%d)", r.ClosedPathways), num(r.BytesPerClosedPathway), "", "", "≤ 512")
	}
	if _, ok := dur[phaseAlert]; ok {
		row(phaseAlert, fmt.Sprintf("ms event → alert, p50 (%d alerts)", r.Alerts), ms(r.AlertP50Ms), "", "", "")
		row(phaseAlert, "ms event → alert, p99", ms(r.AlertP99Ms), "", "", "< 50 ms")
	}
	if _, ok := dur[phaseMLLP]; ok {
		row(phaseMLLP, fmt.Sprintf("HL7 messages/s (%d, %d AA, %d conns)", r.MLLPMessages, r.MLLPAccepted, r.MLLPConns), num(r.MLLPMps), "", "", "≥ 10 000 (bulk)")
		row(phaseMLLP, "NATS requests and publishes per message", ratio(r.MLLPNATSPerMessage), "", "", "")
	}
	table(w, []string{"PHASE", "MODE", "MEASURE", "STAFET", "RAW JETSTREAM", "RATIO", "TARGET"}, rows)
	for _, p := range r.Phases {
		for _, n := range p.Notes {
			fmt.Fprintf(w, "%s: %s\n", p.Name, n)
		}
	}
}

func num(v float64) string {
	if v == 0 {
		return "-"
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	// Thin groups of three for people: 12 345.
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ratio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func secs(v float64) string  { return strconv.FormatFloat(v, 'f', 2, 64) }
func ms(v float64) string    { return strconv.FormatFloat(v, 'f', 1, 64) }

// profile runs fn under the CPU profiler when -cpuprofile is set,
// writing FILE-<phase>.
func (b *bencher) profile(phase string, fn func() error) error {
	if b.o.cpuProfile == "" {
		return fn()
	}
	ext := filepath.Ext(b.o.cpuProfile)
	path := strings.TrimSuffix(b.o.cpuProfile, ext) + "-" + phase + ext
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	b.progress("%s: CPU profile in %s", phase, path)
	return err
}
