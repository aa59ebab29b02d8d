package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
	"github.com/stafet/stafet/simulator"
)

// appendPhase appends the workload with Execute (optimistic concurrency,
// idempotency, the pathway rules) from many writers on a fresh server,
// then publishes the very messages Stafet stored, on the same subjects,
// with plain async publish to another fresh server with the same stream
// configuration and durability.
func (b *bencher) appendPhase(ctx context.Context) error {
	dir, err := b.dir("append")
	if err != nil {
		return err
	}
	s, err := b.open(ctx, dir, b.o.durability)
	if err != nil {
		return err
	}
	var evs, done int
	var took, cpu time.Duration
	err = b.profile(phaseAppend, func() error {
		stop := time.Now().Add(b.o.maxWrite)
		start, cpu0 := time.Now(), cpuTime()
		var err error
		evs, done, err = b.execute(ctx, "append: stafet", s, b.work, stop)
		took, cpu = time.Since(start), cpuTime()-cpu0
		return err
	})
	if err != nil {
		s.Close()
		return err
	}
	subjects, bodies, err := readLog(ctx, s)
	s.Close()
	if err != nil {
		return err
	}
	os.RemoveAll(dir)
	b.progress("append: stafet %d events (%d commands, %d messages) in %s", evs, done, len(bodies), took.Round(time.Millisecond))
	if done < len(b.work) {
		b.note(phaseAppend, fmt.Sprintf("stopped by -max-write %s after %d of %d events; the raw baseline publishes the same %d", b.o.maxWrite, evs, b.events, evs))
	}

	rawDir, err := b.dir("append-raw")
	if err != nil {
		return err
	}
	defer os.RemoveAll(rawDir)
	// Raw JetStream in safe mode is the server's sync_always: one fsync
	// per message; Stafet groups its fsyncs (engine.Config.FsyncEach).
	rawCfg := b.config(rawDir, b.o.durability)
	rawCfg.FsyncEach = true
	rs, err := engine.Open(ctx, rawCfg)
	if err != nil {
		return err
	}
	defer rs.Close()
	rawCPU := cpuTime()
	rawTook, err := rawPublish(rs, subjects, bodies)
	if err != nil {
		return err
	}
	rawCPU = cpuTime() - rawCPU
	b.progress("append: raw publish of the same %d messages in %s", len(bodies), rawTook.Round(time.Millisecond))
	r := b.res
	if b.o.durability == engine.Safe {
		if err := b.appendFsyncEach(ctx, evs, rawTook); err != nil {
			return err
		}
	}
	r.AppendEvents, r.AppendMessages = evs, len(bodies)
	r.AppendCPUPerEvent = perEventMicros(cpu, evs)
	r.RawPublishCPUPerEvent = perEventMicros(rawCPU, evs)
	r.AppendEPS = round(float64(evs)/took.Seconds(), 0)
	r.RawPublishEPS = round(float64(evs)/rawTook.Seconds(), 0)
	r.AppendRatio = round(rawTook.Seconds()/took.Seconds(), 3)
	return nil
}

// appendFsyncEach appends the same events with Execute once more, on a
// server that fsyncs every message itself (no group commit), so that the
// table shows what grouping the fsyncs buys.
func (b *bencher) appendFsyncEach(ctx context.Context, evs int, rawTook time.Duration) error {
	dir, err := b.dir("append-fsync-each")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := b.config(dir, engine.Safe)
	cfg.FsyncEach = true
	s, err := engine.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	work := b.work
	for n, i := 0, 0; i < len(work); i++ {
		if n += len(work[i].Payloads); n >= evs {
			work = work[:i+1]
			break
		}
	}
	start := time.Now()
	got, _, err := b.execute(ctx, "append: stafet, fsync each", s, work, start.Add(b.o.maxWrite))
	if err != nil {
		return err
	}
	took := time.Since(start)
	b.res.AppendFsyncEachEPS = round(float64(got)/took.Seconds(), 0)
	b.res.AppendFsyncEachRatio = round(b.res.AppendFsyncEachEPS/(float64(evs)/rawTook.Seconds()), 3)
	b.progress("append: stafet with the server fsyncing each message, %d events in %s", got, took.Round(time.Millisecond))
	return nil
}

// rawPublish publishes the bodies with async publish, no headers and no
// checks, through a JetStream context set up like the store's own (4096
// acknowledgements pending), and waits for every acknowledgement.
func rawPublish(s *engine.Store, subjects []string, bodies [][]byte) (time.Duration, error) {
	var failed atomic.Int64
	js, err := jetstream.New(s.Conn(), jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { failed.Add(1) }))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range bodies {
		if _, err := js.PublishAsync(subjects[i], bodies[i], jetstream.WithStallWait(time.Minute)); err != nil {
			return 0, fmt.Errorf("raw publish: %w", err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Minute):
		return 0, errors.New("raw publish did not complete in 10 minutes")
	}
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		return 0, fmt.Errorf("raw publish: %d of %d failed", n, len(bodies))
	}
	return took, nil
}

// replayRounds is how often the replay phase alternates the raw read and
// Stafet's replay; it reports the medians, so that a burst of load from
// elsewhere on the machine does not land on one side only.
const replayRounds = 3

// replayPhase replays the whole log into every production projection (a
// projections.Set with the default rules), and reads it with an ordered
// consumer that only counts, on the same fresh server.
func (b *bencher) replayPhase(ctx context.Context) error {
	dir, err := b.copyTemplate(ctx, "replay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := b.open(ctx, dir, b.o.durability)
	if err != nil {
		return err
	}
	defer s.Close()
	last, err := s.Log().LastSeq(ctx)
	if err != nil {
		return err
	}
	var raws, stafets, rawCPUs, stafetCPUs []time.Duration
	for round := range replayRounds {
		start, cpu0 := time.Now(), cpuTime()
		if err := consumeAll(ctx, s, last, func(jetstream.Msg) {}); err != nil {
			return err
		}
		raws, rawCPUs = append(raws, time.Since(start)), append(rawCPUs, cpuTime()-cpu0)
		set, err := projections.NewSet(projections.DefaultRules())
		if err != nil {
			return err
		}
		var st engine.ReplayStats
		replay := func() error {
			var err error
			st, err = s.Log().Replay(ctx, engine.ReplayOptions{Progress: func(st engine.ReplayStats) {
				b.progress("replay: %d events, %.0f/s", st.Events, st.Rate)
			}}, set)
			return err
		}
		cpu0 = cpuTime()
		if round == 0 {
			err = b.profile(phaseReplay, replay)
		} else {
			err = replay()
		}
		stafetCPUs = append(stafetCPUs, cpuTime()-cpu0)
		if err != nil {
			return err
		}
		if int(st.Events) != b.logEvents {
			return fmt.Errorf("replayed %d events; want %d", st.Events, b.logEvents)
		}
		stafets = append(stafets, st.Elapsed)
		b.progress("replay: round %d: raw read of %d messages in %s, Stafet replay of %d events in %s", round+1,
			last, raws[round].Round(time.Millisecond), st.Events, st.Elapsed.Round(time.Millisecond))
	}
	raw, stafet := median(raws), median(stafets)
	r := b.res
	r.ReplayEPS = round(float64(b.logEvents)/stafet.Seconds(), 0)
	r.RawReadEPS = round(float64(b.logEvents)/raw.Seconds(), 0)
	r.ReplayRatio = round(raw.Seconds()/stafet.Seconds(), 3)
	r.ReplayCPUPerEvent = perEventMicros(median(stafetCPUs), b.logEvents)
	r.RawReadCPUPerEvent = perEventMicros(median(rawCPUs), b.logEvents)
	return nil
}

// perEventMicros returns CPU time per event in microseconds.
func perEventMicros(cpu time.Duration, events int) float64 {
	if events == 0 {
		return 0
	}
	return round(float64(cpu.Microseconds())/float64(events), 2)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// restartPhase checkpoints the projections of the whole log, then times
// a restart: engine.Open, NewHost and Run until Ready; the same with no
// checkpoint to restore (a full replay); and the same with the checkpoint
// but with the default duplicate window, as after a bulk import (see
// config).
func (b *bencher) restartPhase(ctx context.Context) error {
	dir, err := b.copyTemplate(ctx, "restart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const name = "bench"
	cfg := b.config(dir, b.o.durability)
	if _, _, err := b.startHost(ctx, cfg, name, true); err != nil {
		return err
	}
	var ready, opened time.Duration
	err = b.profile(phaseRestart, func() error {
		var err error
		ready, opened, err = b.startHost(ctx, cfg, name, false)
		return err
	})
	if err != nil {
		return err
	}
	b.progress("restart: ready in %s with the checkpoint (%s in engine.Open)", ready.Round(time.Millisecond), opened.Round(time.Millisecond))
	full, _, err := b.startHost(ctx, cfg, name+"-no-checkpoint", false)
	if err != nil {
		return err
	}
	b.progress("restart: ready in %s by full replay", full.Round(time.Millisecond))
	r := b.res
	r.RestartReadyS = round(ready.Seconds(), 3)
	r.RestartOpenS = round(opened.Seconds(), 3)
	r.RestartFullReplayS = round(full.Seconds(), 3)

	cfg.DuplicateWindow = 0 // the default: Open re-reads the whole log
	imported, _, err := b.startHost(ctx, cfg, name, false)
	if err != nil {
		// Reported, not fatal: it is a finding about engine.Open.
		b.progress("restart: after an import: %v", err)
		b.note(phaseRestart, "restart_after_import failed: "+err.Error())
		return nil
	}
	b.progress("restart: ready in %s with the checkpoint and the default duplicate window", imported.Round(time.Millisecond))
	r.RestartAfterImportS = round(imported.Seconds(), 3)
	return nil
}

// startHost opens the store in dir and runs a host of a fresh Set until
// it is ready, as stafetd starts; checkpoint writes a checkpoint then.
// It returns the time to ready and the part of it engine.Open took.
func (b *bencher) startHost(ctx context.Context, cfg engine.Config, name string, checkpoint bool) (ready, opened time.Duration, err error) {
	start := time.Now()
	s, err := engine.Open(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	opened = time.Since(start)
	set, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return 0, 0, err
	}
	h := s.Log().NewHost(name, set, engine.HostOptions{})
	hctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- h.Run(hctx) }()
	select {
	case <-h.Ready():
		ready = time.Since(start)
	case err := <-errc:
		cancel()
		return 0, 0, fmt.Errorf("host: %v", err)
	}
	if checkpoint {
		if err = h.Checkpoint(ctx); err == nil {
			b.res.CheckpointBytes, err = checkpointSize(ctx, s, name)
		}
	}
	var open, closed int
	h.Read(func(engine.Projection) { open, closed = set.Owner.Len() })
	cancel()
	if rerr := <-errc; err == nil && rerr != nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	if err == nil && open+closed != b.logPathways {
		err = fmt.Errorf("host %s holds %d pathways; want %d", name, open+closed, b.logPathways)
	}
	return ready, opened, err
}

// minClosedMeasured is the fewest closed pathways the memory phase
// measures at once: fewer weigh less than the heap's own noise.
const minClosedMeasured = 5000

// checkpointSize returns the stored size of a host's checkpoint.
func checkpointSize(ctx context.Context, s *engine.Store, name string) (int, error) {
	obs, err := s.JetStream().ObjectStore(ctx, engine.SnapshotStore)
	if err != nil {
		return 0, err
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		return 0, err
	}
	return int(info.Size), nil
}

// memoryPhase measures the heap a Set holds after the log's events are
// applied to it: once with every pathway, once with only the pathways
// that ended closed (replayed several times under new ids when there are
// fewer than minClosedMeasured); the open pathways hold the rest. The
// events are decoded with the engine's codec and applied in log order, as
// Replay does, but from bytes read beforehand and with the store closed:
// the embedded server shares the process's heap, and its caches would
// otherwise be counted.
func (b *bencher) memoryPhase(ctx context.Context) error {
	dir, err := b.copyTemplate(ctx, "memory")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := b.open(ctx, dir, b.o.durability)
	if err != nil {
		return err
	}
	_, bodies, err := readLog(ctx, s)
	s.Close()
	if err != nil {
		return err
	}
	settle()
	codec := events.NewCodec()
	all, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return err
	}
	every := make([]int, len(bodies))
	for i := range every {
		every[i] = i
	}
	total, err := heapAfterApply(codec, bodies, all, every, 1)
	if err != nil {
		return err
	}
	open, closed := all.Owner.Len()
	if open == 0 || closed == 0 {
		return fmt.Errorf("%d open and %d closed pathways: too few events to measure both (try more -events)", open, closed)
	}
	ids := make(map[uuid.UUID]bool, closed)
	for _, id := range b.pathways {
		if v, ok := all.Owner.Pathway(id); ok && v.Closed {
			ids[id] = true
		}
	}
	all = nil
	only, err := projections.NewSet(projections.DefaultRules())
	if err != nil {
		return err
	}
	// The messages of the closed pathways: the closed ones alone are
	// decoded again (a message holds one pathway's events).
	var closedMsgs []int
	for i, body := range bodies {
		evs, err := codec.DecodeCommit(body)
		if err != nil {
			return fmt.Errorf("seq %d: %w", i+1, err)
		}
		if ids[evs[0].Pathway] {
			closedMsgs = append(closedMsgs, i)
		}
	}
	copies := (minClosedMeasured + closed - 1) / closed
	closedHeap, err := heapAfterApply(codec, bodies, only, closedMsgs, copies)
	if err != nil {
		return err
	}
	if o, c := only.Owner.Len(); o != 0 || c != closed*copies {
		return fmt.Errorf("closed pathways alone: %d open, %d closed; want 0, %d", o, c, closed*copies)
	}
	runtime.KeepAlive(only)
	perClosed := float64(closedHeap) / float64(closed*copies)
	perOpen := (float64(total) - perClosed*float64(closed)) / float64(open)
	b.progress("memory: %d open, %d closed pathways; heap %d bytes in all; %d for %d closed pathways (%d× the log's)",
		open, closed, total, closedHeap, closed*copies, copies)
	b.res.OpenPathways, b.res.ClosedPathways = open, closed
	b.res.BytesPerOpenPathway = round(perOpen, 0)
	b.res.BytesPerClosedPathway = round(perClosed, 0)
	return nil
}

// heapAfterApply applies the events of the log's messages msgs (indices
// into bodies, the log from sequence 1) to set and returns how much the
// live heap grew. With copies > 1 it applies them again under new pathway
// ids.
func heapAfterApply(codec *events.Codec, bodies [][]byte, set *projections.Set, msgs []int, copies int) (int64, error) {
	before := liveHeap()
	for k := range copies {
		for _, i := range msgs {
			evs, err := codec.DecodeCommit(bodies[i])
			if err != nil {
				return 0, fmt.Errorf("seq %d: %w", i+1, err)
			}
			for j := range evs {
				e := &evs[j]
				if _, ok := e.Annuls(); ok {
					return 0, fmt.Errorf("seq %d: a Correction needs the engine's refold; the memory phase does not do them", i+1)
				}
				if k > 0 {
					e.Pathway = uuid.NewSHA1(e.Pathway, []byte{byte(k), byte(k >> 8), byte(k >> 16)})
				}
				e.Seq = uint64(i + 1)
				if err := set.Apply(*e); err != nil {
					return 0, fmt.Errorf("seq %d: %w", i+1, err)
				}
			}
		}
	}
	after := liveHeap()
	// The bodies were there before; they must be there after.
	runtime.KeepAlive(bodies)
	runtime.KeepAlive(msgs)
	return after - before, nil
}

// settle waits until the closed server's goroutines have let go of what
// they held: the live heap stops shrinking (or 10 s pass).
func settle() {
	last := liveHeap()
	for range 50 {
		time.Sleep(200 * time.Millisecond)
		h := liveHeap()
		if d := last - h; d < 16<<10 && d > -16<<10 {
			return
		}
		last = h
	}
}

func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// alertPhase appends the workload at -alert-rate events a second with the
// alert service running, and times each alert from its event's recording
// (RecordedAt, taken just before the append) to its arrival at a plain
// NATS subscriber on stafet.alert.> over TCP.
func (b *bencher) alertPhase(ctx context.Context) error {
	dir, err := b.dir("alert")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := b.config(dir, b.o.durability)
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Exports = alerts.Exports
	s, err := engine.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	svc, err := alerts.New(ctx, alerts.Config{Store: s})
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	svcDone := make(chan error, 1)
	go func() { svcDone <- svc.Run(sctx) }()
	defer func() { stop(); <-svcDone }()
	reactor, err := waitReactor(ctx, s)
	if err != nil {
		return err
	}

	// A subscriber's NATS user, as an organisation's alert consumer has.
	seed, _, err := s.Subscribers().Issue(ctx, "bench", alerts.Exports)
	if err != nil {
		return err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(s.ClientURL(), nats.Nkey(pub, kp.Sign))
	if err != nil {
		return err
	}
	defer nc.Close()
	var mu sync.Mutex
	var lat []time.Duration
	var lastAlert time.Time
	var bad error
	_, err = nc.Subscribe(alerts.SubjectPrefix+".>", func(m *nats.Msg) {
		now := time.Now()
		var a alerts.Alert
		err := json.Unmarshal(m.Data, &a)
		mu.Lock()
		defer mu.Unlock()
		if err != nil || a.RecordedAt.IsZero() {
			bad = fmt.Errorf("alert on %s: %v", m.Subject, err)
			return
		}
		lat = append(lat, now.Sub(a.RecordedAt))
		lastAlert = now
	})
	if err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}

	want := min(b.events, int(float64(b.o.alertRate)*b.o.alertFor.Seconds()))
	var cmds []events.Command
	for n := 0; len(cmds) < len(b.work) && n < want; {
		c := b.work[len(cmds)]
		cmds = append(cmds, c)
		n += len(c.Payloads)
	}
	var sent time.Duration
	var appended int
	err = b.profile(phaseAlert, func() error {
		var err error
		appended, sent, err = b.paced(ctx, s, cmds, b.o.alertRate)
		return err
	})
	if err != nil {
		return err
	}
	// Wait for the reactor to handle everything and the alerts to settle.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		info, err := reactor.Info(ctx)
		if err != nil {
			return err
		}
		mu.Lock()
		quiet := time.Since(lastAlert) > 500*time.Millisecond
		mu.Unlock()
		if info.NumPending == 0 && info.NumAckPending == 0 && quiet {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("alerts still pending 2 minutes after the last append: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bad != nil {
		return bad
	}
	if len(lat) == 0 {
		return fmt.Errorf("no alerts from %d events", appended)
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return round(float64(lat[int(p*float64(len(lat)-1)+0.5)])/float64(time.Millisecond), 2)
	}
	b.progress("alert: %d alerts from %d events appended at %.0f/s", len(lat), appended, float64(appended)/sent.Seconds())
	r := b.res
	r.Alerts = len(lat)
	r.AlertP50Ms, r.AlertP99Ms, r.AlertMaxMs = q(0.50), q(0.99), q(1)
	r.AlertEventsPS = round(float64(appended)/sent.Seconds(), 0)
	return nil
}

// waitReactor returns the alert service's durable consumer once its Run
// has created it.
func waitReactor(ctx context.Context, s *engine.Store) (jetstream.Consumer, error) {
	st, err := s.JetStream().Stream(ctx, engine.EventStream)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := st.Consumer(ctx, alerts.Reactor)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("alert reactor not created in 30s: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// paced executes cmds at rate events a second, each pathway's commands in
// order on one of 64 writers. It returns the events appended and how long
// the appends took.
func (b *bencher) paced(ctx context.Context, s *engine.Store, cmds []events.Command, rate int) (int, time.Duration, error) {
	const writers = 64
	queues := make([]chan events.Command, writers)
	var evs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan events.Command, 256)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range queues[i] {
				res, err := s.Log().Execute(ctx, c)
				if err != nil && !errors.Is(err, events.ErrRule) {
					once.Do(func() { firstErr = fmt.Errorf("execute %s: %w", c.Pathway, err) })
					continue
				}
				evs.Add(int64(len(res.Events)))
			}
		}()
	}
	start := time.Now()
	n := 0
	for _, c := range cmds {
		if wait := time.Until(start.Add(time.Duration(float64(n) / float64(rate) * float64(time.Second)))); wait > 0 {
			time.Sleep(wait)
		}
		queues[shard(c.Pathway, writers)] <- c
		n += len(c.Payloads)
	}
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	return int(evs.Load()), time.Since(start), firstErr
}

// mllpPhase sends the model's HL7 v2 ADT messages over MLLP connections to
// the real handler (parse, store raw, translate, pseudonymise, find the
// pathway, append) and counts acknowledgements a second. A patient's
// messages go over one connection, in order, each after the one before
// is acknowledged, as a hospital's interface engine sends them.
func (b *bencher) mllpPhase(ctx context.Context) error {
	want := min(b.o.mllpMessages, max(b.events/4, 1))
	conns := make([][][]byte, b.o.conns)
	d, err := events.NewDirectory(bytes.NewReader(simulator.Organisations()))
	if err != nil {
		return err
	}
	// Only the clusters whose hospitals send HL7 v2: the model renders
	// every MedCom message it plans, which costs ten times an HL7 one.
	var clusters []string
	for _, c := range d.ClustersAt(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)) {
		if slices.Contains(hl7Regions, c.Region) {
			clusters = append(clusters, c.ID)
		}
	}
	model, err := simulator.NewModel(b.o.seed, simulator.ModelOptions{Clusters: clusters})
	if err != nil {
		return err
	}
	start := time.Now()
	for n := 0; n < want; {
		st := model.Next()
		if st.Channel != simulator.HL7 {
			continue
		}
		i := int(st.Pathway % uint64(len(conns)))
		conns[i] = append(conns[i], mllp.Frame(st.Body))
		n++
	}
	b.progress("mllp: %d HL7 messages from the model in %s (not measured)", want, time.Since(start).Round(time.Millisecond))

	dir, err := b.dir("mllp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := b.open(ctx, dir, b.o.durability)
	if err != nil {
		return err
	}
	defer s.Close()
	in := ingest.New(s, d, map[string]ingest.Translator{hl7v2.System: hl7v2.NewTranslator(d, nil).Translate}, nil)
	srv := mllp.New(mllp.Config{Addr: "127.0.0.1:0", MaxConns: len(conns) + 8, OnOversize: mllp.HL7OversizeAck}, mllp.HL7Handler(in, nil))
	if err := srv.Listen(); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	defer func() { stop(); <-served }()

	var sent, accepted atomic.Int64
	var took time.Duration
	evs0, msgs0 := s.Log().Stats().Events.Load(), serverInMsgs(s)
	err = b.profile(phaseMLLP, func() error {
		var err error
		took, err = sendMLLP(ctx, srv.Addr().String(), conns, time.Now().Add(b.o.maxWrite), &sent, &accepted)
		return err
	})
	if err != nil {
		return err
	}
	evs := s.Log().Stats().Events.Load() - evs0
	if n := sent.Load(); n > 0 {
		b.res.MLLPNATSPerMessage = round(float64(serverInMsgs(s)-msgs0)/float64(n), 1)
	}
	b.progress("mllp: %d messages (%d AA) in %s, %d events appended", sent.Load(), accepted.Load(), took.Round(time.Millisecond), evs)
	r := b.res
	r.MLLPMessages, r.MLLPAccepted, r.MLLPConns = int(sent.Load()), int(accepted.Load()), len(conns)
	r.MLLPMps = round(float64(sent.Load())/took.Seconds(), 0)
	r.MLLPEventsPerS = round(float64(evs)/took.Seconds(), 0)
	return nil
}

// hl7Regions are the regions whose hospitals the simulator has send HL7 v2
// (docs/simulator.md); the others send MedCom.
var hl7Regions = []string{"Hovedstaden", "Sjælland", "Nordjylland"}

// serverInMsgs returns how many messages the embedded server has received
// from its clients: publishes and requests, so the round trips to
// JetStream.
func serverInMsgs(s *engine.Store) int64 {
	v, err := s.Server().Varz(nil)
	if err != nil {
		return 0
	}
	return v.InMsgs
}

// sendMLLP sends each connection's frames in order, each after the
// acknowledgement of the one before, until all are sent or stop.
func sendMLLP(ctx context.Context, addr string, conns [][][]byte, stop time.Time, sent, accepted *atomic.Int64) (time.Duration, error) {
	clients := make([]net.Conn, len(conns))
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		clients[i] = c
	}
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for i, frames := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i]
			r := bufio.NewReader(c)
			for _, f := range frames {
				if ctx.Err() != nil || time.Now().After(stop) {
					return
				}
				c.SetDeadline(time.Now().Add(time.Minute))
				if _, err := c.Write(f); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ack, err := mllp.ReadFrame(r)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				sent.Add(1)
				if hl7v2.AckCode(ack) == "AA" {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}
