package faulttest

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"
)

// AwaitRunning reads a stafetd's log from stderr until it says it is
// running and returns the lines read so far; the rest of the log is
// drained so the process never blocks on a full pipe. The test fails,
// with the log, if stafetd ends first or is not running within two
// minutes.
func AwaitRunning(t *testing.T, stderr io.Reader) []string {
	t.Helper()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
			if strings.Contains(sc.Text(), "stafetd running") {
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	var log []string
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stafetd ended before it ran:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, l)
			if strings.Contains(l, "stafetd running") {
				return log
			}
		case <-timeout:
			t.Fatalf("stafetd did not start within 2 minutes:\n%s", strings.Join(log, "\n"))
		}
	}
}
