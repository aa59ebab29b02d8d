package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// stored is one message as Execute stores it: a command's events, encoded
// by the engine's codec, on its pathway's subject, with the sequence of
// the pathway's previous message (the Stafet-Prev header, and the
// expected-sequence check of the append).
type stored struct {
	subject string
	data    []byte
	pathway uuid.UUID
	prev    uint64
	events  int
	// header, when set, is the message's header as Execute writes it,
	// chain included (the filler's); otherwise the checked raw side
	// writes Stafet-Prev alone.
	header nats.Header
}

// encoder turns commands into the messages Execute would store in a fresh
// log, in order, with the pathways' state in memory: the pathway rules
// decide the events (events.Decide), a command they reject is skipped,
// and message i gets sequence i+1. TestFillerStoresWhatExecuteStores keeps
// it and Execute alike.
//
// A closed pathway's state is dropped (it holds the pathway's history), so
// that only the open pathways are held: nothing but a Correction may
// follow PathwayClosed, and the workload has none.
type encoder struct {
	codec  *events.Codec
	state  map[uuid.UUID]*events.Pathway
	closed map[uuid.UUID]bool
	seq    uint64
	// events encoded, and commands the pathway rules rejected.
	events, rejected int
}

func newEncoder() *encoder {
	return &encoder{codec: events.NewCodec(), state: make(map[uuid.UUID]*events.Pathway), closed: make(map[uuid.UUID]bool)}
}

// pathways returns how many pathways the encoder has written to.
func (e *encoder) pathways() int { return len(e.state) + len(e.closed) }

// next returns c's message; ok is false when the pathway rules reject c.
func (e *encoder) next(c events.Command) (m stored, ok bool, err error) {
	if e.closed[c.Pathway] {
		// The rule "closed" (events.Decide) would reject it.
		e.rejected++
		return stored{}, false, nil
	}
	p := e.state[c.Pathway]
	if p == nil {
		p = events.Fold(nil)
	}
	evs, err := events.Decide(p, c)
	if errors.Is(err, events.ErrRule) {
		e.rejected++
		return stored{}, false, nil
	}
	if err != nil {
		return stored{}, false, fmt.Errorf("decide %s: %w", c.Pathway, err)
	}
	now := time.Now().UTC()
	cluster := p.Cluster()
	for i := range evs {
		evs[i].RecordedAt = now
		if o, ok := evs[i].Payload.(*events.PathwayOpened); ok && cluster == "" {
			cluster = o.Cluster
		}
	}
	data, err := e.codec.EncodeCommit(evs)
	if err != nil {
		return stored{}, false, err
	}
	m = stored{subject: engine.Subject(cluster, c.Pathway), data: data, pathway: c.Pathway, prev: p.LastSeq(), events: len(evs)}
	e.seq++
	e.events += len(evs)
	for i := range evs {
		evs[i].Seq = e.seq
		p.Apply(&evs[i])
	}
	if p.Closed() {
		delete(e.state, c.Pathway)
		e.closed[c.Pathway] = true
	} else {
		e.state[c.Pathway] = p
	}
	return m, true, nil
}

// encodeAll returns the messages of cmds, as a fresh log would hold them.
func encodeAll(cmds []events.Command) ([]stored, error) {
	e := newEncoder()
	out := make([]stored, 0, len(cmds))
	for _, c := range cmds {
		m, ok, err := e.next(c)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// filler writes commands to a fresh log as Execute would store them (see
// encoder), but pipelined with async publish (publishRaw, with the
// headers and checks), so that a history of millions of events is written
// in seconds, not in the minutes Execute takes. It does not index
// openings for idempotency; the phases that read the log do not execute
// commands.
type filler struct {
	s *engine.Store
	*encoder
	// links are the pathways' last links: the filler chains each
	// message as Execute does (engine.Log.Chain), unless unchained, when
	// it writes as a release before the chain did (Stafet-Prev alone).
	links     map[uuid.UUID]engine.Link
	unchained bool
}

func newFiller(s *engine.Store) *filler {
	return &filler{s: s, encoder: newEncoder(), links: make(map[uuid.UUID]engine.Link)}
}

// fill writes cmds in batches, so that a big workload is never held
// encoded in memory whole.
func (f *filler) fill(ctx context.Context, cmds []events.Command) error {
	const batch = 50_000
	msgs := make([]stored, 0, min(batch, len(cmds)))
	flush := func() error {
		n, _, err := publisher{s: f.s, checked: true}.publish(ctx, msgs, time.Time{})
		if err == nil && n != len(msgs) {
			err = fmt.Errorf("template: %d of %d messages stored", n, len(msgs))
		}
		msgs = msgs[:0]
		return err
	}
	for _, c := range cmds {
		m, ok, err := f.next(c)
		if err != nil {
			return err
		}
		if ok {
			if !f.unchained {
				msg := &nats.Msg{Subject: m.subject, Data: m.data}
				f.links[m.pathway] = f.s.Log().Chain(msg, m.prev, f.links[m.pathway])
				m.header = msg.Header
			}
			msgs = append(msgs, m)
		}
		if len(msgs) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// template is the log the reading phases copy: the workload written in
// bulk mode, in two parts. The head is all but the last tail events; a
// projection host's checkpoint of the head follows it when the restart
// phase runs (so a restart has the tail to apply after the checkpoint),
// then a pause of two duplicate windows, then the tail. At every later
// engine.Open whose index reconciliation is due, it re-reads the tail
// only, as in production where the last minutes of log time hold few
// events.
//
// No clean stop of Execute's marks the idempotency index complete
// (engine.Log), so a copy of the template is a log just after an import
// that left the index behind.
type template struct {
	dir string
	// events and pathways the log holds: the workload less the commands
	// the pathway rules rejected.
	events, pathways int
	// headSeq is the last sequence of the head, the checkpoint's;
	// lastSeq the log's; tailEvents the events after headSeq.
	headSeq, lastSeq uint64
	tailEvents       int
	// checkpoint names the host whose checkpoint of the head the log
	// holds; empty when it holds none.
	checkpoint string
	// took is how long writing it took: the log time it spans.
	took time.Duration
}

// checkpointHost names the host whose checkpoint the template holds.
const checkpointHost = "bench"

// openFresh opens a server in bulk mode in a new directory named after
// name, for a template to be written to.
func (b *bencher) openFresh(ctx context.Context, name string) (string, *engine.Store, error) {
	dir, err := b.dir(name)
	if err != nil {
		return "", nil, err
	}
	s, err := b.open(ctx, dir, engine.Bulk)
	return dir, s, err
}

// buildTemplate writes the template log once per run.
func (b *bencher) buildTemplate(ctx context.Context) (*template, error) {
	if b.template != nil {
		return b.template, nil
	}
	dir, s, err := b.openFresh(ctx, "template")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	start := time.Now()
	tail := b.o.RestartTail
	if tail == 0 {
		tail = minuteOfTraffic(b.work, b.events)
	}
	k := len(b.work) - 1 // the first command of the tail
	for n := len(b.work[k].Payloads); k > 1 && n < tail; n += len(b.work[k].Payloads) {
		k--
	}
	t := &template{dir: dir}
	var head int
	f := newFiller(s)
	if err := f.fill(ctx, b.work[:k]); err != nil {
		return nil, err
	}
	t.headSeq, head = f.seq, f.events
	if slices.Contains(b.o.Phases, PhaseRestart) {
		if _, _, err := b.startHost(ctx, s, checkpointHost, f.pathways(), true); err != nil {
			return nil, fmt.Errorf("template: checkpoint: %w", err)
		}
		t.checkpoint = checkpointHost
	}
	time.Sleep(2*duplicateWindow + 100*time.Millisecond)
	if err := f.fill(ctx, b.work[k:]); err != nil {
		return nil, err
	}
	if last, err := s.Log().LastSeq(ctx); err != nil || last != f.seq {
		return nil, fmt.Errorf("template: log ends at %d, %v; want %d", last, err, f.seq)
	}
	t.lastSeq, t.events, t.pathways, t.tailEvents = f.seq, f.events, f.pathways(), f.events-head
	t.took = time.Since(start)
	if !slices.Contains(b.o.Phases, PhaseAppend) && !slices.Contains(b.o.Phases, PhaseAlert) {
		b.work = nil // only those two execute the workload; a big one takes gigabytes
	}
	b.progress("template: %d events in %d messages written in %s (not measured), %d events after the checkpoint",
		f.events, f.seq, t.took.Round(time.Millisecond), t.tailEvents)
	if f.rejected > 0 {
		b.note("the log holds %d events: the pathway rules rejected %d commands of the workload (%d events), as Execute would", f.events, f.rejected, b.events-f.events)
	}
	b.template = t
	return t, nil
}

// startHost runs a host of a fresh projections.Set on s until it is
// ready, as stafetd starts, and checks it holds every pathway; checkpoint
// writes a checkpoint then. It returns when the host was ready and its
// status then (after the checkpoint, if one was written).
func (b *bencher) startHost(ctx context.Context, s *engine.Store, name string, wantPathways int, checkpoint bool) (time.Time, engine.HostStatus, error) {
	var readyAt time.Time
	set, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return readyAt, engine.HostStatus{}, err
	}
	h := s.Log().NewHost(name, set, engine.HostOptions{})
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- h.Run(hctx) }()
	select {
	case <-h.Ready():
		readyAt = time.Now()
	case err := <-errc:
		return readyAt, engine.HostStatus{}, fmt.Errorf("host %s: %v", name, err)
	}
	st := h.Status()
	if checkpoint {
		err = h.Checkpoint(ctx)
		st = h.Status()
	}
	var open, closed int
	h.Read(func(engine.Projection) { open, closed = set.Owner.Len() })
	cancel()
	if rerr := <-errc; err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	if err == nil && open+closed != wantPathways {
		err = fmt.Errorf("host %s holds %d pathways; want %d", name, open+closed, wantPathways)
	}
	return readyAt, st, err
}

// withTemplate runs fn on a server in the run's mode holding a fresh copy
// of the template log, and closes and removes it after.
func (b *bencher) withTemplate(ctx context.Context, name string, fn func(*engine.Store, *template) error) error {
	dir, t, err := b.copyTemplate(ctx, name)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := engine.Open(ctx, b.inMode(dir))
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s, t)
}

// copyTemplate returns a fresh server directory holding the template log.
func (b *bencher) copyTemplate(ctx context.Context, name string) (string, *template, error) {
	t, err := b.buildTemplate(ctx)
	if err != nil {
		return "", nil, err
	}
	dst, err := b.copyOf(name, t)
	return dst, t, err
}

// copyOf returns a fresh server directory holding a copy of t's log.
func (b *bencher) copyOf(name string, t *template) (string, error) {
	start := time.Now()
	defer func() { b.progress("%s: template copied in %s", name, time.Since(start).Round(time.Millisecond)) }()
	dst, err := b.dir(name)
	if err != nil {
		return "", err
	}
	err = filepath.WalkDir(t.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(t.dir, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		return copyFile(path, to)
	})
	return dst, err
}

// buildUnchainedTemplate writes, once per run, the template's workload as
// a release before the chain stored it: the same messages without a
// Stafet-Chain header, on a server without checkpoints, so that the
// first engine.Open of a copy begins the chain after them (as it does
// for a log an earlier release wrote) and its readers check no chain on
// them. The replay phase reads it beside the template: what the chain
// costs a replay, in one build and one run.
func (b *bencher) buildUnchainedTemplate(ctx context.Context) (*template, error) {
	if b.unchained != nil {
		return b.unchained, nil
	}
	if b.work == nil {
		return nil, errors.New("template without the chain: the workload was released when the template was written")
	}
	dir, s, err := b.openFresh(ctx, "template-unchained")
	if err != nil {
		return nil, err
	}
	defer s.Close()
	js, err := jetstream.New(s.NATS().Conn())
	if err == nil {
		// A release before the chain had no checkpoints either.
		err = js.DeleteStream(ctx, engine.CheckpointStream)
	}
	if err != nil {
		return nil, fmt.Errorf("template without the chain: %w", err)
	}
	start := time.Now()
	f := newFiller(s)
	f.unchained = true
	if err := f.fill(ctx, b.work); err != nil {
		return nil, err
	}
	if last, err := s.Log().LastSeq(ctx); err != nil || last != f.seq {
		return nil, fmt.Errorf("template without the chain: log ends at %d, %v; want %d", last, err, f.seq)
	}
	t := &template{dir: dir, events: f.events, pathways: f.pathways(), headSeq: f.seq, lastSeq: f.seq, took: time.Since(start)}
	b.progress("template without the chain: %d events in %d messages written in %s (not measured)", f.events, f.seq, t.took.Round(time.Millisecond))
	b.unchained = t
	return t, nil
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
