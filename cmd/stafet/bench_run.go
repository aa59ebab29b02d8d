package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/simulator"
)

// bencher runs the phases of one stafet bench invocation. Every phase
// opens its own fresh embedded server in its own directory; the phases
// that read a log start from a copy of one template log, written once in
// bulk mode (setting up is not measured).
type bencher struct {
	o        benchOptions
	log      io.Writer
	start    time.Time
	tmp      string
	work     []events.Command
	pathways []uuid.UUID
	events   int
	template string
	// logEvents and logPathways are what the template log holds: the
	// workload less the commands the pathway rules rejected.
	logEvents, logPathways int
	res                    *benchResult
	notes                  map[string][]string
}

func runBench(ctx context.Context, o benchOptions, stderr io.Writer) (*benchResult, error) {
	// As stafetd runs (its gcDefault): the bench measures the product.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(200))
	}
	tmp, err := os.MkdirTemp(o.tmp, "stafet-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &bencher{o: o, log: stderr, start: time.Now(), tmp: tmp, notes: make(map[string][]string)}
	b.workload()
	b.res = &benchResult{
		Durability: o.durability, Events: b.events, Messages: len(b.work), Pathways: len(b.pathways),
		Seed: o.seed, Machine: machine(),
	}
	run := map[string]func(context.Context) error{
		phaseAppend: b.appendPhase, phaseReplay: b.replayPhase, phaseRestart: b.restartPhase,
		phaseMemory: b.memoryPhase, phaseAlert: b.alertPhase, phaseMLLP: b.mllpPhase,
	}
	for _, p := range o.phases {
		b.progress("%s: start (%s)", p, o.durability)
		start := time.Now()
		if err := run[p](ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		took := time.Since(start)
		b.res.Phases = append(b.res.Phases, phaseRun{Name: p, Durability: o.durability, Seconds: round(took.Seconds(), 2), Notes: b.notes[p]})
		b.progress("%s: done in %s", p, took.Round(time.Millisecond))
	}
	return b.res, nil
}

// note adds a remark to a phase's record.
func (b *bencher) note(phase, text string) {
	b.notes[phase] = append(b.notes[phase], text)
}

func (b *bencher) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "[%6.1fs] %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, args...))
}

// workload generates the seeded national workload and keeps the commands
// whose events add up to -events.
func (b *bencher) workload() {
	start := time.Now()
	cmds := simulator.Workload(b.o.seed, b.o.events)
	n, k := 0, 0
	for k < len(cmds) && n < b.o.events {
		n += len(cmds[k].Payloads)
		k++
	}
	b.work, b.events = cmds[:k:k], n
	seen := make(map[uuid.UUID]bool)
	for _, c := range b.work {
		if !seen[c.Pathway] {
			seen[c.Pathway] = true
			b.pathways = append(b.pathways, c.Pathway)
		}
	}
	b.progress("workload: %d events in %d commands on %d pathways (seed %d), generated in %s",
		b.events, len(b.work), len(b.pathways), b.o.seed, time.Since(start).Round(time.Millisecond))
}

// benchDuplicateWindow is the JetStream duplicate window of the bench's
// servers.
const benchDuplicateWindow = time.Second

// config is the store configuration of every server of the run: the
// product's defaults, in a directory of its own, except for the duplicate
// window. Stafet sets no Nats-Msg-Id on events or raw messages, so the
// window changes nothing on those streams; what it does set is how much
// log time engine.Open re-reads to reconcile the idempotency index (two
// windows back from the last event). With the default two minutes, every
// Open in the bench would re-read the whole log it had just written; the
// restart phase measures that case on its own (restart_after_import_s).
func (b *bencher) config(dir string, d engine.Durability) engine.Config {
	return engine.Config{DataDir: dir, Durability: d, DuplicateWindow: benchDuplicateWindow}
}

func (b *bencher) open(ctx context.Context, dir string, d engine.Durability) (*engine.Store, error) {
	return engine.Open(ctx, b.config(dir, d))
}

// dir returns a new empty directory for one server.
func (b *bencher) dir(name string) (string, error) {
	return os.MkdirTemp(b.tmp, name+"-")
}

// buildTemplate writes the workload's log once, in bulk mode, for the
// phases that read a log (see filler). Its last event is written after a
// pause of two duplicate windows, so that at every later engine.Open the
// index reconciliation (which re-reads two windows of log time) meets that
// one event and not the whole freshly written log (see config).
func (b *bencher) buildTemplate(ctx context.Context, phase string) error {
	if b.template != "" {
		return nil
	}
	dir, err := b.dir("template")
	if err != nil {
		return err
	}
	s, err := b.open(ctx, dir, engine.Bulk)
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	f := newFiller(s)
	head, tail := b.work[:len(b.work)-1], b.work[len(b.work)-1:]
	if err := f.fill(ctx, head); err != nil {
		return err
	}
	time.Sleep(2*benchDuplicateWindow + 100*time.Millisecond)
	if err := f.fill(ctx, tail); err != nil {
		return err
	}
	if last, err := s.Log().LastSeq(ctx); err != nil || last != f.seq {
		return fmt.Errorf("template: log ends at %d, %v; want %d", last, err, f.seq)
	}
	b.logEvents, b.logPathways = f.events, f.pathways()
	if !slices.Contains(b.o.phases, phaseAppend) && !slices.Contains(b.o.phases, phaseAlert) {
		b.work = nil // only those two execute the workload; a big one takes gigabytes
	}
	b.progress("template: %d events in %d messages written in %s (not measured)", f.events, f.seq, time.Since(start).Round(time.Millisecond))
	if f.rejected > 0 {
		b.note(phase, fmt.Sprintf("the log holds %d events: the pathway rules rejected %d commands of the workload (%d events), as Execute would", f.events, f.rejected, b.events-f.events))
	}
	b.template = dir
	return nil
}

// filler writes commands to a fresh log as Execute would store them (the
// pathway rules decide the events; one message per command, encoded by
// the engine's codec, with the link to the pathway's previous message and
// the same expected-sequence check; TestFillerStoresWhatExecuteStores
// keeps the two alike), but pipelined with async publish and with the pathways'
// state in memory, so that a history of millions of events is written in
// seconds, not in the minutes Execute takes. It does not index openings
// for idempotency; the phases that read the log do not execute commands.
//
// A closed pathway's state is dropped (it holds the pathway's history), so
// that only the open pathways are held: nothing but a Correction may
// follow PathwayClosed, and the workload has none.
type filler struct {
	s      *engine.Store
	state  map[uuid.UUID]*events.Pathway
	closed map[uuid.UUID]bool
	seq    uint64
	// events written, and commands the pathway rules rejected (skipped).
	events, rejected int
}

func newFiller(s *engine.Store) *filler {
	return &filler{s: s, state: make(map[uuid.UUID]*events.Pathway), closed: make(map[uuid.UUID]bool)}
}

// pathways returns how many pathways the filler wrote.
func (f *filler) pathways() int { return len(f.state) + len(f.closed) }

func (f *filler) fill(ctx context.Context, cmds []events.Command) error {
	var failed atomic.Int64
	var firstErr atomic.Value
	js, err := jetstream.New(f.s.Conn(), jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			if failed.Add(1) == 1 {
				firstErr.Store(fmt.Errorf("%s: %w", m.Subject, err))
			}
		}))
	if err != nil {
		return err
	}
	codec := f.s.Log().Codec()
	for i, c := range cmds {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if f.closed[c.Pathway] {
			// The rule "closed" (events.Decide) would reject it.
			f.rejected++
			continue
		}
		p := f.state[c.Pathway]
		if p == nil {
			p = events.Fold(nil)
		}
		evs, err := events.Decide(p, c)
		if errors.Is(err, events.ErrRule) {
			f.rejected++
			continue
		}
		if err != nil {
			return fmt.Errorf("decide %s: %w", c.Pathway, err)
		}
		now := time.Now().UTC()
		cluster := p.Cluster()
		for i := range evs {
			evs[i].RecordedAt = now
			if o, ok := evs[i].Payload.(*events.PathwayOpened); ok && cluster == "" {
				cluster = o.Cluster
			}
		}
		data, err := codec.EncodeCommit(evs)
		if err != nil {
			return err
		}
		m := nats.NewMsg(engine.Subject(cluster, c.Pathway))
		m.Data = data
		m.Header.Set(engine.HeaderPrev, strconv.FormatUint(p.LastSeq(), 10))
		// As engine.Append: the first message checked across clusters, the
		// later ones on their literal subject.
		expect := jetstream.WithExpectLastSequencePerSubject(p.LastSeq())
		if p.LastSeq() == 0 {
			expect = jetstream.WithExpectLastSequenceForSubject(0, engine.PathwayFilter(c.Pathway))
		}
		if _, err := js.PublishMsgAsync(m, expect, jetstream.WithStallWait(time.Minute)); err != nil {
			return err
		}
		f.seq++
		f.events += len(evs)
		for i := range evs {
			evs[i].Seq = f.seq
			p.Apply(&evs[i])
		}
		if p.Closed() {
			delete(f.state, c.Pathway)
			f.closed[c.Pathway] = true
		} else {
			f.state[c.Pathway] = p
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("template: %d of %d publishes failed, the first: %v", n, len(cmds), firstErr.Load())
	}
	return nil
}

// copyTemplate returns a fresh server directory holding the template log.
func (b *bencher) copyTemplate(ctx context.Context, name string) (string, error) {
	if err := b.buildTemplate(ctx, name); err != nil {
		return "", err
	}
	start := time.Now()
	defer func() { b.progress("%s: template copied in %s", name, time.Since(start).Round(time.Millisecond)) }()
	dst, err := b.dir(name)
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir(b.template, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.template, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		return copyFile(path, to)
	})
	return dst, err
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// shard picks a pathway's writer, so that one writer executes all of a
// pathway's commands, in order.
func shard(pw uuid.UUID, n int) int {
	return int(binary.BigEndian.Uint64(pw[8:]) % uint64(n))
}

// execute runs cmds through Execute from -writers goroutines, each
// pathway's commands in order on one of them, until all are done or
// stop (zero: no limit). It returns the events appended and the commands
// executed; a command the pathway rules reject counts as executed and is
// noted.
func (b *bencher) execute(ctx context.Context, what string, s *engine.Store, cmds []events.Command, stop time.Time) (int, int, error) {
	shards := make([][]events.Command, b.o.writers)
	for _, c := range cmds {
		i := shard(c.Pathway, len(shards))
		shards[i] = append(shards[i], c)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var evs, done, rejected atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range sh {
				if ctx.Err() != nil || (!stop.IsZero() && time.Now().After(stop)) {
					return
				}
				res, err := s.Log().Execute(ctx, c)
				if errors.Is(err, events.ErrRule) {
					rejected.Add(1)
				} else if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("execute %s: %w", c.Pathway, err); cancel() })
					return
				}
				evs.Add(int64(len(res.Events)))
				done.Add(1)
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	b.report(what, finished, func() int64 { return evs.Load() }, len(cmds))
	if n := rejected.Load(); n > 0 {
		phase, _, _ := strings.Cut(what, ":")
		b.note(phase, fmt.Sprintf("the pathway rules rejected %d commands, as Execute does", n))
	}
	return int(evs.Load()), int(done.Load()), firstErr
}

// report prints progress every few seconds until finished is closed.
func (b *bencher) report(what string, finished <-chan struct{}, count func() int64, total int) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	start, last, lastAt := time.Now(), int64(0), time.Now()
	for {
		select {
		case <-finished:
			return
		case now := <-t.C:
			n := count()
			b.progress("%s: %d events in %s, %.0f/s now (%d commands in all)", what, n,
				now.Sub(start).Round(time.Second), float64(n-last)/now.Sub(lastAt).Seconds(), total)
			last, lastAt = n, now
		}
	}
}

// readLog returns the subjects and bodies of every message of the event
// stream, in log order.
func readLog(ctx context.Context, s *engine.Store) ([]string, [][]byte, error) {
	last, err := s.Log().LastSeq(ctx)
	if err != nil || last == 0 {
		return nil, nil, err
	}
	subjects, bodies := make([]string, 0, last), make([][]byte, 0, last)
	err = consumeAll(ctx, s, last, func(m jetstream.Msg) {
		subjects = append(subjects, m.Subject())
		bodies = append(bodies, m.Data())
	})
	return subjects, bodies, err
}

// consumeAll reads the event stream from the start to sequence last with
// an ordered consumer (no acks, pulls of 10 000: the fastest read
// JetStream offers, shared/NATS.md), calling fn from one goroutine.
func consumeAll(ctx context.Context, s *engine.Store, last uint64, fn func(jetstream.Msg)) error {
	st, err := s.JetStream().Stream(ctx, engine.EventStream)
	if err != nil {
		return err
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{engine.EventSubjects}})
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

func round(v float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(v*p+0.5)) / p
}
