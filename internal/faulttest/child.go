package faulttest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ChildEnv is set in the environment of a child started by StartChild:
// the test binary's TestMain runs stafetd when it is "1", configured by
// the STAFET_* environment, and prints "ready mllp=ADDR http=ADDR" on
// stdout once it serves.
const ChildEnv = "STAFET_RUN_AS_STAFETD"

// Process is a stafetd process started from this test binary.
type Process struct {
	cmd    *exec.Cmd
	MLLP   string
	HTTP   string
	stderr *Buffer
	exited chan struct{}
}

// Buffer collects a process's log for a test that fails: writes may
// come from any goroutine.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Reset forgets what was written so far.
func (l *Buffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// StartChild runs stafetd as a child process with env added to the
// defaults below, and waits until it serves.
func StartChild(t *testing.T, env map[string]string) *Process {
	t.Helper()
	vars := map[string]string{
		ChildEnv: "1", "STAFET_HTTP_ADDR": "127.0.0.1:0", "STAFET_MLLP_ADDR": "127.0.0.1:0",
		"STAFET_NATS_ADDR": "none", "STAFET_LOG_LEVEL": "warn", "STAFET_DRAIN": "2s", "STAFET_DATA_DIR": t.TempDir(),
	}
	for k, v := range env {
		vars[k] = v
	}
	WithKeyDir(vars)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &Process{cmd: cmd, stderr: &Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() || os.Getenv("FAULT_LOGS") != "" {
			t.Logf("log of stafetd process %d:\n%s", cmd.Process.Pid, c.stderr)
		}
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "ready ") {
				ready <- line
			}
		}
	}()
	select {
	case line := <-ready:
		for _, f := range strings.Fields(line)[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "mllp":
				c.MLLP = v
			case "http":
				c.HTTP = v
			}
		}
	case <-c.exited:
		t.Fatalf("stafetd process exited before serving: %s", c.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("stafetd process not serving in 20s: %s", c.stderr)
	}
	return c
}

// Kill ends the process with SIGKILL, as the OOM killer or a power cut
// would, and waits for it.
func (c *Process) Kill() {
	if c.cmd.Process != nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-c.exited
}

// Term stops the process with SIGTERM, as an orchestrator does, and waits
// for it to exit; after wait it kills it and says so.
func (c *Process) Term(wait time.Duration) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(wait):
		c.Kill()
		return fmt.Errorf("stafetd process did not stop in %v after SIGTERM", wait)
	}
}

// Log is what the process has written to its standard error so far.
func (c *Process) Log() string { return c.stderr.String() }

// WithKeyDir gives a test's stafetd a key directory of its own beside its
// data directory (the data directory's name and ".keys"), unless the
// test names one: restarts on the same data find the same keys, and no
// test writes into the home directory.
func WithKeyDir(vars map[string]string) {
	if vars["STAFET_KEY_DIR"] == "" {
		vars["STAFET_KEY_DIR"] = vars["STAFET_DATA_DIR"] + ".keys"
	}
}
