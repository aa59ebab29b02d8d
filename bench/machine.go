package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// Build says which code ran.
type Build struct {
	// Commit is the VCS revision the binary was built from or, when the
	// binary does not say (go run, go test, GOFLAGS=-buildvcs=false), the
	// HEAD of the working directory's repository when the run started:
	// the code that ran when it runs with go run from the repository, as
	// docs/performance.md's commands do. "unknown" without either.
	Commit string `json:"commit"`
	// Modified: Go files differed from the commit.
	Modified bool   `json:"modified"`
	Go       string `json:"go"`
}

func build() Build {
	b := Build{Commit: "unknown", Go: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Commit != "unknown" {
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "git", "rev-parse", "HEAD").Output(); err == nil {
		b.Commit = strings.TrimSpace(string(out))
		// Only the code counts: regenerating docs/performance.md must not
		// mark the next run modified.
		out, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no", "--", "*.go", "go.mod", "go.sum").Output()
		b.Modified = err != nil || len(strings.TrimSpace(string(out))) > 0
	}
	return b
}

// Machine says where it ran.
type Machine struct {
	GOMAXPROCS int    `json:"gomaxprocs"`
	NumCPU     int    `json:"num_cpu"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	CPU        string `json:"cpu"`
	// LoadAvg is /proc/loadavg's 1, 5 and 15 minute load averages when the
	// run started: other work on the machine.
	LoadAvg string `json:"load_avg"`
}

func machine() Machine {
	return Machine{
		GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPU: cpuModel(), LoadAvg: loadAvg(),
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

// load1 returns the 1-minute load average, or -1 where there is none.
func load1() float64 {
	f := strings.Fields(loadAvg())
	if v, err := strconv.ParseFloat(f[0], 64); err == nil {
		return v
	}
	return -1
}

// profileIf runs fn under the CPU profiler when on and Options.CPUProfile
// is set, writing CPUProfile-<phase>.
func (b *bencher) profileIf(on bool, phase string, fn func() error) error {
	if !on || b.o.CPUProfile == "" {
		return fn()
	}
	ext := filepath.Ext(b.o.CPUProfile)
	path := strings.TrimSuffix(b.o.CPUProfile, ext) + "-" + phase + ext
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
