package projections

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

var update = flag.Bool("update", false, "rewrite the golden files and rules.default.json")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// names turns pathway ids back into the scripted day's names.
func names() map[uuid.UUID]string {
	out := map[uuid.UUID]string{}
	for _, n := range dayNames {
		out[pathwayID(n)] = n
	}
	return out
}

func clock(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(cph).Format("Mon 15:04")
}

func renderGap(b *strings.Builder, g Gap, pw map[uuid.UUID]string) {
	fmt.Fprintf(b, "%-24s %-18s ref=%s rule=%s %s opened=%s deadline=%s", g.Kind, pw[g.Pathway], g.Ref, g.Rule, g.Severity, clock(g.OpenedAt), clock(g.Deadline))
	if !g.Open() {
		fmt.Fprintf(b, " closed=%s by=%s", clock(g.ClosedAt), g.ClosedByType)
	}
	if g.Escalated {
		b.WriteString(" escalated")
	}
	if !g.Recorded {
		b.WriteString(" not-recorded")
	}
	if g.Kind == ReadyButWaiting {
		fmt.Fprintf(b, " days=%d", g.Days)
	}
	var cl []string
	for _, c := range g.Closers {
		cl = append(cl, string(c))
	}
	fmt.Fprintf(b, " closers=%s id=%s\n", strings.Join(cl, ","), g.ID)
}

func TestGoldenScriptedDay(t *testing.T) {
	s := scriptedDay(t, Rules{})
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	host(t, set, s.log, 0)
	pw := names()

	t.Run("log", func(t *testing.T) {
		var b strings.Builder
		for _, e := range s.log {
			fmt.Fprintf(&b, "%3d %s rec=%s %-18s %-22s %s\n", e.Seq, clock(e.OccurredAt), clock(e.RecordedAt), pw[e.Pathway], e.Type, brief(e))
		}
		golden(t, filepath.Join("testdata", "day_log.golden"), []byte(b.String()))
	})
	t.Run("gaps", func(t *testing.T) {
		var b strings.Builder
		for _, g := range set.Gaps.List(GapFilter{Status: AllGaps}, dayNow) {
			renderGap(&b, g, pw)
		}
		golden(t, filepath.Join("testdata", "day_gaps.golden"), []byte(b.String()))
	})
	t.Run("worklists", func(t *testing.T) {
		var b strings.Builder
		for _, org := range []events.OrgID{aarhus, samso, auh, gp1, gp2} {
			wl := set.Worklists.Worklist(org, dayNow)
			fmt.Fprintf(&b, "== %s at %s\n", org, clock(wl.At))
			for _, o := range wl.Offers {
				fmt.Fprintf(&b, "offer %-18s %-19s from=%s offered=%s deadline=%s", pw[o.Pathway], o.What, o.From, clock(o.Offered), clock(o.Deadline))
				if o.Overdue {
					b.WriteString(" overdue")
				}
				if o.Paused {
					b.WriteString(" paused")
				}
				fmt.Fprintf(&b, " id=%s\n", o.Offer)
			}
			for _, g := range wl.Gaps {
				b.WriteString("gap   ")
				renderGap(&b, g, pw)
			}
		}
		golden(t, filepath.Join("testdata", "day_worklists.golden"), []byte(b.String()))
	})
	t.Run("figures", func(t *testing.T) {
		f := set.Figures.Cluster("aarhus", dayNow)
		f.Daily = f.Daily[len(f.Daily)-2:] // the scripted day and the one before
		m := set.Figures.Municipality(samso, dayNow)
		m.Daily = m.Daily[len(m.Daily)-1:]
		got, err := json.MarshalIndent([]ClusterFigures{f, m}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("testdata", "day_figures.golden"), append(got, '\n'))
	})
}

// brief renders an event's payload for the log golden file.
func brief(e events.Envelope) string {
	b, _ := json.Marshal(e.Payload)
	s := string(b)
	for _, n := range dayNames {
		s = strings.ReplaceAll(s, pathwayID(n).String(), n)
	}
	return s
}

func TestDefaultRulesFile(t *testing.T) {
	b, err := json.MarshalIndent(DefaultRules(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	golden(t, "rules.default.json", b)
	t.Run("loads to the defaults", func(t *testing.T) {
		got, err := LoadRules(bytes.NewReader(DefaultRulesJSON()))
		if err != nil {
			t.Fatalf("LoadRules(rules.default.json): %v", err)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(DefaultRules())
		if !bytes.Equal(gb, wb) {
			t.Errorf("LoadRules(rules.default.json):\ngot  %s\nwant %s", gb, wb)
		}
	})
}
