package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// HostState is where a projection host stands.
type HostState string

// Host states (docs/operations.md, "Health").
const (
	// Starting: restoring the checkpoint, reading the log's end.
	Starting HostState = "starting"
	// CatchingUp: applying the log as it stood at start.
	CatchingUp HostState = "catching-up"
	// Live: following the log; what it answers is at most a moment old.
	Live HostState = "live"
	// Stalled: the log holds events the projection has not applied and it
	// has not moved for HostOptions.StallAfter.
	Stalled HostState = "stalled"
	// Stopped: Run returned; Err says why.
	Stopped HostState = "stopped"
)

// HostStatus is what a host can say about how fresh its projection is.
type HostStatus struct {
	State HostState
	// Applied is the last sequence applied; LogEnd the log's last sequence
	// when last read, at CheckedAt.
	Applied, LogEnd uint64
	CheckedAt       time.Time
	// Target is the log's end when Run started: catching up means
	// applying up to it.
	Target uint64
	// AsOf is the last moment the projection held every event the log
	// held: its answers reflect the log as of then.
	AsOf time.Time
	// Stale: the answers may miss events — the host is not live, or AsOf
	// is older than HostOptions.StaleAfter.
	Stale bool
	// StalledFor is how long the projection has stood still while the log
	// held more (only while the log holds more).
	StalledFor time.Duration
	// Err is why the host stopped, or the last failure to read the log's
	// end.
	Err string
	// Quarantined counts the messages out of the history, unresolved.
	Quarantined int
	// CheckpointSeq and CheckpointBytes are the sequence and size of the
	// checkpoint last written or restored; 0 when there is none. After a
	// restart, Applied - CheckpointSeq events were applied from the log.
	CheckpointSeq   uint64
	CheckpointBytes int
}

// Progress is the share of the log as it stood at start that is applied,
// from 0 to 1.
func (st HostStatus) Progress() float64 {
	if st.Target == 0 || st.Applied >= st.Target {
		return 1
	}
	return float64(st.Applied) / float64(st.Target)
}

// watch is what a host knows of its own progress and of the log's end.
type watch struct {
	mu        sync.Mutex
	started   bool
	target    uint64
	logEnd    uint64
	checkedAt time.Time
	checkErr  error
	asOf      time.Time
	// ends are the log's ends read and not yet reached, oldest first:
	// reaching one means the projection held the log as of its reading,
	// even if the log has grown since (a busy log is never quite caught).
	ends    []logEnd
	last    uint64    // applied at the last move
	movedAt time.Time // when applied last moved
	stopped bool
	stopErr error
}

type logEnd struct {
	seq uint64
	at  time.Time
}

// maxEnds bounds the readings kept while the projection stands still.
const maxEnds = 64

// reached moves asOf to the latest reading of the log's end that applied
// covers.
func (w *watch) reached(applied uint64) {
	i := 0
	for ; i < len(w.ends) && w.ends[i].seq <= applied; i++ {
		if w.ends[i].at.After(w.asOf) {
			w.asOf = w.ends[i].at
		}
	}
	w.ends = w.ends[i:]
}

func (w *watch) start(applied, target uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	w.started, w.target, w.last, w.movedAt = true, target, applied, now
	if w.logEnd < target {
		w.logEnd, w.checkedAt = target, now
	}
	if applied >= target {
		w.asOf = now
	}
}

// applied notes a batch applied through seq; atEnd says it reached the
// log's end as the stream saw it when delivering the batch.
func (w *watch) applied(seq uint64, atEnd bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	w.last, w.movedAt = seq, now
	if atEnd {
		w.asOf = now
	}
	w.reached(seq)
	if seq > w.logEnd {
		w.logEnd = seq
	}
}

// checked notes the log's end, read at at.
func (w *watch) checked(end uint64, at time.Time, applied uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checkErr = err
	if err != nil {
		return
	}
	w.logEnd, w.checkedAt = max(end, w.logEnd), at
	if !w.started {
		return
	}
	if len(w.ends) == maxEnds {
		w.ends = w.ends[1:]
	}
	w.ends = append(w.ends, logEnd{end, at})
	w.reached(max(applied, w.last))
}

func (w *watch) stop(err error, shutdown bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if err == nil && shutdown {
		err = errors.New("shut down")
	}
	w.stopErr = err
}

// watchLog reads the log's end every Watch until ctx ends: a projection
// that stops moving while the log grows is seen as stalled, and one cut
// off from the log as stale, whether or not anything arrives.
func (h *Host) watchLog(ctx context.Context) {
	t := time.NewTicker(h.opts.Watch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Applied is read before the end: a projection that applied
		// everything up to an end read after it held that end.
		applied := h.Applied()
		cctx, cancel := context.WithTimeout(ctx, h.opts.Watch)
		at := time.Now()
		end, err := h.s.LastSeq(cctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.watch.checked(end, at, applied, err)
	}
}

// Status says how fresh the projection is.
func (h *Host) Status() HostStatus {
	open := len(h.book.Load().open())
	w := &h.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	st := HostStatus{
		Applied: h.Applied(), LogEnd: w.logEnd, CheckedAt: w.checkedAt, Target: w.target, AsOf: w.asOf,
		Quarantined: open,
	}
	h.cpMu.Lock()
	st.CheckpointSeq, st.CheckpointBytes = h.lastCheckpointSeq, h.checkpointBytes
	h.cpMu.Unlock()
	if w.checkErr != nil {
		st.Err = "reading the log's end: " + w.checkErr.Error()
	}
	if st.LogEnd > st.Applied {
		st.StalledFor = now.Sub(w.movedAt)
	}
	switch {
	case w.stopped:
		st.State = Stopped
		if w.stopErr != nil {
			st.Err = w.stopErr.Error()
		}
	case !w.started:
		st.State = Starting
	case !h.isReady():
		st.State = CatchingUp
	case st.StalledFor >= h.opts.StallAfter:
		st.State = Stalled
	default:
		st.State = Live
	}
	st.Stale = st.State != Live || now.Sub(st.AsOf) > h.opts.StaleAfter
	return st
}

func (h *Host) isReady() bool {
	select {
	case <-h.ready:
		return true
	default:
		return false
	}
}

// A checkpoint is the quarantine and the projection's snapshot:
// checkpointMagic, the quarantine's length and JSON, then the snapshot.
// One written before the quarantine existed is the snapshot alone.
const checkpointMagic = "STFH\x01"

func checkpointBytes(b *book, snapshot []byte) []byte {
	q := b.marshal()
	out := make([]byte, 0, len(checkpointMagic)+binary.MaxVarintLen64+len(q)+len(snapshot))
	out = append(out, checkpointMagic...)
	out = binary.AppendUvarint(out, uint64(len(q)))
	out = append(out, q...)
	return append(out, snapshot...)
}

func readCheckpoint(data []byte) (*book, []byte, error) {
	b := newBook()
	if len(data) < len(checkpointMagic) || string(data[:len(checkpointMagic)]) != checkpointMagic {
		return b, data, nil
	}
	rest := data[len(checkpointMagic):]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return nil, nil, fmt.Errorf("engine: checkpoint: quarantine truncated")
	}
	if err := b.unmarshal(rest[k : k+int(n)]); err != nil {
		return nil, nil, fmt.Errorf("engine: checkpoint: quarantine: %w", err)
	}
	return b, rest[k+int(n):], nil
}
