package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestCrashChild is not a test on its own: TestCrashKill runs the test
// binary again with STAFET_CRASH_DIR set, and this function then appends
// events as fast as it can, printing the id of each acknowledged one,
// until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("STAFET_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashKill")
	}
	s, err := engine.Open(context.Background(), engine.Config{DataDir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				pw := events.NewID()
				res, err := s.Log().Execute(context.Background(), cmd(pw, hospital, t0, &events.PathwayOpened{Patient: patient(t, "0102030405"), Cluster: "aarhus"}))
				if err != nil {
					fmt.Fprintln(os.Stderr, "worker", w, err)
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %s %d\n", pw, res.LastSeq)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestCrashKill kills a writing process with SIGKILL mid-append and checks
// that every event it had acknowledged is in the log after a restart.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	child.Env = append(os.Environ(), "STAFET_CRASH_DIR="+dir)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[uuid.UUID]uint64{}
	sc := bufio.NewScanner(stdout)
	deadline := time.Now().Add(60 * time.Second)
	for sc.Scan() && len(acked) < 300 && time.Now().Before(deadline) {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "ack" {
			var seq uint64
			fmt.Sscan(f[2], &seq)
			acked[uuid.MustParse(f[1])] = seq
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks printed after the count was reached but before the kill count too.
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ack" {
			acked[uuid.MustParse(f[1])] = 0
		}
	}
	child.Wait()
	if len(acked) < 300 {
		t.Fatalf("child acknowledged only %d events before the deadline", len(acked))
	}

	s := openStore(t, engine.Config{DataDir: dir})
	ctx := context.Background()
	missing := 0
	for pw := range acked {
		h, err := s.Log().Load(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) != 1 {
			missing++
		}
	}
	last, _ := s.Log().LastSeq(ctx)
	t.Logf("acknowledged %d, in the log after restart: %d of them, log holds %d", len(acked), len(acked)-missing, last)
	if missing > 0 {
		t.Errorf("got %d acknowledged events missing after SIGKILL; want 0", missing)
	}
}
