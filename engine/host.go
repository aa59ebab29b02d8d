package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// SnapshotStore is the object store bucket that keeps projection
// checkpoints.
const SnapshotStore = "stafet_snapshots"

// HostOptions tunes a Host. The zero value means the defaults.
type HostOptions struct {
	// CheckpointEvery is the most time between checkpoints while events
	// arrive. Default 1 minute.
	CheckpointEvery time.Duration
	// CheckpointEvents is the most events between checkpoints. Default
	// 1 000 000.
	CheckpointEvents uint64
	// OnApply, if set, is called after each batch of events is applied,
	// from the host's goroutine and outside its lock (use Read to query).
	OnApply func([]events.Envelope)
	// Watch is how often the host reads the log's end to tell live from
	// behind, stalled or cut off (Status). Default 1 s.
	Watch time.Duration
	// StallAfter is how long the projection may stand still while the log
	// holds more before it counts as stalled. Default 30 s.
	StallAfter time.Duration
	// StaleAfter is how old the last moment the projection held the whole
	// log may grow before its answers count as stale. Default 10 s.
	StaleAfter time.Duration
}

// Host keeps one projection current: it restores the last checkpoint,
// catches up with the log, follows it live, and checkpoints as it goes.
// One goroutine (Run) owns the projection's state; queries go through Read.
type Host struct {
	s    *Log
	name string
	opts HostOptions
	mu   sync.RWMutex
	// f holds the projection and its quarantine; replaced whole by a
	// rebuild, under mu.
	f *folder
	// book is f's quarantine, for readers that must not wait for mu.
	book    atomic.Pointer[book]
	applied atomic.Uint64
	ready   chan struct{}
	once    sync.Once
	watch   watch

	cpMu              sync.Mutex // guards the three fields below
	lastCheckpoint    time.Time
	lastCheckpointSeq uint64
	// checkpointBytes is the size of the checkpoint last written or
	// restored (Status).
	checkpointBytes int
}

// NewHost returns a host for p. The name keys its checkpoint: give a new
// name (e.g. with a version) when the projection's meaning changes, so an
// old checkpoint is not restored into it.
func (s *Log) NewHost(name string, p Projection, opts HostOptions) *Host {
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = time.Minute
	}
	if opts.CheckpointEvents == 0 {
		opts.CheckpointEvents = 1_000_000
	}
	if opts.Watch == 0 {
		opts.Watch = time.Second
	}
	if opts.StallAfter == 0 {
		opts.StallAfter = 30 * time.Second
	}
	if opts.StaleAfter == 0 {
		opts.StaleAfter = 10 * time.Second
	}
	h := &Host{s: s, name: name, opts: opts, f: s.newFolder(name, p), ready: make(chan struct{})}
	h.book.Store(h.f.book)
	return h
}

// Name returns the host's name, which keys its checkpoint.
func (h *Host) Name() string { return h.name }

// Read runs fn with the projection while no events are being applied.
// fn must not keep the projection or change it.
func (h *Host) Read(fn func(Projection)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	fn(h.f.p)
}

// Quarantine lists the stored messages the projection could not take in,
// by sequence, with the operator's decisions.
func (h *Host) Quarantine() []Quarantine { return h.book.Load().list() }

// Quarantined returns one quarantined message's record.
func (h *Host) Quarantined(seq uint64) (Quarantine, error) {
	q, ok := h.book.Load().get(seq)
	if !ok {
		return Quarantine{}, ErrNoQuarantine
	}
	return q, nil
}

// Applied returns the sequence of the last event applied.
func (h *Host) Applied() uint64 { return h.applied.Load() }

// Ready is closed once the projection has caught up with the log as it
// stood when Run started.
func (h *Host) Ready() <-chan struct{} { return h.ready }

// Lag returns how many events the log holds that the projection has not
// applied yet.
func (h *Host) Lag(ctx context.Context) (uint64, error) {
	last, err := h.s.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	return last - min(last, h.Applied()), nil
}

// Run restores the checkpoint, catches up and follows the log until ctx
// ends, then writes a last checkpoint.
func (h *Host) Run(ctx context.Context) (err error) {
	defer func() { h.watch.stop(err, ctx.Err() != nil) }()
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go h.watchLog(wctx)
	// Starting can meet passing errors (a fresh cluster without a leader
	// answers "no responders"): those are retried. A message the
	// projection cannot take in is quarantined; only a failure to read
	// the log, or a projection that cannot take a stand-in, stops it.
	if err := h.retry(ctx, "restore", func() error { return h.restore(ctx) }); err != nil {
		return err
	}
	var target uint64
	if err := h.retry(ctx, "read the log's end", func() (err error) { target, err = h.s.LastSeq(ctx); return err }); err != nil {
		return err
	}
	h.watch.start(h.Applied(), target)
	h.markReady(target)
	h.s.log.Info("projection catching up", "projection", h.name, "from", h.Applied()+1, "to", target)
	fctx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	var ordered <-chan *rawBatch
	err = h.retry(ctx, "start reading the log", func() (err error) {
		ordered, err = h.s.fetch(fctx, h.Applied()+1, math.MaxUint64)
		return err
	})
	if err != nil {
		return err
	}
	err = h.follow(ctx, ordered, target)
	// From here the host follows the log no more: its reads say so at
	// once, not after the drain and the last checkpoint, which can take
	// long on a loaded machine.
	h.watch.stop(err, ctx.Err() != nil)
	// Stop the fetcher before draining: it stops only when told to.
	stopFetch()
	for range ordered {
	}
	if err != nil && ctx.Err() == nil {
		h.s.log.Error("projection stopped", "projection", h.name, "applied", h.Applied(), "err", err)
	}
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return h.Checkpoint(cctx)
	}
	return err
}

// retry runs a start-up step until it succeeds or ctx ends.
func (h *Host) retry(ctx context.Context, what string, f func() error) error {
	return h.s.retry(ctx, "projection host: will retry", what, f, "projection", h.name)
}

func (h *Host) follow(ctx context.Context, ordered <-chan *rawBatch, target uint64) error {
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.err != nil {
			return b.err
		}
		h.mu.Lock()
		err := h.f.apply(ctx, b.evs)
		h.mu.Unlock()
		if err != nil {
			return fmt.Errorf("engine: projection %s: %w", h.name, err)
		}
		last := b.seqs[len(b.seqs)-1]
		h.applied.Store(last)
		h.watch.applied(last, b.pending == 0)
		h.markReady(target)
		if h.opts.OnApply != nil {
			h.opts.OnApply(b.evs)
		}
		if h.checkpointDue() {
			if err := h.Checkpoint(ctx); err != nil {
				h.s.log.Warn("checkpoint failed; will retry", "projection", h.name, "err", err)
			}
		}
	}
	return ctx.Err()
}

func (h *Host) markReady(target uint64) {
	if h.Applied() >= target {
		h.once.Do(func() {
			close(h.ready)
			h.s.log.Info("projection ready", "projection", h.name, "seq", h.Applied())
		})
	}
}

func (h *Host) checkpointDue() bool {
	h.mu.RLock()
	_, ok := h.f.p.(Snapshotter)
	h.mu.RUnlock()
	if !ok {
		return false
	}
	h.cpMu.Lock()
	defer h.cpMu.Unlock()
	n := h.Applied() - min(h.Applied(), h.lastCheckpointSeq)
	return n >= h.opts.CheckpointEvents || (n > 0 && time.Since(h.lastCheckpoint) >= h.opts.CheckpointEvery)
}

func (h *Host) objects(ctx context.Context) (jetstream.ObjectStore, error) {
	obs, err := h.s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: SnapshotStore, Description: "projection checkpoints",
		Storage: jetstream.FileStorage, Replicas: h.s.cfg.Replicas, Compression: true,
	})
	if err != nil {
		return nil, fmt.Errorf("engine: snapshots: %w", err)
	}
	return obs, nil
}

// Checkpoint saves the projection's state with the sequence it reflects.
func (h *Host) Checkpoint(ctx context.Context) error {
	start := time.Now()
	var data []byte
	var seq uint64
	var err error
	h.mu.RLock()
	snap, ok := h.f.p.(Snapshotter)
	if ok {
		seq = h.Applied()
		data, err = snap.Snapshot()
		if err == nil {
			data = checkpointBytes(h.f.book, data)
		}
	}
	h.mu.RUnlock()
	h.cpMu.Lock()
	unchanged := seq == h.lastCheckpointSeq
	h.cpMu.Unlock()
	if !ok || unchanged {
		return err
	}
	if err != nil {
		return fmt.Errorf("engine: snapshot %s: %w", h.name, err)
	}
	// A checkpoint must not get ahead of the log on disk: after a crash
	// of the machine the host would skip the events that take the lost
	// ones' sequences.
	if err := h.s.commitThrough(ctx, seq); err != nil {
		return err
	}
	obs, err := h.objects(ctx)
	if err != nil {
		return err
	}
	meta := jetstream.ObjectMeta{Name: h.name, Metadata: map[string]string{"seq": strconv.FormatUint(seq, 10)}}
	if _, err := obs.Put(ctx, meta, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("engine: checkpoint %s: %w", h.name, err)
	}
	h.cpMu.Lock()
	h.lastCheckpoint, h.lastCheckpointSeq, h.checkpointBytes = time.Now(), seq, len(data)
	h.cpMu.Unlock()
	h.s.log.Info("checkpoint written", "projection", h.name, "seq", seq, "bytes", len(data), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restore loads the last checkpoint, if the projection takes snapshots and
// one exists.
func (h *Host) restore(ctx context.Context) error {
	h.lastCheckpoint = time.Now()
	snap, ok := h.f.p.(Snapshotter)
	if !ok {
		return nil
	}
	obs, err := h.objects(ctx)
	if err != nil {
		return err
	}
	info, err := obs.GetInfo(ctx, h.name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: checkpoint %s: %w", h.name, err)
	}
	seq, err := strconv.ParseUint(info.Metadata["seq"], 10, 64)
	if err != nil {
		return fmt.Errorf("engine: checkpoint %s: bad seq %q", h.name, info.Metadata["seq"])
	}
	data, err := obs.GetBytes(ctx, h.name)
	if err != nil {
		return fmt.Errorf("engine: checkpoint %s: %w", h.name, err)
	}
	bk, data, err := readCheckpoint(data)
	if err == nil {
		// Readers (the scheduler's Due, the API) may already be asking:
		// the restore replaces the state under them.
		h.mu.Lock()
		err = snap.Restore(data)
		h.mu.Unlock()
	}
	if err != nil {
		// A checkpoint this build cannot read is not worth stopping for:
		// the log has everything; replay it from the start.
		h.s.log.Error("checkpoint unreadable; replaying the log from the start", "projection", h.name, "seq", seq, "err", err)
		return nil
	}
	h.f.book = bk
	h.book.Store(bk)
	h.applied.Store(seq)
	h.cpMu.Lock()
	h.lastCheckpointSeq, h.checkpointBytes = seq, int(info.Size)
	h.cpMu.Unlock()
	h.s.log.Info("checkpoint restored", "projection", h.name, "seq", seq, "bytes", len(data), "quarantined", bk.n.Load())
	return nil
}

// RebuildReport says what a shadow rebuild found.
type RebuildReport struct {
	Stats ReplayStats
	// Same is true when the rebuilt state's snapshot equals the serving
	// one's byte for byte (only known for Snapshotters): replaying the
	// whole log again gave exactly what the host had built event by event
	// and from checkpoints. False means they differ: Diff says how, where
	// the projection can tell.
	Same bool
	// Compared is false when the projection takes no snapshots, so Same
	// says nothing.
	Compared bool
	// Diff is the projection's own account of the differences, for
	// projections that implement Differ.
	Diff string
	// Quarantined counts the messages the rebuild could not take in and
	// that the operator has not resolved.
	Quarantined int
}

// Rebuild builds fresh from the start of the log beside the serving
// projection, reporting progress, then compares the two and swaps fresh in,
// with the quarantine its replay found. The host keeps serving the old
// state until the swap.
func (h *Host) Rebuild(ctx context.Context, fresh Projection, progress func(ReplayStats)) (RebuildReport, error) {
	var rep RebuildReport
	var st ReplayStats
	f := h.s.newFolder(h.name, fresh)
	if upTo := h.Applied(); upTo > 0 {
		var err error
		if st, err = h.s.replay(ctx, ReplayOptions{To: upTo, Progress: progress}, f); err != nil {
			return rep, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// Catch up with what the serving projection applied meanwhile; no more
	// is applied while the lock is held.
	if now := h.Applied(); now > st.Done {
		more, err := h.s.replay(ctx, ReplayOptions{From: st.Done + 1, To: now}, f)
		if err != nil {
			return rep, err
		}
		st.Events += more.Events
		st.Done = more.Done
	}
	// The serving projection moved on while the replay ran: the report's
	// total is where the rebuild ended, never short of what it did.
	st.Total = max(st.Total, st.Done)
	rep.Stats = st
	if d, ok := fresh.(Differ); ok {
		rep.Diff = d.Diff(h.f.p)
	}
	if a, ok := fresh.(Snapshotter); ok {
		b, okb := h.f.p.(Snapshotter)
		if okb {
			sa, err1 := a.Snapshot()
			sb, err2 := b.Snapshot()
			rep.Compared = true
			rep.Same = err1 == nil && err2 == nil && bytes.Equal(sa, sb)
		}
	}
	rep.Quarantined = len(f.book.open())
	h.f = f
	h.book.Store(f.book)
	h.cpMu.Lock()
	h.lastCheckpointSeq = 0
	h.cpMu.Unlock()
	return rep, nil
}
