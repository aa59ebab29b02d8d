package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
)

// The raw JetStream baselines. This file is the only part of the bench
// that reaches past the engine's handles: it is a bare JetStream client,
// and it talks to the store's server through the store's own connection
// (Store.NATS().Conn), as stafetd's NATS user. The embedded server has no
// anonymous access, and the bench opens none.

// fillWindow is how many messages the template's filler has in flight,
// published and not yet acknowledged: as many as the store's own
// JetStream context allows (engine.Open).
const fillWindow = 4096

// publisher publishes stored messages to a store's event stream with
// async publish on their own subjects: bare (the subject and body only),
// or checked, with what Execute's append adds — the Stafet-Prev header
// and the expected-sequence check (a pathway's first message checked
// across clusters, later ones on their literal subject).
type publisher struct {
	s       *engine.Store
	checked bool
	// window is the most messages unacknowledged at a time; default
	// fillWindow. The append phase gives the raw sides as many as Stafet
	// has writers, each waiting for its own append: the same concurrency.
	window int
}

// publish publishes msgs in order until all are acknowledged or stop
// passes (zero: no limit) and returns how many messages and events were
// acknowledged. A message counts as acknowledged once the server has
// stored it and a commit of the store has covered it (engine.Log.Commit:
// in safe mode with group commit, one file-system sync for every batch
// of messages waiting, as Execute's appends wait for; with the server
// fsyncing each message or in bulk mode, at once).
func (p publisher) publish(ctx context.Context, msgs []stored, stop time.Time) (int, int, error) {
	window := p.window
	if window == 0 {
		window = fillWindow
	}
	js, err := jetstream.New(p.s.NATS().Conn(), jetstream.WithPublishAsyncMaxPending(window))
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	futures := make(chan jetstream.PubAckFuture, window)
	slots := make(chan struct{}, window)
	c := &covered{stored: make(chan int, 1)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); c.await(ctx, cancel, futures) }()
	go func() { defer wg.Done(); c.commit(ctx, cancel, p.s.Log(), slots) }()

	published := 0
	for _, m := range msgs {
		if !stop.IsZero() && time.Now().After(stop) {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		f, err := js.PublishMsgAsync(p.msg(m), p.expect(m)...)
		if err != nil {
			cancel(fmt.Errorf("raw publish: %w", err))
			break
		}
		futures <- f
		published++
	}
	close(futures)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	n := c.synced
	evs := 0
	for _, m := range msgs[:n] {
		evs += m.events
	}
	return n, evs, nil
}

func (p publisher) msg(m stored) *nats.Msg {
	msg := &nats.Msg{Subject: m.subject, Data: m.data}
	switch {
	case p.checked && m.header != nil:
		msg.Header = m.header
	case p.checked:
		msg.Header = nats.Header{engine.HeaderPrev: []string{strconv.FormatUint(m.prev, 10)}}
	}
	return msg
}

func (p publisher) expect(m stored) []jetstream.PublishOpt {
	opts := []jetstream.PublishOpt{jetstream.WithStallWait(time.Minute)}
	switch {
	case !p.checked:
	case m.prev == 0:
		opts = append(opts, jetstream.WithExpectLastSequenceForSubject(0, engine.PathwayFilter(m.pathway)))
	default:
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(m.prev))
	}
	return opts
}

// covered follows a raw publisher's messages from stored to acknowledged.
type covered struct {
	// stored carries how many messages the server has stored, in
	// publish order, whenever it grows; closed when all are.
	stored chan int
	// synced is how many are acknowledged: stored and on disk. Read it
	// after commit returns.
	synced int
}

// await waits for each message's acknowledgement from the server, in
// publish order.
func (c *covered) await(ctx context.Context, fail context.CancelCauseFunc, futures <-chan jetstream.PubAckFuture) {
	defer close(c.stored)
	n := 0
	for f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			fail(fmt.Errorf("raw publish: %s: %w", f.Msg().Subject, err))
			return
		case <-ctx.Done():
			return
		}
		n++
		// Keep only the latest count for the committer.
		select {
		case <-c.stored:
		default:
		}
		c.stored <- n
	}
}

// commit acknowledges what the server has stored: one commit at a time,
// each covering every message stored when it began, and frees their
// slots.
func (c *covered) commit(ctx context.Context, fail context.CancelCauseFunc, log *engine.Log, slots <-chan struct{}) {
	for n := range c.stored {
		if n <= c.synced {
			continue
		}
		if err := log.Commit(ctx); err != nil {
			fail(err)
			return
		}
		for range n - c.synced {
			<-slots
		}
		c.synced = n
	}
}

// readAll reads the event stream from the start to sequence last with an
// ordered consumer (no acks, pulls of 10 000: the fastest read JetStream
// offers, shared/NATS.md), calling fn from one goroutine.
func readAll(ctx context.Context, s *engine.Store, last uint64, fn func(jetstream.Msg)) error {
	js, err := jetstream.New(s.NATS().Conn())
	if err != nil {
		return err
	}
	st, err := js.Stream(ctx, engine.EventStream)
	if err != nil {
		return err
	}
	// No subject filter, as the replay reads: the stream holds the event
	// subjects only, and a filter makes the server match every message's
	// subject as it reads.
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var n uint64
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if n >= last {
			return
		}
		fn(m)
		if n++; n == last {
			close(done)
		}
	}, jetstream.PullMaxMessages(10000))
	if err != nil {
		return err
	}
	defer cc.Stop()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(30 * time.Minute):
		return errors.New("reading the log took more than 30 minutes")
	}
}

// readLog returns the bodies of every message of the event stream, in log
// order.
func readLog(ctx context.Context, s *engine.Store) ([][]byte, error) {
	last, err := s.Log().LastSeq(ctx)
	if err != nil || last == 0 {
		return nil, err
	}
	bodies := make([][]byte, 0, last)
	err = readAll(ctx, s, last, func(m jetstream.Msg) { bodies = append(bodies, m.Data()) })
	return bodies, err
}

// sentMsgs returns how many messages (publishes and requests) the store's
// connection has sent to its server: the round trips of everything the
// store did.
func sentMsgs(s *engine.Store) uint64 { return s.NATS().Conn().Stats().OutMsgs }
