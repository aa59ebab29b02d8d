package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// What operators load into their monitoring (docs/operations.md,
// "Alerting" and "Metrics and dashboards"): the Prometheus alerting rules
// and the Grafana dashboard.
const (
	rulesDir         = "../../docs/deploy/prometheus"
	grafanaDashboard = "../../docs/deploy/grafana/stafet.json"
)

// promtool returns the path of promtool (Debian's prometheus package;
// .ci/run installs it), skipping the test without it unless CI is set.
func promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("no promtool (install Debian's prometheus package; .ci/run does); CI is not set, so skipping")
		}
		t.Fatal("CI is set and the monitoring tests need promtool: install Debian's prometheus package (.ci/run does)")
	}
	return path
}

// TestAlertingRules checks the rules file with promtool and runs its unit
// tests: each alert fires on the series that should fire it and no
// other.
func TestAlertingRules(t *testing.T) {
	promtool := promtool(t)
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

// TestGrafanaDashboard checks that the dashboard is Grafana JSON whose
// every panel has a query, and that every query parses as PromQL: promtool
// checks each one as a recording rule.
func TestGrafanaDashboard(t *testing.T) {
	exprs := grafanaQueries(t)
	if len(exprs) < 15 {
		t.Fatalf("%d queries; want the panels of docs/operations.md", len(exprs))
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("grafana:panel_%d", i), Expr: e})
	}
	// JSON is YAML.
	out, _ := json.Marshal(map[string]any{"groups": []any{map[string]any{"name": "grafana", "rules": rules}}})
	file := filepath.Join(t.TempDir(), "grafana-queries.yml")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

// grafanaQueries returns the expressions of the dashboard's panels.
func grafanaQueries(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is no JSON: %v", grafanaDashboard, err)
	}
	if d.UID == "" {
		t.Errorf("%s has no uid: a second import would make a second dashboard", grafanaDashboard)
	}
	var exprs []string
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

// ruleQueries returns the expressions of the alerting rules.
func ruleQueries(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(rulesDir, "stafet-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exprs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if expr, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "expr:"); ok {
			exprs = append(exprs, expr)
		}
	}
	return exprs
}

// TestMonitoringReadsRealMetrics scrapes a running stafetd that has taken
// in a message, dead-lettered another and opened a gap, and checks that
// every metric the alerting rules and the Grafana dashboard read is one
// it serves: a renamed metric would leave an alert silent, or a panel
// empty, for ever.
func TestMonitoringReadsRealMetrics(t *testing.T) {
	metric := regexp.MustCompile(`\bstafet_[a-z_]+`)
	read := func(exprs []string) map[string]bool {
		names := map[string]bool{}
		for _, e := range exprs {
			for _, m := range metric.FindAllString(e, -1) {
				names[strings.TrimSuffix(m, "_bucket")] = true
			}
		}
		return names
	}
	byWhom := map[string]map[string]bool{"the alerting rules": read(ruleQueries(t)), "the Grafana dashboard": read(grafanaQueries(t))}
	for who, names := range byWhom {
		if len(names) < 8 {
			t.Fatalf("%s read %d metrics; want the health metrics and more", who, len(names))
		}
	}

	svc, _ := startService(t, t.TempDir(), map[string]string{"STAFET_ORGANISATIONS": "testdata/organisations.json"})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	// The series that exist only once something happened: an inbound
	// message, a dead letter, an open gap.
	if ack := sendMLLP(t, svc.mllpAddr.String(), "testdata/a01.hl7"); ack != "AA" {
		t.Fatalf("an admission answered %s; want AA", ack)
	}
	if ack := sendMLLP(t, svc.mllpAddr.String(), "../../adapters/translate/hl7v2/testdata/adt/err_unknown_organisation.hl7"); ack == "AA" {
		t.Fatal("a message from an unknown hospital answered AA; want a dead letter")
	}
	api := &apiClient{t: t, base: base}
	var opened struct{ Pathway string }
	api.post("/v1/pathways", svc.admin, map[string]any{"patient": map[string]string{"cpr": "0101504321"}, "cluster": "aarhus",
		"municipality": "kommune:0751", "actor": "sor:6620000000001"}, &opened)
	api.post("/v1/pathways/"+opened.Pathway+"/offers", svc.admin, map[string]any{"to": "kommune:0751", "what": "home-care",
		"actor": "sor:6620000000001", "occurred_at": time.Now().Add(-2 * time.Hour), "deadline": time.Now().Add(-time.Hour)}, nil)
	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body = get(t, base+"/metrics", svc.admin)
		happened := strings.Contains(body, `stafet_inbound_messages_total{answer="AE",channel="hl7v2"}`) &&
			strings.Contains(body, "stafet_open_gaps{") && strings.Contains(body, "stafet_dead_letters{")
		if happened || time.Now().After(deadline) {
			break
		}
	}
	for who, names := range byWhom {
		for name := range names {
			if !strings.Contains(body, "\n"+name+"{") && !strings.Contains(body, "\n"+name+" ") && !strings.Contains(body, "\n"+name+"_bucket{") {
				t.Errorf("%s read %s; /metrics has no such series", who, name)
			}
		}
	}
}
