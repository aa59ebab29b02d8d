package engine

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// ReplayOptions bounds a replay and asks for progress.
type ReplayOptions struct {
	// From is the first sequence to read; 0 or 1 means the start.
	From uint64
	// To is the last sequence to read; 0 means the log's last sequence
	// when the replay starts.
	To uint64
	// Progress, if set, is called about once a second from the replay's
	// own goroutine.
	Progress func(ReplayStats)
}

// ReplayStats describes a replay so far.
type ReplayStats struct {
	Events   uint64
	Done     uint64 // last sequence applied
	Total    uint64 // last sequence to apply
	Elapsed  time.Duration
	Rate     float64 // events per second
	Estimate time.Duration
}

// Batch sizes of the replay pipeline: pulls of 10 000 messages keep the
// server busy (shared/NATS.md: replay speed is set by pull size and by not
// acking); decode batches of 512 amortise channel hand-offs.
const (
	replayPull  = 10000
	decodeBatch = 512
	replayQueue = 64 // batches waiting to be decoded or applied
)

type rawBatch struct {
	data [][]byte
	seqs []uint64
	// subjects and replies of the messages: a stand-in needs its
	// message's subject and stored time (in the reply); stamps are
	// their chain headers (chain.go), parsed as they arrived.
	subjects, replies []string
	stamps            []stamp
	// pending is how many messages the stream held after the batch's last
	// when it was delivered: 0 means the batch reached the log's end.
	pending uint64
	evs     []events.Envelope
	err     error
	done    chan struct{}
}

// Replay reads the log from opts.From to opts.To with one reader
// (pull.go) and applies every event to every projection in log order.
// Fetching, decoding (on all cores) and applying overlap. A message that
// cannot be taken in is quarantined, in each projection as a host would.
func (s *Log) Replay(ctx context.Context, opts ReplayOptions, ps ...Projection) (ReplayStats, error) {
	fs := make([]*folder, len(ps))
	for i, p := range ps {
		fs[i] = s.newFolder("replay", p)
	}
	return s.replay(ctx, opts, fs...)
}

// replay is Replay into folders.
func (s *Log) replay(ctx context.Context, opts ReplayOptions, fs ...*folder) (ReplayStats, error) {
	start := time.Now()
	to := opts.To
	if to == 0 {
		last, err := s.LastSeq(ctx)
		if err != nil {
			return ReplayStats{}, err
		}
		to = last
	}
	from := max(opts.From, 1)
	st := ReplayStats{Total: to}
	if to < from {
		return st, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Replay is the batches' last user, so it hands them back to be
	// filled again: fewer and smaller collections than a fresh batch of
	// 600 events (150 kB) every 3 ms.
	free := make(chan *rawBatch, 2*replayQueue)
	ordered, err := s.fetchInto(ctx, from, to, free)
	if err != nil {
		return st, err
	}
	err = s.applyInOrder(ctx, ordered, free, fs, &st, start, opts.Progress)
	cancel()
	for range ordered {
		// Let the fetcher finish so no goroutine outlives Replay.
	}
	st.Elapsed = time.Since(start)
	if st.Elapsed > 0 {
		st.Rate = float64(st.Events) / st.Elapsed.Seconds()
	}
	return st, err
}

// fetch starts the reader (read) and the decoders; it returns the
// batches in log order, each to be waited on (done) before use.
func (s *Log) fetch(ctx context.Context, from, to uint64) (<-chan *rawBatch, error) {
	return s.fetchInto(ctx, from, to, nil)
}

// fetchInto is fetch taking batches to fill from free when it has them.
func (s *Log) fetchInto(ctx context.Context, from, to uint64, free <-chan *rawBatch) (<-chan *rawBatch, error) {
	work := make(chan *rawBatch, replayQueue)
	ordered := make(chan *rawBatch, replayQueue)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := s.codec.NewDecoder()
			r := s.reader(newChainer(s.chainers.key))
			for b := range work {
				decodeRaw(dec, r, b)
			}
		}()
	}
	finished := make(chan struct{})
	cur := newRawBatch(free)
	var once sync.Once
	send := func(b *rawBatch) bool {
		select {
		case ordered <- b:
		case <-ctx.Done():
			return false
		}
		work <- b
		return true
	}
	// mu keeps the callback from sending on work after it is closed.
	var mu sync.Mutex
	stopped := false
	handle := func(seq, pending uint64, data []byte, subject, reply string, h nats.Header) {
		if seq > to {
			return
		}
		cur.data = append(cur.data, data)
		cur.seqs = append(cur.seqs, seq)
		cur.subjects = append(cur.subjects, subject)
		cur.replies = append(cur.replies, reply)
		cur.stamps = append(cur.stamps, stampOf(h))
		cur.pending = pending
		// Hand the batch on when it is full, at the end, or when the
		// stream has nothing more for now (live tailing).
		if len(cur.data) < decodeBatch && seq < to && pending > 0 {
			return
		}
		b := cur
		cur = newRawBatch(free)
		if !send(b) || seq >= to {
			once.Do(func() { close(finished) })
		}
	}
	stop, errc, err := s.read(ctx, from, to, func(seq, pending uint64, data []byte, subject, reply string, h nats.Header) {
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			handle(seq, pending, data, subject, reply, h)
		}
	})
	if err != nil {
		close(work)
		wg.Wait()
		return nil, err
	}
	go func() {
		var rerr error
		select {
		case <-finished:
		case <-ctx.Done():
		case rerr = <-errc:
		}
		stop()
		mu.Lock()
		stopped = true
		if rerr != nil {
			// After the batches sent: the applier stops at it.
			b := newRawBatch(nil)
			b.err = rerr
			close(b.done)
			select {
			case ordered <- b:
			case <-ctx.Done():
			}
		}
		close(work)
		mu.Unlock()
		wg.Wait()
		close(ordered)
	}()
	return ordered, nil
}

// read starts reading the log from sequence from on, handing each
// message to handle in log order from one goroutine: with the replay's
// own reader (pull.go) for a range that ends, with jetstream's ordered
// consumer, which rides out reconnects and server restarts, for following
// the log's live end (to is math.MaxUint64). errc, if not nil, receives
// an error when the reader cannot go on.
func (s *Log) read(ctx context.Context, from, to uint64, handle func(seq, pending uint64, data []byte, subject, reply string, h nats.Header)) (stop func(), errc <-chan error, err error) {
	if to != math.MaxUint64 {
		return s.readRange(ctx, from, func(m *nats.Msg, seq, pending uint64) {
			handle(seq, pending, m.Data, m.Subject, m.Reply, m.Header)
		})
	}
	// No subject filter: the stream holds EventSubjects only (setup), and
	// a filter, even that one, makes the server match every message's
	// subject against it as it reads (fileStore.firstMatching).
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("engine: replay: %w", err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		seq, pending, ok := ackPosition(m.Reply())
		if !ok {
			md, err := m.Metadata()
			if err != nil {
				return
			}
			seq, pending = md.Sequence.Stream, md.NumPending
		}
		handle(seq, pending, m.Data(), m.Subject(), m.Reply(), m.Headers())
	}, jetstream.PullMaxMessages(replayPull))
	if err != nil {
		return nil, nil, fmt.Errorf("engine: replay: %w", err)
	}
	return cc.Stop, nil, nil
}

// ackPosition reads a message's stream sequence and the messages pending
// after it from its JetStream reply subject, as Msg.Metadata does but
// without allocating (Metadata was 1.6 % of replay CPU). It reports false
// for a form ackFields does not know; the caller asks Metadata then.
func ackPosition(reply string) (seq, pending uint64, ok bool) {
	seq, _, pending, ok = ackFields(reply)
	return seq, pending, ok
}

// ackFields reads a message's stream sequence, its delivery sequence (the
// consumer's) and the messages pending after it from its JetStream reply
// subject:
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>[.<token>...]
func ackFields(reply string) (seq, dseq, pending uint64, ok bool) {
	rest, ok := strings.CutPrefix(reply, "$JS.ACK.")
	if !ok {
		return 0, 0, 0, false
	}
	// Counted with "$JS" and "ACK": 9 tokens in the old form, 11 or more
	// in the new one.
	at := 0 // the stream sequence's index after "$JS.ACK."
	switch n := strings.Count(reply, ".") + 1; {
	case n == 9:
		at = 3
	case n >= 11:
		at = 5
	default:
		return 0, 0, 0, false
	}
	var tokens [9]string
	for i := range at + 4 {
		tokens[i], rest, _ = strings.Cut(rest, ".")
	}
	seq, err1 := strconv.ParseUint(tokens[at], 10, 64)
	dseq, err2 := strconv.ParseUint(tokens[at+1], 10, 64)
	pending, err3 := strconv.ParseUint(tokens[at+3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return seq, dseq, pending, true
}

func newRawBatch(free <-chan *rawBatch) *rawBatch {
	select {
	case b := <-free:
		b.data, b.seqs, b.evs, b.err, b.done = b.data[:0], b.seqs[:0], b.evs[:0], nil, make(chan struct{})
		b.subjects, b.replies, b.stamps, b.pending = b.subjects[:0], b.replies[:0], b.stamps[:0], 0
		return b
	default:
	}
	return &rawBatch{
		data: make([][]byte, 0, decodeBatch), seqs: make([]uint64, 0, decodeBatch),
		subjects: make([]string, 0, decodeBatch), replies: make([]string, 0, decodeBatch), stamps: make([]stamp, 0, decodeBatch),
		done: make(chan struct{}),
	}
}

// decodeRaw decodes a batch's messages straight into its events, each
// checked against the chain; a message that cannot be taken in becomes
// its stand-in.
func decodeRaw(dec *events.Decoder, r storedReader, b *rawBatch) {
	defer close(b.done)
	// Commands yield 1.16 events on average; room for a quarter more
	// saves growing the slice in most batches.
	if n := len(b.data) + len(b.data)/4; cap(b.evs) < n {
		b.evs = make([]events.Envelope, 0, n)
	}
	for i, d := range b.data {
		b.evs = r.readStored(dec.DecodeCommit, b.evs, b.seqs[i], b.subjects[i], b.stamps[i], d, func() time.Time { return ackTime(b.replies[i]) })
	}
	// The messages' bodies are garbage now; the slices may be reused.
	clear(b.data)
	b.data = b.data[:0]
	clear(b.subjects)
	clear(b.replies)
	clear(b.stamps)
}

// ackTime reads a message's stored time from its JetStream reply subject
// (the token before the pending count); the zero time if it cannot.
func ackTime(reply string) time.Time {
	tokens := strings.Split(reply, ".")
	var at int
	switch n := len(tokens); {
	case n == 9:
		at = 7
	case n >= 11:
		at = 9
	default:
		return time.Time{}
	}
	ns, err := strconv.ParseInt(tokens[at], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (s *Log) applyInOrder(ctx context.Context, ordered <-chan *rawBatch, free chan<- *rawBatch, fs []*folder, st *ReplayStats, start time.Time, progress func(ReplayStats)) error {
	lastReport := start
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.err != nil {
			return b.err
		}
		for _, f := range fs {
			if err := f.apply(ctx, b.evs); err != nil {
				return err
			}
		}
		st.Events += uint64(len(b.evs))
		st.Done = b.seqs[len(b.seqs)-1]
		select {
		case free <- b:
		default:
		}
		if progress != nil && time.Since(lastReport) >= time.Second {
			lastReport = time.Now()
			progress(st.withRate(start))
		}
		if st.Done >= st.Total {
			return nil
		}
	}
	return ctx.Err()
}

func (st ReplayStats) withRate(start time.Time) ReplayStats {
	st.Elapsed = time.Since(start)
	if st.Elapsed > 0 {
		st.Rate = float64(st.Events) / st.Elapsed.Seconds()
	}
	if st.Rate > 0 && st.Total > st.Done {
		st.Estimate = time.Duration(float64(st.Total-st.Done) / st.Rate * float64(time.Second))
	}
	return st
}
