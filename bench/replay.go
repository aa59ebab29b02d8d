package bench

import (
	"context"
	"fmt"

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
)

// replayPhase reads the whole log both ways, alternating over rounds.
func (b *bencher) replayPhase(ctx context.Context) error {
	return b.withTemplate(ctx, "replay", func(s *engine.Store, t *template) error {
		return b.replaySides(ctx, s, t)
	})
}

// replaySides alternates the replay and the raw read on s.
func (b *bencher) replaySides(ctx context.Context, s *engine.Store, t *template) error {
	ss := []side{
		{name: sideReplay, run: func(ctx context.Context, round int) (measure, error) {
			set, err := projections.NewSet(projections.DefaultRules())
			if err != nil {
				return measure{}, err
			}
			var m measure
			peak, err := peakHeap(func() error {
				return b.profileIf(round == 0, PhaseReplay, func() (err error) {
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
		{name: sideRawRead, run: func(ctx context.Context, _ int) (measure, error) {
			return timed(func() (int, bool, error) {
				// Counted in events, as the replay is: a message holds
				// one command's events, which only decoding tells.
				return t.events, false, readAll(ctx, s, t.lastSeq, func(jetstream.Msg) {})
			})
		}},
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
	return nil
}
