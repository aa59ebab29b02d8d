package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rulesDir holds the Prometheus alerting rules operators load
// (docs/operations.md, "Alerting").
const rulesDir = "../../docs/deploy/prometheus"

// TestAlertingRules checks the rules file with promtool and runs its unit
// tests: each alert fires on the series that should fire it and no
// other. promtool is Debian's prometheus package; .ci/run installs it.
func TestAlertingRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("no promtool (install Debian's prometheus package; .ci/run does); CI is not set, so skipping")
		}
		t.Fatal("CI is set and the alerting rules' tests need promtool: install Debian's prometheus package (.ci/run does)")
	}
	tests := []struct {
		name string
		args []string
	}{
		{"check rules", []string{"check", "rules", "stafet-rules.yml"}},
		{"test rules", []string{"test", "rules", "stafet-rules_test.yml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(promtool, tt.args...)
			cmd.Dir = rulesDir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
		})
	}
}

// TestAlertingRulesNameRealMetrics scrapes a running stafetd and checks
// that every metric the rules' expressions read is one it serves: a
// renamed metric would leave its alert silent for ever.
func TestAlertingRulesNameRealMetrics(t *testing.T) {
	f, err := os.Open(filepath.Join(rulesDir, "stafet-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	metric := regexp.MustCompile(`\bstafet_[a-z_]+`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if expr, ok := strings.CutPrefix(line, "expr:"); ok {
			for _, m := range metric.FindAllString(expr, -1) {
				names[m] = true
			}
		}
	}
	if len(names) < 8 {
		t.Fatalf("found %d metric names in the rules' expressions; want the health metrics", len(names))
	}
	svc, _ := startService(t, t.TempDir(), nil)
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	_, body := get(t, base+"/metrics", svc.admin)
	for name := range names {
		if !strings.Contains(body, "\n"+name+"{") && !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("the rules read %s; /metrics has no such series", name)
		}
	}
}
