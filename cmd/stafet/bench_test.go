package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchFlags checks the settings stafet bench refuses. The harness
// itself is tested in package bench (TestRun).
func TestBenchFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"unknown phase", []string{"bench", "-phase", "warp"}, "warp"},
		{"unknown durability", []string{"bench", "-durability", "fast"}, "durability"},
		{"too few events", []string{"bench", "-events", "10"}, "at least 100"},
		{"unknown peer", []string{"bench", "-peer", "oracle"}, "oracle"},
		{"json and markdown", []string{"bench", "-json", "-markdown"}, "not both"},
		{"no such document", []string{"bench", "-update", "/nonexistent/performance.md"}, "nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, nil, tt.args...)
			if code == 0 || !strings.Contains(errOut, tt.err) {
				t.Errorf("got exit %d, %q; want a failure naming %q", code, errOut, tt.err)
			}
		})
	}
}

// TestBenchOutputs runs one cheap phase through the CLI and checks each
// output: JSON with the invocation, and a Markdown table spliced into a
// document between its mode's markers, the rest of the document kept.
func TestBenchOutputs(t *testing.T) {
	doc := filepath.Join(t.TempDir(), "performance.md")
	const before = "# Performance\n\n<!-- stafet bench: bulk -->\nold\n<!-- end stafet bench: bulk -->\n\nafter\n"
	if err := os.WriteFile(doc, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"json", []string{"-json"}, func(t *testing.T, out string) {
			var got struct {
				Command   string  `json:"command"`
				BytesOpen float64 `json:"bytes_per_open_pathway"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out)
			}
			if !strings.HasPrefix(got.Command, "stafet bench -events 2000") || got.BytesOpen <= 0 {
				t.Errorf("command %q, bytes per open pathway %v", got.Command, got.BytesOpen)
			}
		}},
		{"markdown into a document", []string{"-markdown", "-update", doc}, func(t *testing.T, out string) {
			b, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			got := string(b)
			if !strings.Contains(got, "<!-- stafet bench: bulk -->\n`stafet bench") || strings.Contains(got, "\nold\n") ||
				!strings.HasSuffix(got, "<!-- end stafet bench: bulk -->\n\nafter\n") {
				t.Errorf("document:\n%s", got)
			}
			if !strings.Contains(got, out) || !strings.Contains(out, "| memory | bytes per open pathway") {
				t.Errorf("stdout:\n%s\nnot the table spliced in:\n%s", out, got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"bench", "-events", "2000", "-phase", "memory", "-durability", "bulk", "-tmp", t.TempDir()}, tt.args...)
			code, out, errOut := runCLI(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, errOut)
			}
			tt.check(t, out)
		})
	}
}
