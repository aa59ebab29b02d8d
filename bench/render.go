package bench

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/stafet/stafet/engine"
)

// row is one figure for people: Stafet beside its baseline where the
// phase has one, their ratio, and the target.
type row struct {
	phase, measure, stafet, baseline, ratio, target string
}

// rows lists the figures of the phases that ran, in order.
func (r *Result) rows() []row {
	var out []row
	ran := func(p string) bool {
		return slices.ContainsFunc(r.Phases, func(pr PhaseRun) bool { return pr.Name == p })
	}
	add := func(phase, measure, stafet, baseline, ratio, target string) {
		out = append(out, row{phase, measure, stafet, baseline, ratio, target})
	}
	safe := r.Durability == engine.Safe
	if ran(PhaseAppend) {
		ack := "no sync"
		if safe {
			ack = "group sync, like Stafet"
		}
		add(PhaseAppend, "events/s; raw publish, "+ack, num(r.AppendEPS), num(r.RawAppendEPS), ratio(r.AppendRatio), "ratio ≥ 0.8")
		add(PhaseAppend, "events/s; raw publish with Stafet's header and checks", num(r.AppendEPS), num(r.RawAppendCheckedEPS), ratio(r.AppendCheckedRatio), "")
		if safe {
			add(PhaseAppend, "events/s; raw publish, sync_always (what group commit buys)", num(r.AppendEPS), num(r.RawAppendSyncAlwaysEPS), ratio(r.AppendRatioVsSyncAlways), "")
			add(PhaseAppend, "events/s, both fsyncing every message", num(r.AppendFsyncEachEPS), num(r.RawAppendSyncAlwaysEPS), ratio(r.AppendFsyncEachRatio), "")
		}
		if r.Peer != "" {
			add(PhaseAppend, fmt.Sprintf("events/s; PostgreSQL events table (%d conns)", r.PeerConns), num(r.AppendEPS), num(r.PGTableAppendEPS), ratio(r.AppendRatioVsPGTable), "")
			add(PhaseAppend, fmt.Sprintf("events/s; Message DB write_message (%d conns)", r.PeerConns), num(r.AppendEPS), num(r.MessageDBAppendEPS), ratio(r.AppendRatioVsMessageDB), "")
		}
		add(PhaseAppend, "CPU µs per event; raw bare / checked", fixed(r.AppendCPUPerEvent, 1),
			fixed(r.RawAppendCPUPerEvent, 1)+" / "+fixed(r.RawAppendCheckedCPUPerEvent, 1), "", "")
	}
	if ran(PhaseReplay) {
		add(PhaseReplay, "events/s into all projections; raw ordered read", num(r.ReplayEPS), num(r.RawReadEPS), ratio(r.ReplayRatio), "ratio ≥ 0.9")
		if r.Peer != "" {
			add(PhaseReplay, "events/s; PostgreSQL events table, SELECT … ORDER BY position", num(r.ReplayEPS), num(r.PGTableReplayEPS), ratio(r.ReplayRatioVsPGTable), "ratio ≥ 1.5")
			add(PhaseReplay, "events/s; Message DB get_category_messages", num(r.ReplayEPS), num(r.MessageDBReplayEPS), ratio(r.ReplayRatioVsMessageDB), "")
		}
		add(PhaseReplay, "CPU µs per event", fixed(r.ReplayCPUPerEvent, 1), fixed(r.RawReadCPUPerEvent, 1), "", "")
		if r.UnchainedReplayRatio > 0 {
			add(PhaseReplay, "events/s, the log without the chain; raw ordered read of it", num(r.UnchainedReplayEPS), num(r.UnchainedRawReadEPS), ratio(r.UnchainedReplayRatio), "")
			add(PhaseReplay, "replay ratio with the chain / without it", ratio(r.ChainReplayRatio), "", "", "≥ 0.9")
		}
		add(PhaseReplay, "peak heap, MiB", fixed(r.ReplayPeakHeapMiB, 1), "", "", "")
	}
	if ran(PhaseRestart) {
		add(PhaseRestart, "s to ready: checkpoint, then "+num(float64(r.RestartTailEvents))+" events", secs(r.RestartReadyS), "", "", "≤ 5 s at 10 M events")
		add(PhaseRestart, "s of it in engine.Open", secs(r.RestartOpenS), "", "", "")
		add(PhaseRestart, "checkpoint size, bytes", num(float64(r.CheckpointBytes)), "", "", "")
		add(PhaseRestart, "peak heap with the checkpoint, MiB", fixed(r.RestartPeakHeapMiB, 1), "", "", "")
		add(PhaseRestart, "s to ready: full replay, no checkpoint", secs(r.RestartFullReplayS), "", "", "")
		add(PhaseRestart, "peak heap by full replay, MiB", fixed(r.RestartFullReplayPeakHeapMiB, 1), "", "", "")
		add(PhaseRestart, "s to ready: checkpoint, after an import (index behind)", secs(r.RestartAfterImportS), "", "", "")
		add(PhaseRestart, "s of it in engine.Open, re-indexing", secs(r.RestartAfterImportOpenS), "", "", "")
	}
	if ran(PhaseMemory) {
		add(PhaseMemory, "bytes per open pathway ("+num(float64(r.OpenPathways))+")", num(r.BytesPerOpenPathway), "", "", "≤ 2 048")
		add(PhaseMemory, "bytes per closed pathway ("+num(float64(r.ClosedPathways))+")", num(r.BytesPerClosedPathway), "", "", "≤ 32")
	}
	if ran(PhaseAlert) {
		add(PhaseAlert, "ms event → alert, p50 ("+num(float64(r.Alerts))+" alerts)", fixed(r.AlertP50Ms, 2), "", "", "")
		add(PhaseAlert, "ms event → alert, p99", fixed(r.AlertP99Ms, 2), "", "", "< 50 ms")
	}
	if ran(PhaseMLLP) {
		add(PhaseMLLP, fmt.Sprintf("HL7 messages/s (%s, %s AA, %d conns)", num(float64(r.MLLPMessages)), num(float64(r.MLLPAccepted)), r.MLLPConns), num(r.MLLPMps), "", "", "≥ 10 000 (bulk)")
		add(PhaseMLLP, "NATS requests and publishes per message", fixed(r.MLLPNATSPerMessage, 1), "", "", "")
		if r.MLLPCommitsPerMessage > 0 {
			add(PhaseMLLP, "waits for a group commit per message", fixed(r.MLLPCommitsPerMessage, 2), "", "", "1")
		}
	}
	if ran(PhaseCluster) && r.Cluster != nil {
		out = append(out, r.Cluster.rows()...)
	}
	return out
}

// rows are the cluster phase's figures: R3 in Stafet's column, R1 as
// the baseline.
func (c *ClusterResult) rows() []row {
	const p = PhaseCluster
	pair := func(a, b float64) string { return fixed(a, 1) + " / " + fixed(b, 1) }
	return []row{
		{p, fmt.Sprintf("events/s appended by %d stafetd; R3 (baseline R1)", c.Instances), num(c.R3.AppendEPS), num(c.R1.AppendEPS), ratio(c.AppendRatio), ""},
		{p, "events/s replayed into all projections; R3 (R1)", num(c.R3.ReplayEPS), num(c.R1.ReplayEPS), ratio(c.ReplayRatio), ""},
		{p, "ms event → alert, p50 / p99; R3 (R1)", pair(c.R3.AlertP50Ms, c.R3.AlertP99Ms), pair(c.R1.AlertP50Ms, c.R1.AlertP99Ms), "", "p99 < 50 ms"},
		{p, "HL7 messages/s over MLLP; R3 (R1)", num(c.R3.MLLPMps), num(c.R1.MLLPMps), ratio(c.MLLPRatio), ""},
		{p, "ms MLLP round trip, p50 / p99; R3 (R1)", pair(c.R3.MLLPP50Ms, c.R3.MLLPP99Ms), pair(c.R1.MLLPP50Ms, c.R1.MLLPP99Ms), "", ""},
	}
}

// WriteTable prints the result for people: the run, then one row per
// figure, then the phases' notes.
func (r *Result) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	for _, l := range r.caption() {
		fmt.Fprintln(&b, l)
	}
	fmt.Fprintln(&b)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PHASE\tMEASURE\tSTAFET\tBASELINE\tRATIO\tTARGET")
	for _, x := range r.rows() {
		fmt.Fprintln(tw, strings.Join([]string{x.phase, x.measure, x.stafet, x.baseline, x.ratio, x.target}, "\t"))
	}
	tw.Flush()
	for _, n := range r.notes() {
		fmt.Fprintln(&b, n)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMarkdown prints the result as docs/performance.md holds it: the
// run in a few lines, one table, the notes.
func (r *Result) WriteMarkdown(w io.Writer) error {
	var b bytes.Buffer
	for _, l := range r.caption() {
		fmt.Fprintf(&b, "%s  \n", l)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| phase | figure | Stafet | baseline | ratio | target |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	for _, x := range r.rows() {
		rt := x.ratio
		if rt != "" {
			rt = "**" + rt + "**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", x.phase, x.measure, x.stafet, x.baseline, rt, x.target)
	}
	if notes := r.notes(); len(notes) > 0 {
		fmt.Fprintln(&b)
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// caption says what ran, where, on which build and under which load.
func (r *Result) caption() []string {
	m := r.Machine
	commit := r.Build.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if r.Build.Modified {
		commit += " with uncommitted changes"
	}
	var lines []string
	if r.Command != "" {
		lines = append(lines, "`"+r.Command+"`")
	}
	loads := []float64{}
	for _, p := range r.Phases {
		loads = append(loads, p.LoadStart, p.LoadEnd)
	}
	for _, p := range r.Phases {
		for _, x := range p.Rounds {
			loads = append(loads, x.Load)
		}
	}
	during := "-"
	if len(loads) > 0 {
		during = fixed(slices.Min(loads), 2) + "–" + fixed(slices.Max(loads), 2)
	}
	if r.Peer != "" {
		sync := "on"
		if r.Durability == engine.Bulk {
			sync = "off"
		}
		lines = append(lines, fmt.Sprintf("peer: PostgreSQL %s on a Unix socket, fsync and synchronous_commit %s", r.PeerVersion, sync))
	}
	if c := r.Cluster; c != nil {
		lines = append(lines, fmt.Sprintf("cluster: %d stafetd on R1, the embedded server in %s mode, and on R3, docs/deploy's %d nats-server processes (%s; TLS, sync_interval: always), each afresh in each of %d alternated rounds; %s events appended after the alert part",
			c.Instances, r.Durability, c.Nodes, c.NATSServer, r.Rounds, num(float64(c.AppendEvents))))
	}
	return append(lines,
		fmt.Sprintf("build %s, %s; started %s", commit, r.Build.Go, r.Started.Format("2006-01-02 15:04 UTC")),
		fmt.Sprintf("machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s", m.NumCPU, m.GOMAXPROCS, m.GOOS, m.GOARCH, m.CPU),
		fmt.Sprintf("load average (1, 5, 15 min): %s at the start, %s at the end; 1-minute load %s during the phases", m.LoadAvg, r.LoadEnd, during),
		fmt.Sprintf("%s events (%s messages, %s pathways), seed %d, durability %s; append and replay: medians of %d alternated rounds",
			num(float64(r.Events)), num(float64(r.Messages)), num(float64(r.Pathways)), r.Seed, r.Durability, r.Rounds),
	)
}

func (r *Result) notes() []string {
	var out []string
	for _, p := range r.Phases {
		for _, n := range p.Notes {
			out = append(out, p.Name+": "+n)
		}
	}
	return out
}

// Splice replaces the Markdown between the markers of mode in doc with
// md: "<!-- stafet bench: safe -->" and "<!-- end stafet bench: safe -->",
// each on a line of its own. docs/performance.md holds one pair per mode,
// so each table there comes from one invocation.
func Splice(doc []byte, mode engine.Durability, md []byte) ([]byte, error) {
	begin := []byte("<!-- stafet bench: " + string(mode) + " -->\n")
	end := []byte("<!-- end stafet bench: " + string(mode) + " -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("bench: no %q … %q in the document", bytes.TrimSpace(begin), end)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.Write(md)
	if !bytes.HasSuffix(md, []byte("\n")) {
		out.WriteByte('\n')
	}
	out.Write(doc[j:])
	return out.Bytes(), nil
}

// num renders a count or rate for people, in thin groups of three: 12 345.
func num(v float64) string {
	if v == 0 {
		return "-"
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func ratio(v float64) string { return fixed(v, 2) }
func secs(v float64) string  { return fixed(v, 3) }

func fixed(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }
