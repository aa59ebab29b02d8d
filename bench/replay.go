package bench

import (
	"context"
	"fmt"
	"os"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/projections"
)

// The replay phase's sides, on one server holding the template log.
const (
	// Stafet: Log.Replay of the whole log into every production
	// projection (a projections.Set with the default rules).
	sideReplay = "stafet"
	// Raw: an ordered consumer that reads the whole log and only counts.
	sideRawRead = "raw-read"
	// The same two on the same workload as a release before the chain
	// stored it (buildUnchainedTemplate), on a second server: what the
	// chain costs a replay.
	sideReplayUnchained  = "stafet-unchained"
	sideRawReadUnchained = "raw-read-unchained"
)

// chainCostMaxEvents is the largest workload whose replay phase also
// reads the log without the chain: a second template doubles the
// phase's time and disk, and the cost is a ratio a smaller log tells.
const chainCostMaxEvents = 2_000_000

// replayPhase reads the whole log both ways, alternating over rounds.
func (b *bencher) replayPhase(ctx context.Context) error {
	var unchained *template
	if b.events <= chainCostMaxEvents {
		// First: the template releases the workload once written.
		var err error
		if unchained, err = b.buildUnchainedTemplate(ctx); err != nil {
			return err
		}
	} else {
		b.note("the chain's cost is measured up to %d events; this run's log is read with the chain only", chainCostMaxEvents)
	}
	return b.withTemplate(ctx, "replay", func(s *engine.Store, t *template) error {
		return b.replaySides(ctx, s, t, unchained)
	})
}

// replaySides alternates the replay and the raw read on s, and on a copy
// of unchained if it is set.
func (b *bencher) replaySides(ctx context.Context, s *engine.Store, t *template, unchained *template) error {
	ss := b.readSides(s, t, sideReplay, sideRawRead, PhaseReplay)
	if unchained != nil {
		dir, err := b.copyOf("replay-unchained", unchained)
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		u, err := engine.Open(ctx, b.inMode(dir))
		if err != nil {
			return err
		}
		defer u.Close()
		ss = append(ss, b.readSides(u, unchained, sideReplayUnchained, sideRawReadUnchained, PhaseReplay+"-unchained")...)
	}
	peerSides, closePeer, err := b.peerReplaySides(ctx, s, t)
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
		r.PGTableReplayEPS, r.MessageDBReplayEPS = got.rate(sidePGTable), got.rate(sideMessageDB)
		r.ReplayRatioVsPGTable = got.ratio(sideReplay, sidePGTable)
		r.ReplayRatioVsMessageDB = got.ratio(sideReplay, sideMessageDB)
	}
	r.ReplayEPS, r.RawReadEPS = got.rate(sideReplay), got.rate(sideRawRead)
	r.ReplayRatio = got.ratio(sideReplay, sideRawRead)
	r.ReplayCPUPerEvent, r.RawReadCPUPerEvent = got.cpuPerEvent(sideReplay), got.cpuPerEvent(sideRawRead)
	if unchained != nil {
		r.UnchainedReplayEPS, r.UnchainedRawReadEPS = got.rate(sideReplayUnchained), got.rate(sideRawReadUnchained)
		r.UnchainedReplayRatio = got.ratio(sideReplayUnchained, sideRawReadUnchained)
		r.UnchainedReplayCPUPerEvent = got.cpuPerEvent(sideReplayUnchained)
		if r.UnchainedReplayRatio > 0 {
			r.ChainReplayRatio = round(r.ReplayRatio/r.UnchainedReplayRatio, 3)
		}
	}
	return nil
}

// readSides are a replay of s's whole log into a fresh Set of every
// production projection and a raw read of it, named replay and raw; the
// replay's first round is profiled as profile (Options.CPUProfile).
func (b *bencher) readSides(s *engine.Store, t *template, replay, raw, profile string) []side {
	return []side{
		{name: replay, run: func(ctx context.Context, round int) (measure, error) {
			set, err := projections.NewSet(projections.DefaultRules())
			if err != nil {
				return measure{}, err
			}
			var m measure
			peak, err := peakHeap(func() error {
				return b.profileIf(round == 0, profile, func() (err error) {
					m, err = timed(func() (int, bool, error) {
						st, err := s.Log().Replay(ctx, engine.ReplayOptions{}, set)
						return int(st.Events), false, err
					})
					return err
				})
			})
			b.res.ReplayPeakHeapMiB = max(b.res.ReplayPeakHeapMiB, mib(peak))
			if err == nil && m.events != t.events {
				err = fmt.Errorf("replayed %d events; want %d", m.events, t.events)
			}
			return m, err
		}},
		{name: raw, run: func(ctx context.Context, _ int) (measure, error) {
			return timed(func() (int, bool, error) {
				// Counted in events, as the replay is: a message holds
				// one command's events, which only decoding tells.
				return t.events, false, readAll(ctx, s, t.lastSeq, func(jetstream.Msg) {})
			})
		}},
	}
}
