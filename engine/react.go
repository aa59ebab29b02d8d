package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// ReactOptions tunes React.
type ReactOptions struct {
	// Filter narrows the events (subject filters); default all events.
	Filter []string
	// FromNow starts a new reactor at the next event instead of the first
	// (an existing reactor always resumes where it stopped).
	FromNow bool
	// MaxDeliver bounds redeliveries of an event whose handler keeps
	// failing; default 10. After that the event is skipped and logged.
	MaxDeliver int
	// Workers is how many events this process handles at once; default
	// 1. A pathway's events always go to the same worker, in log order,
	// so a handler sees each pathway's events one after the other; only
	// different pathways' events overlap. On a cluster, where each write
	// a handler makes waits for a Raft round, one worker bounds the
	// reactor at the inverse of that round trip.
	Workers int
}

// Reactors run durable reactions to the log's events (React) and record
// elapsed deadlines (RunDeadlines). Get it from Store.Reactors.
type Reactors struct {
	log *Log
}

// React runs handle for every event through a durable JetStream consumer
// called name. Several processes calling React with the same name share
// the work: each event is handled by one of them, and acknowledged after
// handle returns nil; an error redelivers it with backoff. Delivery is at
// least once, so handle must be idempotent (Execute with a source key is).
// React returns when ctx ends.
func (r *Reactors) React(ctx context.Context, name string, handle func(context.Context, events.Envelope) error, opts ReactOptions) error {
	s := r.log
	// Setting the consumer up can fail for a while (a cluster electing a
	// leader, a busy meta leader): that must not stop the service.
	var cons jetstream.Consumer
	err := s.retry(ctx, "reactor: will retry", "set up its consumer", func() (err error) {
		cons, err = s.reactor(ctx, name, opts)
		return err
	}, "reactor", name)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w := newWorkers(max(opts.Workers, 1), func(m jetstream.Msg) { s.handle(ctx, name, m, handle) })
	cc, err := cons.Consume(w.dispatch, jetstream.PullMaxMessages(256))
	if err != nil {
		w.stop()
		return fmt.Errorf("engine: reactor %s: %w", name, err)
	}
	<-ctx.Done()
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(10 * time.Second):
	}
	// Events still queued are not acknowledged: JetStream redelivers them
	// to whichever instance runs next.
	w.stop()
	return nil
}

// workers hand a reactor's messages to n goroutines, each pathway's (its
// subject's) to the same one, in the order they arrive.
type workers struct {
	queues []chan jetstream.Msg
	done   chan struct{}
	wg     sync.WaitGroup
}

func newWorkers(n int, handle func(jetstream.Msg)) *workers {
	w := &workers{queues: make([]chan jetstream.Msg, n), done: make(chan struct{})}
	for i := range w.queues {
		w.queues[i] = make(chan jetstream.Msg, 64)
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				select {
				case m := <-w.queues[i]:
					handle(m)
				case <-w.done:
					return
				}
			}
		}()
	}
	return w
}

// dispatch queues m for its pathway's worker; it waits while that
// worker's queue is full, which holds back the consumer's delivery.
func (w *workers) dispatch(m jetstream.Msg) {
	h := fnv.New32a()
	h.Write([]byte(m.Subject()))
	select {
	case w.queues[h.Sum32()%uint32(len(w.queues))] <- m:
	case <-w.done:
	}
}

// stop ends the workers once the message each is handling is done.
func (w *workers) stop() {
	close(w.done)
	w.wg.Wait()
}

// Pending returns how many of the log's messages (a command's events
// each) the reactor called name has not handled yet: not delivered, or
// delivered and not acknowledged. It is ErrNoReactor until the reactor's
// first React has set it up.
func (r *Reactors) Pending(ctx context.Context, name string) (uint64, error) {
	cons, err := r.log.stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, ErrNoReactor
	}
	if err != nil {
		return 0, fmt.Errorf("engine: reactor %s: %w", name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("engine: reactor %s: %w", name, err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// ErrNoReactor is returned for a reactor that has never run.
var ErrNoReactor = errors.New("engine: no such reactor")

func (s *Log) reactor(ctx context.Context, name string, opts ReactOptions) (jetstream.Consumer, error) {
	if opts.MaxDeliver == 0 {
		opts.MaxDeliver = 10
	}
	deliver := jetstream.DeliverAllPolicy
	if opts.FromNow {
		deliver = jetstream.DeliverNewPolicy
	}
	cfg := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: deliver,
		FilterSubjects: opts.Filter, MaxDeliver: opts.MaxDeliver, AckWait: 30 * time.Second,
		BackOff:  []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute},
		Replicas: s.cfg.Replicas, MaxAckPending: 1024,
	}
	if len(cfg.FilterSubjects) == 0 {
		cfg.FilterSubjects = []string{EventSubjects}
	}
	cons, err := s.stream.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = s.stream.CreateConsumer(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: reactor %s: %w", name, err)
	}
	return cons, nil
}

func (s *Log) handle(ctx context.Context, name string, m jetstream.Msg, handle func(context.Context, events.Envelope) error) {
	md, err := m.Metadata()
	if err != nil {
		m.Term()
		return
	}
	// A reaction (an alert, a policy's offer) must not act on an event
	// that a crash of the machine could still take back.
	if err := s.commitThrough(ctx, md.Sequence.Stream+md.NumPending); err != nil {
		m.Nak()
		return
	}
	c := s.chainers.get()
	evs := s.reader(c).readStored(s.decodeOne, nil, md.Sequence.Stream, m.Subject(), stampOf(m.Headers()), m.Data(), func() time.Time { return md.Timestamp })
	s.chainers.put(c)
	for _, e := range evs {
		if _, ok := StandIn(&e); ok {
			// Quarantined: the projection host records it; there is
			// nothing to react to.
			continue
		}
		if err := handle(ctx, e); err != nil {
			if ctx.Err() != nil {
				// Shutting down: the event is redelivered to whichever
				// instance runs next; nothing failed.
				m.Nak()
				return
			}
			s.log.Warn("reactor handler failed; will retry", "reactor", name, "seq", e.Seq, "attempt", md.NumDelivered, "err", err)
			m.Nak()
			return
		}
	}
	m.Ack()
}

// Policy derives commands from a fact: the handoffs it implies
// (projections.Policies). state is the pathway as it stood with e
// applied. The commands carry source keys derived from e, so deciding
// the same event twice appends nothing twice.
type Policy interface {
	Decide(state *events.Pathway, e events.Envelope) []events.Command
}

// RunPolicy runs p on every event of the log through the durable
// consumer name (React: shared by every instance, each event handled
// once), and executes what it decides. A command the pathway rules or
// validation refuse is dropped — the pathway moved on (say, the offer is
// already held) and the policy has nothing to add; any other failure
// retries the event. It returns when ctx ends.
func (r *Reactors) RunPolicy(ctx context.Context, name string, p Policy) error {
	s := r.log
	return r.React(ctx, name, func(ctx context.Context, e events.Envelope) error {
		history, err := s.LoadUpTo(ctx, e.Pathway, e.Seq)
		if err != nil {
			return err
		}
		for _, cmd := range p.Decide(events.Fold(history), e) {
			_, err := s.Execute(ctx, cmd)
			var re *events.RuleError
			var ve *events.ValidationError
			if errors.As(err, &re) || errors.As(err, &ve) {
				s.log.Debug("policy output not appended", "reactor", name, "policy", cmd.Source.MessageID, "err", err)
				continue
			}
			if err != nil {
				return err
			}
		}
		return nil
	}, ReactOptions{Workers: policyWorkers})
}

// policyWorkers is how many events RunPolicy decides at once in one
// process, a pathway's one after the other (ReactOptions.Workers).
const policyWorkers = 4

// RunDeadlines appends the DeadlineElapsed (events.Deadline.Elapsed) of
// every deadline the scheduler lists whose time has come, checking every
// interval (default 1 s), until ctx ends. The event's source key is the
// deadline's identity, so however many processes run RunDeadlines, and
// however often they restart, each deadline is recorded once. A Host is a
// Scheduler of the projection it hosts.
func (r *Reactors) RunDeadlines(ctx context.Context, due Scheduler, every time.Duration) error {
	s := r.log
	if every == 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		now := time.Now()
		s.elapse(ctx, due.Due(time.Time{}, now), now)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Log) elapse(ctx context.Context, ds []events.Deadline, now time.Time) {
	for _, d := range ds {
		if d.At.After(now) {
			continue
		}
		if _, err := s.Execute(ctx, d.Elapsed()); err != nil && ctx.Err() == nil {
			s.log.Warn("could not record an elapsed deadline; will retry", "pathway", d.Pathway, "rule", d.Rule, "err", err)
		}
	}
}
