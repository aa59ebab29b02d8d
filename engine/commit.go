package engine

import (
	"context"
	"sync"
	"sync/atomic"
)

// Commit returns when everything the store's server has stored so far is
// on disk: every handle's writes, whichever handle calls it. Appends
// (Execute, Append) and Inbox.Store wait for it before they return;
// Inbox.Send's pending write does not (the ingest relies on the append's
// commit, or calls Commit itself). Call it before acknowledging anything
// else written to JetStream (a key-value write, a dead letter). Without
// group commit (bulk mode, the server fsyncing each message, an external
// cluster) it returns at once.
func (s *conn) Commit(ctx context.Context) error {
	if s.commit == nil {
		return nil
	}
	s.commitWaits.Add(1)
	return s.commit.wait(ctx)
}

// CommitWaits is how many times a write waited for a group commit: each
// wait is an fsync's latency, so a path that waits twice for one message
// acknowledged is twice as slow as it needs to be in safe mode.
func (s *Store) CommitWaits() uint64 { return s.commitWaits.Load() }

// fsyncMode says how writes reach the disk, for the start-up log.
func (s *conn) fsyncMode() string {
	switch {
	case s.commit != nil:
		return "group"
	case s.ns == nil:
		return "the cluster's"
	case s.cfg.Durability == Safe:
		return "each"
	}
	return "server interval"
}

// commitThrough makes sure the event log is on disk up to seq, which must
// be a sequence the server had stored when the caller learnt of it. A
// reader catching up on many messages syncs once for all of them.
func (s *conn) commitThrough(ctx context.Context, seq uint64) error {
	if s.commit == nil || seq <= s.durableSeq.Load() {
		return nil
	}
	if err := s.commit.wait(ctx); err != nil {
		return err
	}
	maxUint(&s.durableSeq, seq)
	return nil
}

// noteStored records an event log sequence the server has acknowledged
// to this store.
func (s *conn) noteStored(seq uint64) { maxUint(&s.storedSeq, seq) }

// syncRecording wraps the file system sync so that it also advances
// durableSeq: every event the server had acknowledged when a sync began
// is on disk when it ends. A reactor then rarely waits for a sync of its
// own: the writer's sync has usually covered the event already.
func (s *conn) syncRecording(sync func() error) func() error {
	return func() error {
		covered := s.storedSeq.Load()
		if err := sync(); err != nil {
			return err
		}
		maxUint(&s.durableSeq, covered)
		return nil
	}
}

func maxUint(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// committer makes writes durable in groups: a writer whose message the
// server has stored (written to the file, not yet synced) waits for the
// next sync of the file system, and one sync serves every writer waiting
// at its start. With the embedded server's own per-message fsync, each
// message costs one fsync and the append rate is the disk's fsync rate;
// here one fsync covers the messages of all concurrent writers.
//
// A waiter is released only by a sync that began after it registered, so
// everything the server wrote before the wait is on disk when wait
// returns.
type committer struct {
	sync func() error

	mu      sync.Mutex
	waiting []chan error
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
}

func newCommitter(sync func() error) *committer {
	c := &committer{sync: sync, kick: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go c.run()
	return c
}

// wait returns when everything written before the call is on disk.
func (c *committer) wait(ctx context.Context) error {
	ch := make(chan error, 1)
	c.mu.Lock()
	c.waiting = append(c.waiting, ch)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		return ErrClosed
	}
}

func (c *committer) run() {
	defer close(c.stopped)
	for {
		select {
		case <-c.kick:
		case <-c.done:
			return
		}
		c.mu.Lock()
		batch := c.waiting
		c.waiting = nil
		c.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		err := c.sync()
		for _, ch := range batch {
			ch <- err
		}
	}
}

func (c *committer) stop() {
	close(c.done)
	<-c.stopped
}
