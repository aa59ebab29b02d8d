package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// The append phase's sides. Every side appends the same slice of the
// workload — all of it, each under the same MaxWrite cap — to a fresh
// server of its own with the same stream configuration.
const (
	// Stafet: Execute from Writers goroutines; in safe mode the store's
	// group commit.
	sideStafet = "stafet"
	// Raw async publish of the messages Execute stores, bare: subject and
	// body; acknowledged as Stafet's are (safe mode: after a group sync).
	sideRaw = "raw"
	// The same with Stafet's header and expected-sequence checks.
	sideRawChecked = "raw-checked"
	// Safe mode only: both again on a server that fsyncs every message
	// itself (JetStream's sync_always; engine.Config.FsyncEach).
	sideStafetFsyncEach = "stafet-fsync-each"
	sideRawSyncAlways   = "raw-sync-always"
)

// appendPhase appends the workload with Execute and with raw JetStream
// publishes of the very messages Execute stores, alternating the sides
// over rounds.
func (b *bencher) appendPhase(ctx context.Context) error {
	start := time.Now()
	msgs, err := encodeAll(b.work)
	if err != nil {
		return err
	}
	b.progress("append: %d messages encoded for the raw sides in %s (not measured)", len(msgs), time.Since(start).Round(time.Millisecond))
	group := b.inMode
	each := func(dir string) engine.Config {
		c := b.config(dir, engine.Safe)
		c.FsyncEach = true
		return c
	}
	ss := []side{
		b.stafetAppend(sideStafet, group),
		b.rawAppend(sideRaw, group, msgs, false),
		b.rawAppend(sideRawChecked, group, msgs, true),
	}
	if b.o.Durability == engine.Safe {
		ss = append(ss, b.stafetAppend(sideStafetFsyncEach, each), b.rawAppend(sideRawSyncAlways, each, msgs, false))
	}
	peerSides, closePeer, err := b.peerAppendSides(ctx, msgs)
	if err != nil {
		return err
	}
	defer closePeer()
	got, err := b.alternate(ctx, append(ss, peerSides...))
	if err != nil {
		return err
	}
	r := b.res
	if b.o.Peer != "" {
		r.PGTableAppendEPS, r.MessageDBAppendEPS = got.rate(sidePGTable), got.rate(sideMessageDB)
		r.AppendRatioVsPGTable = got.ratio(sideStafet, sidePGTable)
		r.AppendRatioVsMessageDB = got.ratio(sideStafet, sideMessageDB)
	}
	r.AppendEvents = b.events
	r.AppendEPS, r.RawAppendEPS, r.RawAppendCheckedEPS = got.rate(sideStafet), got.rate(sideRaw), got.rate(sideRawChecked)
	r.AppendRatio, r.AppendCheckedRatio = got.ratio(sideStafet, sideRaw), got.ratio(sideStafet, sideRawChecked)
	r.AppendCPUPerEvent = got.cpuPerEvent(sideStafet)
	r.RawAppendCPUPerEvent = got.cpuPerEvent(sideRaw)
	r.RawAppendCheckedCPUPerEvent = got.cpuPerEvent(sideRawChecked)
	if b.o.Durability == engine.Safe {
		r.AppendFsyncEachEPS, r.RawAppendSyncAlwaysEPS = got.rate(sideStafetFsyncEach), got.rate(sideRawSyncAlways)
		r.AppendFsyncEachRatio = got.ratio(sideStafetFsyncEach, sideRawSyncAlways)
		r.AppendRatioVsSyncAlways = got.ratio(sideStafet, sideRawSyncAlways)
	}
	return nil
}

// stafetAppend is the side that executes the workload.
func (b *bencher) stafetAppend(name string, cfg func(string) engine.Config) side {
	return side{name: name, run: func(ctx context.Context, round int) (m measure, err error) {
		err = b.withStore(ctx, "append-"+name, cfg, func(s *engine.Store) error {
			var stored int
			err := b.profileIf(round == 0 && name == sideStafet, PhaseAppend, func() (err error) {
				m, err = timed(func() (int, bool, error) {
					evs, done, msgs, err := b.execute(ctx, s, b.work, time.Now().Add(b.o.MaxWrite))
					stored = msgs
					return evs, done < len(b.work), err
				})
				return err
			})
			if err != nil {
				return err
			}
			return checkStored(ctx, s, stored)
		})
		return m, err
	}}
}

// rawAppend is a side that publishes msgs with raw JetStream.
func (b *bencher) rawAppend(name string, cfg func(string) engine.Config, msgs []stored, checked bool) side {
	return side{name: name, run: func(ctx context.Context, _ int) (m measure, err error) {
		err = b.withStore(ctx, "append-"+name, cfg, func(s *engine.Store) error {
			var n int
			m, err = timed(func() (int, bool, error) {
				var evs int
				var err error
				n, evs, err = publisher{s: s, checked: checked, window: b.o.Writers}.publish(ctx, msgs, time.Now().Add(b.o.MaxWrite))
				return evs, n < len(msgs), err
			})
			if err != nil {
				return err
			}
			return checkStored(ctx, s, n)
		})
		return m, err
	}}
}

// checkStored checks that the log holds the messages a side says it
// appended.
func checkStored(ctx context.Context, s *engine.Store, msgs int) error {
	last, err := s.Log().LastSeq(ctx)
	if err == nil && last != uint64(msgs) {
		err = fmt.Errorf("the log holds %d messages; the side appended %d", last, msgs)
	}
	return err
}

// shard picks a pathway's writer, so that one writer executes all of a
// pathway's commands, in order.
func shard(pw uuid.UUID, n int) int {
	return int(binary.BigEndian.Uint64(pw[8:]) % uint64(n))
}

// execute runs cmds through Execute from Writers goroutines, each
// pathway's commands in order on one of them, until all are done or stop
// passes (zero: no limit). It returns the events appended, the commands
// executed (one the pathway rules reject counts as executed) and the
// messages stored.
func (b *bencher) execute(ctx context.Context, s *engine.Store, cmds []events.Command, stop time.Time) (evs, done, msgs int, err error) {
	return b.executeOn(ctx, []*engine.Store{s}, cmds, stop)
}

// executeOn is execute with the writers spread over stores, instances of
// one deployment.
func (b *bencher) executeOn(ctx context.Context, stores []*engine.Store, cmds []events.Command, stop time.Time) (evs, done, msgs int, err error) {
	shards := make([][]events.Command, b.o.Writers)
	for _, c := range cmds {
		i := shard(c.Pathway, len(shards))
		shards[i] = append(shards[i], c)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var nEvs, nDone, nMsgs atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for i, sh := range shards {
		s := stores[i%len(stores)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, c := range sh {
				if ctx.Err() != nil || (!stop.IsZero() && time.Now().After(stop)) {
					return
				}
				res, err := s.Log().Execute(ctx, c)
				if err != nil && !errors.Is(err, events.ErrRule) {
					once.Do(func() { firstErr = fmt.Errorf("execute %s: %w", c.Pathway, err); cancel() })
					return
				}
				if len(res.Events) > 0 {
					nMsgs.Add(1)
				}
				nEvs.Add(int64(len(res.Events)))
				nDone.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(nEvs.Load()), int(nDone.Load()), int(nMsgs.Load()), firstErr
}
