package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// Every waiter is released by a sync that began after it started waiting,
// and one sync serves many waiters.
func TestCommitterGroupsAndOrders(t *testing.T) {
	var started, finished atomic.Int64
	c := newCommitter(func() error {
		n := started.Add(1)
		time.Sleep(2 * time.Millisecond)
		finished.Store(n)
		return nil
	})
	defer c.stop()
	var wg sync.WaitGroup
	var early atomic.Int64
	const waiters = 200
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			before := started.Load()
			if err := c.wait(context.Background()); err != nil {
				t.Error(err)
				return
			}
			if finished.Load() <= before {
				early.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := early.Load(); n > 0 {
		t.Errorf("%d waiters released by a sync that began before they waited", n)
	}
	if n := started.Load(); n == 0 || n >= waiters/2 {
		t.Errorf("%d syncs for %d waiters; want a few", n, waiters)
	}
}

func TestCommitterErrorsAndStop(t *testing.T) {
	boom := errors.New("disk on fire")
	c := newCommitter(func() error { return boom })
	if err := c.wait(context.Background()); !errors.Is(err, boom) {
		t.Errorf("got %v; want the sync's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := newCommitter(func() error { time.Sleep(time.Second); return nil })
	if err := slow.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: got %v", err)
	}
	c.stop()
	if err := c.wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("after stop: got %v; want ErrClosed", err)
	}
	slow.stop()
}

// In safe mode the embedded store groups its fsyncs; FsyncEach and bulk
// leave them to the server.
func TestGroupCommitMode(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   Config
		group bool
	}{
		{"safe", Config{}, groupCommitAvailable},
		{"safe, fsync each", Config{FsyncEach: true}, false},
		{"bulk", Config{Durability: Bulk}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.DataDir = t.TempDir()
			s, err := Open(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.commit != nil; got != tt.group {
				t.Errorf("group commit: got %t; want %t", got, tt.group)
			}
			if got := s.ns.JetStreamConfig().SyncAlways; got != (tt.cfg.Durability != Bulk && !tt.group) {
				t.Errorf("server sync_always: got %t", got)
			}
			if err := s.Commit(context.Background()); err != nil {
				t.Errorf("commit: %v", err)
			}
		})
	}
}

// Concurrent appends in safe mode share syncs, and every append waits for
// one.
func TestExecuteWaitsForGroupCommit(t *testing.T) {
	if !groupCommitAvailable {
		t.Skip("no group commit on this system")
	}
	s, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var syncs atomic.Int64
	inner := s.commit.sync
	s.commit.sync = func() error { syncs.Add(1); return inner() }
	ref, err := s.Vault().Ref("0102030405")
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 10
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				before := syncs.Load()
				c := events.Command{Pathway: events.NewID(), Actor: events.Actor{Org: "kommune:0751"}, OccurredAt: time.Now(),
					Payloads: []events.Payload{&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}}}
				if _, err := s.Log().Execute(context.Background(), c); err != nil {
					t.Error(err)
					return
				}
				if syncs.Load() == before {
					t.Error("Execute returned without a sync")
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := syncs.Load(); n >= writers*each {
		t.Errorf("%d syncs for %d appends; want them shared", n, writers*each)
	}
	t.Logf("%d appends, %d syncs", writers*each, syncs.Load())
}
