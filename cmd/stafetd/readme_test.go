package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/faulttest"
)

// TestREADMEWalkthrough runs every command of the README's walk-through
// (between its "walk-through" markers) as a newcomer would, in a fresh
// directory, with stafetd's HTTP, MLLP and NATS ports all moved off their
// defaults in the environment, as the README tells: the command line must
// find stafetd by stafetd's own settings. The commands run as written,
// with three changes a reader makes too: the build writes to the test's
// directory, the pathway's placeholder is an id from the last list before
// it, and the simulation runs 15 seconds instead of 60 (the rules are
// compressed alike, so gaps open within it).
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the programs and runs stafetd and the simulator")
	}
	cmds := walkthrough(t, "../../README.md")
	dir := t.TempDir()
	port := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	base := append(os.Environ(),
		"STAFET_URL=", "STAFET_TOKEN=", "STAFET_ADMIN_TOKEN=", "STAFET_DATA_DIR=", "STAFET_KEY_DIR=",
		// The newcomer's configuration directory, where the keys go: the
		// test's own, not the home directory of the machine running it.
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	withPorts := func() []string {
		return append(base[:len(base):len(base)], "STAFET_HTTP_ADDR="+port(), "STAFET_MLLP_ADDR="+port(), "STAFET_NATS_ADDR="+port())
	}
	env := withPorts()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	placeholder := regexp.MustCompile(`<[^>]+>`)
	pathway := regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	var listed string // the last output that listed pathways
	// What each command shows when it works.
	shows := map[string]*regexp.Regexp{
		"bin/stafet simulate -time-scale 60 -duration": regexp.MustCompile(`Ran .*: \d+ pathways, \d+ messages sent`),
		"bin/stafet gaps\n":                            pathway,
		"bin/stafet pathway show":                      regexp.MustCompile(`Pathway ` + pathway.String() + ` \(`),
		"bin/stafet worklist -org Aarhus":              regexp.MustCompile(`Worklist of Aarhus \(kommune:0751\)`),
		"bin/stafet messages channels":                 regexp.MustCompile(`(?m)^(hl7v2|medcom) +\S+`),
		"bin/stafet token issue":                       regexp.MustCompile(`\bstf_[A-Za-z0-9_-]{20,}`),
	}
	for _, line := range cmds {
		t.Logf("$ %s", line)
		cmd, wd := line, dir
		switch {
		case strings.HasPrefix(line, "go build "):
			cmd, wd = strings.Replace(line, "-o bin/", "-o "+filepath.Join(dir, "bin")+"/", 1), root
		case strings.Contains(line, "-duration 60s"):
			cmd = strings.Replace(line, "-duration 60s", "-duration 15s", 1)
		case placeholder.MatchString(line):
			id := pathway.FindString(listed)
			if id == "" {
				t.Fatalf("%q needs a pathway id from a list before it; none printed one", line)
			}
			cmd = placeholder.ReplaceAllString(line, id[len(id)-8:])
		}
		if strings.HasSuffix(strings.Fields(cmd)[len(strings.Fields(cmd))-1], "bin/stafetd") {
			// Free ports picked just before stafetd binds them: picked
			// before the build, the build's seconds let another package's
			// connections take one (CI saw "address already in use").
			env = withPorts()
			startStafetd(t, cmd, dir, env)
			continue
		}
		c := exec.Command("sh", "-c", cmd)
		c.Dir, c.Env = wd, env
		out, err := c.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		t.Logf("%s", out)
		if pathway.Match(out) {
			listed = string(out)
		}
		for prefix, want := range shows {
			if strings.HasPrefix(line+"\n", prefix) && !want.Match(out) {
				t.Errorf("%s: the output lacks %s:\n%s", line, want, out)
			}
		}
	}
}

// walkthrough returns the commands of the README's walk-through: the
// indented lines between its markers.
func walkthrough(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "<!-- walk-through")
	end := strings.Index(s, "<!-- /walk-through -->")
	if start < 0 || end < start {
		t.Fatal("the README has no walk-through between <!-- walk-through … --> and <!-- /walk-through -->")
	}
	var cmds []string
	for _, line := range strings.Split(s[start:end], "\n") {
		if strings.HasPrefix(line, "    ") && strings.TrimSpace(line) != "" {
			cmds = append(cmds, strings.TrimSpace(line))
		}
	}
	if len(cmds) < 6 {
		t.Fatalf("the walk-through has %d commands; want the build, stafetd, the simulator and the reads", len(cmds))
	}
	return cmds
}

// startStafetd starts a stafetd command line in the background, as the
// README's first terminal, and stops it when the test ends.
func startStafetd(t *testing.T, line, dir string, env []string) {
	t.Helper()
	// The line's leading NAME=value words are its environment; the
	// program is signalled itself, not a shell around it.
	words := strings.Fields(line)
	for len(words) > 1 && strings.Contains(words[0], "=") {
		env = append(env[:len(env):len(env)], words[0])
		words = words[1:]
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := exec.CommandContext(ctx, filepath.Join(dir, words[0]), words[1:]...)
	c.Dir, c.Env = dir, env
	c.Cancel = func() error { return c.Process.Signal(os.Interrupt) }
	c.WaitDelay = 30 * time.Second
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); c.Wait() })
	log := faulttest.AwaitRunning(t, stderr)
	if first := log[0]; !strings.Contains(first, "data_dir=") || !strings.Contains(first, "operator_token=") || !strings.Contains(first, "key_dir="+dir) {
		t.Errorf("stafetd's first line: %q; want where its data, the operator token and its keys (in the test's directory) are", first)
	}
}

// TestDocsImagesExist checks that every image the README and docs/ show
// is in the repository: the dashboard's screenshots are files in
// docs/screenshots, made by TestDashboard (STAFET_ARTEFACTS keeps them).
func TestDocsImagesExist(t *testing.T) {
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "../../README.md")
	image := regexp.MustCompile(`!\[[^\]]*\]\(([^)\s]+)\)`)
	shown := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range image.FindAllStringSubmatch(string(b), -1) {
			if strings.Contains(m[1], "://") {
				continue
			}
			shown++
			file := filepath.Join(filepath.Dir(page), m[1])
			t.Run(filepath.Base(page)+"/"+m[1], func(t *testing.T) {
				if _, err := os.Stat(file); err != nil {
					t.Errorf("%s shows %s: %v", page, m[1], err)
				}
			})
		}
	}
	if shown < 10 {
		t.Errorf("%d images shown in the docs; want the dashboard's pages in docs/dashboard.md and two in the README", shown)
	}
}
