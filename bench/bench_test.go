package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
	"github.com/stafet/stafet/projections"
)

// TestRun runs a small bench in both durability modes and checks that
// every figure is there and positive, that the alternated phases ran
// every side in every round, and that the run says which build ran under
// which load: the harness works, whatever the speed.
func TestRun(t *testing.T) {
	for _, mode := range []engine.Durability{engine.Bulk, engine.Safe} {
		t.Run(string(mode), func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), Options{
				Events: 2000, Durability: mode, Seed: 1, Rounds: 2, Tmp: t.TempDir(), Progress: testWriter{t},
				// Short: the sides that fsync every message stop at the
				// cap, as they do in a full run.
				MaxWrite: time.Second, AlertRate: 4000, Peer: PeerPostgres,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s mode in %s", mode, time.Since(start).Round(time.Millisecond))
			b, _ := json.Marshal(res)
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			checkFields(t, "", got, reflect.TypeFor[Result](), string(mode))
			checkFields(t, "build.", got["build"], reflect.TypeFor[Build](), string(mode))
			checkFields(t, "machine.", got["machine"], reflect.TypeFor[Machine](), string(mode))
			if len(res.Build.Commit) < 12 {
				t.Fatalf("build.commit %q: the test runs in the repository", res.Build.Commit)
			}
			checkPhases(t, res, mode)
			checkCluster(t, got, res)
			// One fsync covers all a message writes: a second wait is a
			// second fsync's latency on every message.
			if mode == engine.Safe && res.MLLPCommitsPerMessage > 1 {
				t.Errorf("mllp: %v waits for a group commit per message; want 1", res.MLLPCommitsPerMessage)
			}
			if res.BytesPerClosedPathway > maxBytesPerClosed {
				t.Errorf("%v bytes per closed pathway; want at most %d", res.BytesPerClosedPathway, maxBytesPerClosed)
			}
			var md bytes.Buffer
			if err := res.WriteMarkdown(&md); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{res.Build.Commit[:12], res.Machine.LoadAvg, "| append |", "| mllp |", ratio(res.AppendRatio),
				"| cluster |", res.Cluster.NATSServer, ratio(res.Cluster.AppendRatio),
				"PostgreSQL " + res.PeerVersion, "Message DB", ratio(res.ReplayRatioVsPGTable)} {
				if !strings.Contains(md.String(), want) {
					t.Errorf("markdown lacks %q:\n%s", want, md.String())
				}
			}
		})
	}
}

// maxBytesPerClosed is what a closed pathway may leave in the
// projections (issue 21): their memory follows the open pathways.
const maxBytesPerClosed = 32

// TestMemoryPhase measures the bytes a closed pathway leaves in the
// projections on a log with some: at most maxBytesPerClosed, and more
// than none (some of them were discharged: the Board keeps their last
// discharge, for readmissions).
func TestMemoryPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 90 000 closed pathways")
	}
	res, err := Run(context.Background(), Options{
		Events: 20000, Durability: engine.Bulk, Seed: 1, Tmp: t.TempDir(), Progress: testWriter{t},
		Phases: []string{PhaseMemory},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ClosedPathways == 0 {
		t.Fatalf("no closed pathways in the log: nothing measured")
	}
	if got := res.BytesPerClosedPathway; got <= 0 || got > maxBytesPerClosed {
		t.Errorf("%v bytes per closed pathway (of %d); want more than 0, at most %d", got, res.ClosedPathways, maxBytesPerClosed)
	}
}

// checkFields checks that every JSON field of typ a run in mode fills is
// in v and not zero; booleans may be false.
func checkFields(t *testing.T, prefix string, v any, typ reflect.Type, mode string) {
	t.Helper()
	m, _ := v.(map[string]any)
	for f := range typ.Fields() {
		// TestRun runs with the PostgreSQL peer: its fields too.
		if fm := f.Tag.Get("mode"); fm != "" && fm != mode {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "command" {
			continue
		}
		x, ok := m[name]
		switch {
		case !ok:
			t.Errorf("%s%s: missing", prefix, name)
		case x == 0.0 && f.Tag.Get("zero") == "ok":
		case x == nil || x == "" || x == 0.0:
			t.Errorf("%s%s: got %v; want a value", prefix, name, x)
		}
	}
}

// checkCluster checks the cluster phase's figures: both deployments'
// present and positive, R3 on nats-server processes, and a ratio that is
// R3's figure over R1's.
func checkCluster(t *testing.T, got map[string]any, res *Result) {
	t.Helper()
	c, _ := got["cluster"].(map[string]any)
	checkFields(t, "cluster.", c, reflect.TypeFor[ClusterResult](), "")
	checkFields(t, "cluster.r1.", c["r1"], reflect.TypeFor[Deployment](), "")
	checkFields(t, "cluster.r3.", c["r3"], reflect.TypeFor[Deployment](), "")
	if res.Cluster == nil || !strings.HasPrefix(res.Cluster.NATSServer, "nats-server v2.") {
		t.Fatalf("cluster: %+v; want the nats-server processes' version", res.Cluster)
	}
	if a, b := res.Cluster.AppendEvents, res.Events; a <= 0 || a >= b {
		t.Errorf("cluster: %d events appended after the alert part; want some of the %d", a, b)
	}
}

func checkPhases(t *testing.T, res *Result, mode engine.Durability) {
	t.Helper()
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
		if p.Durability != mode || p.Seconds <= 0 || p.LoadStart < 0 || p.LoadEnd < 0 {
			t.Errorf("phase %s: durability %s, %v s, load %v–%v; want %s, positive, loads", p.Name, p.Durability, p.Seconds, p.LoadStart, p.LoadEnd, mode)
		}
	}
	if !slices.Equal(names, Phases()) {
		t.Errorf("phases: got %v; want %v", names, Phases())
	}
	want := map[string][]string{
		PhaseAppend: {sideStafet, sideRaw, sideRawChecked},
		PhaseReplay: {sideReplay, sideRawRead, sideReplayUnchained, sideRawReadUnchained},
	}
	if mode == engine.Safe {
		want[PhaseAppend] = append(want[PhaseAppend], sideStafetFsyncEach, sideRawSyncAlways)
	}
	want[PhaseAppend] = append(want[PhaseAppend], sidePGTable, sideMessageDB)
	want[PhaseReplay] = append(want[PhaseReplay], sidePGTable, sideMessageDB)
	for _, p := range res.Phases {
		if p.Name == PhaseCluster {
			checkClusterRounds(t, p, res.Rounds)
			continue
		}
		sides := want[p.Name]
		if len(p.Rounds) != len(sides)*res.Rounds {
			t.Errorf("phase %s: %d measures; want %d sides × %d rounds", p.Name, len(p.Rounds), len(sides), res.Rounds)
			continue
		}
		for i, x := range p.Rounds {
			// Each round starts one side further on.
			r := i / len(sides)
			if wantSide := sides[(i+r)%len(sides)]; x.Round != r+1 || x.Side != wantSide {
				t.Errorf("phase %s, measure %d: round %d, side %s; want round %d, side %s", p.Name, i, x.Round, x.Side, r+1, wantSide)
			}
			if x.Events <= 0 || x.Seconds <= 0 {
				t.Errorf("phase %s, round %d, %s: %d events in %v s", p.Name, x.Round, x.Side, x.Events, x.Seconds)
			}
		}
	}
}

// checkClusterRounds checks that every round ran both deployments, R1
// first in odd rounds and R3 first in even ones, each with an append and
// a replay.
func checkClusterRounds(t *testing.T, p PhaseRun, rounds int) {
	t.Helper()
	var got []string
	for _, x := range p.Rounds {
		got = append(got, fmt.Sprintf("%d %s", x.Round, x.Side))
		if x.Events <= 0 || x.Seconds <= 0 {
			t.Errorf("cluster, round %d, %s: %d events in %v s", x.Round, x.Side, x.Events, x.Seconds)
		}
	}
	var want []string
	for r := range rounds {
		deps := []string{deployR1, deployR3}
		if r%2 == 1 {
			deps = []string{deployR3, deployR1}
		}
		for _, d := range deps {
			want = append(want, fmt.Sprintf("%d %s append", r+1, d), fmt.Sprintf("%d %s replay", r+1, d))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("cluster measures: got %v; want %v", got, want)
	}
}

// TestOptions checks the settings Run refuses.
func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		err  string
	}{
		{"defaults", Options{}, ""},
		{"unknown phase", Options{Phases: []string{"warp"}}, "warp"},
		{"unknown durability", Options{Durability: "fast"}, "durability"},
		{"too few events", Options{Events: 10}, "at least 100"},
		{"negative rounds", Options{Rounds: -1}, "positive"},
		{"negative tail", Options{RestartTail: -5}, "restart tail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("got %v; want an error naming %q", err, tt.err)
			}
		})
	}
}

// TestFillerStoresWhatExecuteStores writes the same commands once with
// Execute and once with the template filler, and checks that the two
// logs hold the same messages but for event ids and record times: the
// phases that read the template, and the raw append sides that publish
// the encoder's messages, see what Stafet would have written.
func TestFillerStoresWhatExecuteStores(t *testing.T) {
	ctx := context.Background()
	// One writer, so that Execute stores the commands in workload order.
	b := &bencher{o: Options{Events: 1500, Seed: 7, Writers: 1, Progress: testWriter{t}}.withDefaults(), start: time.Now(), tmp: t.TempDir()}
	b.workload()
	logOf := func(write func(*engine.Store) error) []*jetstream.RawStreamMsg {
		s, err := b.open(ctx, t.TempDir(), engine.Bulk)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := write(s); err != nil {
			t.Fatal(err)
		}
		return storedMsgs(t, s)
	}
	exec := logOf(func(s *engine.Store) error {
		_, _, _, err := b.execute(ctx, s, b.work, time.Time{})
		return err
	})
	fill := logOf(func(s *engine.Store) error {
		if err := newFiller(s).fill(ctx, b.work); err != nil {
			return err
		}
		// Chained as Execute chains: the log verifies, MACs included.
		if _, err := s.Log().Checkpoint(ctx); err != nil {
			return err
		}
		rep, err := s.Log().Verify(ctx, engine.VerifyOptions{})
		if err == nil && rep.Mismatch != nil {
			err = rep.Mismatch
		}
		return err
	})
	if len(exec) != len(fill) || len(exec) < 500 {
		t.Fatalf("the filler stored %d messages; Execute %d", len(fill), len(exec))
	}
	codec := events.NewCodec()
	for i, e := range exec {
		f := fill[i]
		if e.Subject != f.Subject {
			t.Fatalf("seq %d: subject %s; Execute stored %s", i+1, f.Subject, e.Subject)
		}
		// The links and MACs differ with the events' ids and record
		// times, and the stores' keys; the filler's verify above.
		for _, h := range []nats.Header{e.Header, f.Header} {
			if h.Get(engine.HeaderChain) == "" {
				t.Fatalf("seq %d: no chain header in %v", i+1, h)
			}
			h.Del(engine.HeaderChain)
		}
		if !reflect.DeepEqual(e.Header, f.Header) {
			t.Fatalf("seq %d: headers %v; Execute stored %v", i+1, f.Header, e.Header)
		}
		ee, err1 := codec.DecodeCommit(e.Data)
		fe, err2 := codec.DecodeCommit(f.Data)
		if err1 != nil || err2 != nil || len(ee) != len(fe) {
			t.Fatalf("seq %d: %d events, %v; Execute stored %d, %v", i+1, len(fe), err2, len(ee), err1)
		}
		for j := range ee {
			for _, e := range []*events.Envelope{&ee[j], &fe[j]} {
				e.ID, e.RecordedAt = uuid.Nil, time.Time{}
			}
			a, _ := codec.Encode(&ee[j])
			c, _ := codec.Encode(&fe[j])
			if string(a) != string(c) {
				t.Fatalf("seq %d event %d:\n%s\nExecute stored\n%s", i+1, j, c, a)
			}
		}
	}
}

// storedMsgs returns every message of a store's event log.
func storedMsgs(t *testing.T, s *engine.Store) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	st, err := natstest.JetStream(t, s.NATS().Conn()).Stream(ctx, engine.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.Log().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); seq <= last; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("seq %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

// TestPublisher publishes the same messages bare and checked, and then
// with a wrong expected sequence: the checked side must carry Stafet's
// header and be refused by the server as an append would be; the bare
// side neither. In safe mode every side waits for the store's group
// commit, in bulk mode for nothing.
func TestPublisher(t *testing.T) {
	ctx := context.Background()
	msgs, err := encodeAll(testWork(t, 300))
	if err != nil {
		t.Fatal(err)
	}
	wrong := slices.Clone(msgs)
	for i := range wrong {
		if wrong[i].prev > 0 {
			wrong[i].prev++ // the pathway's message before its previous one
			break
		}
	}
	tests := []struct {
		name    string
		mode    engine.Durability
		checked bool
		msgs    []stored
		header  bool
		err     string
	}{
		{"bare, safe", engine.Safe, false, msgs, false, ""},
		{"checked, safe", engine.Safe, true, msgs, true, ""},
		{"checked, bulk", engine.Bulk, true, msgs, true, ""},
		{"bare ignores a wrong sequence", engine.Bulk, false, wrong, false, ""},
		{"checked refuses a wrong sequence", engine.Bulk, true, wrong, true, "wrong last sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), Durability: tt.mode})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n, evs, err := publisher{s: s, checked: tt.checked}.publish(ctx, tt.msgs, time.Time{})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v; want an error naming %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, m := range tt.msgs {
				want += m.events
			}
			if n != len(tt.msgs) || evs != want {
				t.Errorf("got %d messages, %d events; want %d, %d", n, evs, len(tt.msgs), want)
			}
			got := storedMsgs(t, s)
			if len(got) != len(tt.msgs) {
				t.Fatalf("the log holds %d messages; want %d", len(got), len(tt.msgs))
			}
			for i, m := range got {
				if m.Subject != tt.msgs[i].subject || !bytes.Equal(m.Data, tt.msgs[i].data) {
					t.Fatalf("seq %d: %s; want %s with the same body", i+1, m.Subject, tt.msgs[i].subject)
				}
				if has := m.Header.Get(engine.HeaderPrev) != ""; has != tt.header {
					t.Fatalf("seq %d: Stafet-Prev present %v; want %v", i+1, has, tt.header)
				}
			}
		})
	}
}

// TestPublisherStops checks the cap: a publisher given a stop in the
// past publishes nothing and says so.
func TestPublisherStops(t *testing.T) {
	ctx := context.Background()
	msgs, err := encodeAll(testWork(t, 200))
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), Durability: engine.Bulk})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, evs, err := publisher{s: s}.publish(ctx, msgs, time.Now().Add(-time.Second))
	if err != nil || n != 0 || evs != 0 {
		t.Errorf("got %d messages, %d events, %v; want none", n, evs, err)
	}
}

func testWork(t *testing.T, n int) []events.Command {
	t.Helper()
	b := &bencher{o: Options{Events: n, Seed: 3}.withDefaults(), start: time.Now()}
	b.workload()
	return b.work
}

// TestSplice checks that a table replaces exactly its mode's block.
func TestSplice(t *testing.T) {
	doc := "# P\n<!-- stafet bench: safe -->\nold safe\n<!-- end stafet bench: safe -->\nmiddle\n<!-- stafet bench: bulk -->\nold bulk\n<!-- end stafet bench: bulk -->\nend\n"
	tests := []struct {
		name string
		mode engine.Durability
		md   string
		want string
		err  bool
	}{
		{"safe", engine.Safe, "new safe\n", "# P\n<!-- stafet bench: safe -->\nnew safe\n<!-- end stafet bench: safe -->\nmiddle\n<!-- stafet bench: bulk -->\nold bulk\n<!-- end stafet bench: bulk -->\nend\n", false},
		{"bulk, no final newline", engine.Bulk, "new bulk", "# P\n<!-- stafet bench: safe -->\nold safe\n<!-- end stafet bench: safe -->\nmiddle\n<!-- stafet bench: bulk -->\nnew bulk\n<!-- end stafet bench: bulk -->\nend\n", false},
		{"no markers", "other", "x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Splice([]byte(doc), tt.mode, []byte(tt.md))
			if (err != nil) != tt.err {
				t.Fatalf("got error %v; want error %v", err, tt.err)
			}
			if !tt.err && string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestPeers writes the same messages to each PostgreSQL store, reads them
// back in order through the decoder, and checks each store refuses a
// message whose expected version is wrong, as Execute's append would be
// refused: the peers do the work their names say.
func TestPeers(t *testing.T) {
	ctx := context.Background()
	work := testWork(t, 400)
	msgs, err := encodeAll(work)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, m := range msgs {
		want += m.events
	}
	pg, err := startPostgres(ctx, t.TempDir(), engine.Bulk, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.stop() })
	pool, err := pg.pool(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pm := peerMsgs(msgs)
	for _, p := range peers() {
		t.Run(p.name, func(t *testing.T) {
			if err := pg.exec(ctx, p.schema...); err != nil {
				t.Fatal(err)
			}
			evs, done, err := writeShards(ctx, pool, pm, 4, time.Time{}, p.write)
			if err != nil || done != len(pm) || evs != want {
				t.Fatalf("wrote %d messages, %d events, %v; want %d, %d", done, evs, err, len(pm), want)
			}
			// The first message of a pathway again, as if another writer
			// had not seen it: version 0 is taken.
			again := pm[0]
			again.id = uuid.New()
			refusal := map[string]string{sidePGTable: "duplicate key", sideMessageDB: "Wrong expected version"}[p.name]
			if _, _, err := writeShards(ctx, pool, []peerMsg{again}, 1, time.Time{}, p.write); err == nil || !strings.Contains(err.Error(), refusal) {
				t.Fatalf("a second version 0 of a stream: %v; want it refused (%q)", err, refusal)
			}
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			var bodies int
			var last int64
			err = p.read(ctx, c, func(pos int64, body []byte) error {
				if pos <= last {
					return fmt.Errorf("position %d after %d", pos, last)
				}
				last = pos
				bodies++
				return nil
			})
			if err != nil || bodies != len(pm) {
				t.Fatalf("read %d messages, %v; want %d", bodies, err, len(pm))
			}
			set, err := projections.NewSet(projections.DefaultRules())
			if err != nil {
				t.Fatal(err)
			}
			n, err := decodeApply(ctx, set, func(emit func(int64, []byte) error) error { return p.read(ctx, c, emit) })
			if open, closed := set.Owner.Len(); err != nil || n != want || open+closed == 0 {
				t.Errorf("applied %d events (%d open, %d closed pathways), %v; want %d events", n, open, closed, err, want)
			}
		})
	}
}
