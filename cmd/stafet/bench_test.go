package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestBench runs a tiny stafet bench through the CLI in both durability
// modes and checks that every figure is there and positive: the harness
// works, whatever the speed.
func TestBench(t *testing.T) {
	for _, mode := range []string{"bulk", "safe"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			code, out, errOut := runCLI(t, nil, "bench", "-events", "2000", "-durability", mode, "-json", "-tmp", t.TempDir())
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, errOut)
			}
			t.Logf("%s mode in %s", mode, time.Since(start).Round(time.Millisecond))
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not one JSON object: %v\n%s", err, out)
			}
			for _, name := range jsonFields(reflect.TypeFor[benchResult](), mode) {
				v, ok := got[name]
				if !ok {
					t.Errorf("%s: missing", name)
					continue
				}
				switch x := v.(type) {
				case float64:
					if x <= 0 {
						t.Errorf("%s: got %v; want > 0", name, x)
					}
				case string:
					if x == "" {
						t.Errorf("%s: empty", name)
					}
				}
			}
			if got["durability"] != mode {
				t.Errorf("durability: got %v; want %s", got["durability"], mode)
			}
			m, _ := got["machine"].(map[string]any)
			for _, name := range jsonFields(reflect.TypeFor[machineInfo](), mode) {
				if v, ok := m[name]; !ok || v == "" || v == 0.0 {
					t.Errorf("machine.%s: got %v", name, v)
				}
			}
			phases, _ := got["phases"].([]any)
			if len(phases) != len(benchPhases) {
				t.Errorf("phases: got %d; want %d", len(phases), len(benchPhases))
			}
			for _, p := range phases {
				if p, _ := p.(map[string]any); p["durability"] != mode {
					t.Errorf("phase %v ran in %v; want %s", p["name"], p["durability"], mode)
				}
			}
		})
	}
}

// jsonFields names the JSON fields of t that a run in mode fills: all but
// those tagged for the other mode.
func jsonFields(t reflect.Type, mode string) []string {
	var out []string
	for f := range t.Fields() {
		if m := f.Tag.Get("mode"); m != "" && m != mode {
			continue
		}
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// TestBenchFlags checks the settings stafet bench refuses.
func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"unknown phase", []string{"bench", "-phase", "warp"}, "warp"},
		{"unknown durability", []string{"bench", "-durability", "fast"}, "durability"},
		{"too few events", []string{"bench", "-events", "10"}, "at least 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := cmdBench(context.Background(), env{args: tt.args[1:], stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }})
			if err == nil || !strings.Contains(err.Error()+errOut.String(), tt.err) {
				t.Errorf("got %v, %q; want a failure naming %q", err, errOut.String(), tt.err)
			}
		})
	}
}

// TestFillerStoresWhatExecuteStores writes the same commands once with
// Execute and once with the template filler, and checks that the two
// logs hold the same messages but for event ids and record times: the
// phases that read the template read what Stafet would have written.
func TestFillerStoresWhatExecuteStores(t *testing.T) {
	ctx := context.Background()
	b := &bencher{o: benchOptions{events: 1500, seed: 7, writers: 8}, log: testWriter{t}, start: time.Now(), tmp: t.TempDir()}
	b.workload()
	logOf := func(write func(*engine.Store) error) ([]string, [][]byte, []map[string][]string) {
		s, err := b.open(ctx, t.TempDir(), engine.Bulk)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := write(s); err != nil {
			t.Fatal(err)
		}
		st, _ := s.JetStream().Stream(ctx, engine.EventStream)
		var subjects []string
		var bodies [][]byte
		var headers []map[string][]string
		for seq := uint64(1); seq <= uint64(len(b.work)); seq++ {
			m, err := st.GetMsg(ctx, seq)
			if err != nil {
				t.Fatalf("seq %d: %v", seq, err)
			}
			subjects, bodies, headers = append(subjects, m.Subject), append(bodies, m.Data), append(headers, m.Header)
		}
		return subjects, bodies, headers
	}
	// One writer, so that Execute stores the commands in workload order.
	b.o.writers = 1
	es, eb, eh := logOf(func(s *engine.Store) error {
		_, _, err := b.execute(ctx, "execute", s, b.work, time.Time{})
		return err
	})
	fs, fb, fh := logOf(func(s *engine.Store) error { return newFiller(s).fill(ctx, b.work) })
	codec := events.NewCodec()
	for i := range b.work {
		if es[i] != fs[i] {
			t.Fatalf("seq %d: subject %s; Execute stored %s", i+1, fs[i], es[i])
		}
		if !reflect.DeepEqual(eh[i], fh[i]) {
			t.Fatalf("seq %d: headers %v; Execute stored %v", i+1, fh[i], eh[i])
		}
		ee, err1 := codec.DecodeCommit(eb[i])
		fe, err2 := codec.DecodeCommit(fb[i])
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

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
