package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A replay reads a known range of the log (up to the last sequence when
// it starts) with a reader of its own: an ephemeral pull consumer, pull
// requests published on the store's connection and one subscription on
// an inbox, each message handed on as the connection delivered it.
// jetstream's ordered consumer, which the host keeps for following the
// log's live end, wraps every message on the way (parses its metadata,
// resets a heartbeat timer, builds a jetstream.Msg), which the replay
// pays for in CPU (docs/performance.md, "The replay's own reader"). The
// reader keeps the ordered consumer's promise
// its own way: every message once and in log order, or an error. When
// the server ends its consumer (deleted, a leader change), answers a pull
// request "no responders" (a cluster node that does not know the new
// consumer yet; jetstream's ordered consumer waits two heartbeats then), a
// delivery is missing, or the server falls silent past three heartbeats,
// it starts a new consumer after the last message it handed on.
// pullBatch is how many messages one pull request asks for (a test reads
// a small log through many).
var pullBatch = replayPull

const (
	pullHeartbeat = 5 * time.Second
	pullExpires   = 30 * time.Second
	// pullRestarts is how many new consumers in a row, with no message
	// between them, the reader tries before it gives up.
	pullRestarts = 5
)

// rangeReader reads the event log from a sequence on; see above.
type rangeReader struct {
	s       *Log
	deliver func(m *nats.Msg, seq, pending uint64)
	errc    chan error
	restart chan string

	mu       sync.Mutex
	next     uint64 // the stream sequence of the next message to hand on
	gen      int    // the consumer's generation: messages of older ones are dropped
	sub      *nats.Subscription
	consumer string
	subject  string // its pull requests'
	dseq     uint64 // the last delivery sequence of this generation
	wanted   int    // messages asked for and not yet delivered
	heard    time.Time
	busy     bool // in deliver: the pipeline holds the reader back, the server is not silent
	restarts int
	stopped  bool
	pullBody []byte
}

// readRange starts a reader of the log from sequence from on, calling
// deliver with each message in order, its stream sequence and the
// messages after it, from one goroutine. It stops when stop is called or
// ctx ends; errc receives an error if it cannot go on.
func (s *Log) readRange(ctx context.Context, from uint64, deliver func(m *nats.Msg, seq, pending uint64)) (stop func(), errc <-chan error, err error) {
	r := &rangeReader{
		s: s, deliver: deliver, next: from,
		errc: make(chan error, 1), restart: make(chan string, 1),
		pullBody: fmt.Appendf(nil, `{"batch":%d,"expires":%d,"idle_heartbeat":%d}`, pullBatch, pullExpires.Nanoseconds(), pullHeartbeat.Nanoseconds()),
	}
	if err := r.start(ctx); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.watch(ctx)
	}()
	return func() {
		cancel()
		<-done
		r.mu.Lock()
		r.stopped = true
		r.mu.Unlock()
		r.close()
	}, r.errc, nil
}

// start makes a consumer from r.next on and asks for the first messages.
func (r *rangeReader) start(ctx context.Context) error {
	r.mu.Lock()
	from := r.next
	r.gen++
	gen := r.gen
	r.mu.Unlock()
	cons, err := r.s.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
		AckPolicy: jetstream.AckNonePolicy, MemoryStorage: true, Replicas: 1,
		// Left behind only if stafetd stops mid-replay.
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		return fmt.Errorf("engine: replay: %w", err)
	}
	name := cons.CachedInfo().Name
	sub, err := r.s.nc.Subscribe(r.s.nc.NewInbox(), func(m *nats.Msg) { r.receive(gen, m) })
	if err != nil {
		r.deleteConsumer(name)
		return fmt.Errorf("engine: replay: %w", err)
	}
	// The pull requests bound what is in flight (two of pullBatch).
	sub.SetPendingLimits(-1, -1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sub, r.consumer, r.dseq, r.wanted, r.heard = sub, name, 0, 0, time.Now()
	r.subject = "$JS.API.CONSUMER.MSG.NEXT." + EventStream + "." + name
	r.pull()
	r.pull()
	return nil
}

// pull asks for pullBatch more messages. r.mu is held.
func (r *rangeReader) pull() {
	r.wanted += pullBatch
	if err := r.s.nc.PublishRequest(r.subject, r.sub.Subject, r.pullBody); err != nil {
		r.askRestart("pull request: " + err.Error())
	}
}

// receive takes one message of generation gen from the subscription.
func (r *rangeReader) receive(gen int, m *nats.Msg) {
	r.mu.Lock()
	if r.stopped || gen != r.gen {
		r.mu.Unlock()
		return
	}
	r.heard = time.Now()
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		r.status(m)
		r.mu.Unlock()
		return
	}
	seq, dseq, pending, ok := ackFields(m.Reply)
	switch {
	case !ok:
		r.askRestart("a message without its position")
	case dseq != r.dseq+1 || seq < r.next:
		r.askRestart(fmt.Sprintf("delivery %d after %d (stream sequence %d, want %d or later)", dseq, r.dseq, seq, r.next))
	default:
		r.dseq, r.next, r.restarts = dseq, seq+1, 0
		if r.wanted--; r.wanted <= pullBatch/2 {
			r.pull()
		}
		r.busy = true
		r.mu.Unlock()
		r.deliver(m, seq, pending)
		r.mu.Lock()
		r.busy = false
	}
	r.mu.Unlock()
}

// status handles a status message of the server's. r.mu is held.
func (r *rangeReader) status(m *nats.Msg) {
	switch code := m.Header.Get("Status"); code {
	case "100": // idle heartbeat
	case "408": // a pull request expired; what it did not deliver is asked again
		if n, err := strconv.Atoi(m.Header.Get("Nats-Pending-Messages")); err == nil {
			r.wanted -= n
		}
		if r.wanted <= pullBatch/2 {
			r.pull()
		}
	default: // 409: the consumer was deleted, its leader changed, …; 503: no node knew the consumer (yet)
		r.askRestart("the server said " + code + " " + m.Header.Get("Description"))
	}
}

// askRestart asks the watcher for a new consumer. r.mu is held.
func (r *rangeReader) askRestart(why string) {
	select {
	case r.restart <- why:
	default:
	}
}

// watch restarts the consumer when asked, and when the server has been
// silent for three heartbeats while the reader waited for it.
func (r *rangeReader) watch(ctx context.Context) {
	tick := time.NewTicker(pullHeartbeat)
	defer tick.Stop()
	for {
		var why string
		select {
		case <-ctx.Done():
			return
		case why = <-r.restart:
		case <-tick.C:
			if why = r.silence(); why == "" {
				continue
			}
		}
		if err := r.again(ctx, why); err != nil {
			if ctx.Err() == nil {
				r.errc <- err
			}
			return
		}
	}
}

// silence says why the reader should restart if the server has said
// nothing for three heartbeats while nothing waited in the subscription.
func (r *rangeReader) silence() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	pending, _, _ := r.sub.Pending()
	if r.busy || pending > 0 || time.Since(r.heard) < 3*pullHeartbeat {
		return ""
	}
	return "no message and no heartbeat for " + time.Since(r.heard).Round(time.Second).String()
}

// again replaces the consumer by a new one after the last message handed
// on.
func (r *rangeReader) again(ctx context.Context, why string) error {
	r.mu.Lock()
	r.restarts++
	n, next := r.restarts, r.next
	r.mu.Unlock()
	if n > pullRestarts {
		return fmt.Errorf("engine: replay: %d new consumers in a row read nothing from sequence %d: %s", pullRestarts, next, why)
	}
	r.s.stats.ReaderRestarts.Add(1)
	r.s.log.Warn("replay: a new consumer takes over the read", "from", next, "why", why)
	r.close()
	return r.start(ctx)
}

// close ends the current consumer and its subscription.
func (r *rangeReader) close() {
	r.mu.Lock()
	sub, name := r.sub, r.consumer
	r.mu.Unlock()
	if sub != nil {
		sub.Unsubscribe()
	}
	r.deleteConsumer(name)
}

// deleteConsumer deletes an ephemeral consumer the reader no longer
// reads, so that the server stops delivering to it now rather than when
// its inactivity threshold passes.
func (r *rangeReader) deleteConsumer(name string) {
	if name == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.s.stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.s.log.Warn("replay: could not delete its consumer; the server deletes it after a minute", "consumer", name, "err", err)
	}
}
