package engine

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// BenchmarkReplayVerify measures what verifying the chain costs a replay
// (issue 13: under 10 % of its throughput): the same chained log, on the
// same server, replayed by the same pipeline with every message's MAC
// checked (as every reader does) and with the check off (a reader without
// the chain key, which no reader of stafetd's is), side by side in each
// iteration, alternating which goes first:
//
//	go test ./engine -run '^$' -bench ReplayVerify -benchtime 3x -count 5
//
// It folds into a projection that only counts, so the verification's
// share is larger here than in a replay into every projection: an upper
// bound. The messages are the commits of BenchmarkReadStored's pathway,
// sealed as stafetd seals them (v2) and as releases before 2026-12-08
// did (v1, chain.go), which every reader still checks.
func BenchmarkReplayVerify(b *testing.B) {
	b.Run("v2", func(b *testing.B) { replayVerify(b, nil) })
	b.Run("v1", func(b *testing.B) { replayVerify(b, sealV1) })
}

// replayVerify is BenchmarkReplayVerify with messages sealed by seal, or
// as stafetd seals them if seal is nil.
func replayVerify(b *testing.B, seal sealer) {
	const pathways = 50000 // 4 messages, 5 events each: 250 000 events
	ctx := context.Background()
	s, n := chainedLog(b, pathways, seal)
	key := s.chainers.key
	var cpu [2]time.Duration // CPU of the process: verified, unverified
	replay := func(verify bool) time.Duration {
		if verify {
			s.chainers.key = key
		} else {
			s.chainers.key = nil
		}
		defer func() { s.chainers.key = key }()
		var c counted
		runtime.GC()
		start, cpu0 := time.Now(), processCPU(b)
		if _, err := s.Replay(ctx, ReplayOptions{}, &c); err != nil || c.events != n || c.standIns != 0 {
			b.Fatalf("replayed %d events (%d stand-ins), %v; want %d, none", c.events, c.standIns, err, n)
		}
		cpu[map[bool]int{true: 0, false: 1}[verify]] += processCPU(b) - cpu0
		return time.Since(start)
	}
	b.ResetTimer()
	var checked, unchecked time.Duration
	for i := range b.N {
		if i%2 == 0 {
			checked += replay(true)
			unchecked += replay(false)
		} else {
			unchecked += replay(false)
			checked += replay(true)
		}
	}
	events := float64(n * b.N)
	b.ReportMetric(events/checked.Seconds(), "verified-events/s")
	b.ReportMetric(events/unchecked.Seconds(), "unverified-events/s")
	b.ReportMetric(unchecked.Seconds()/checked.Seconds(), "verified/unverified")
	b.ReportMetric(float64(cpu[0].Microseconds())/events, "verified-cpu-µs/event")
	b.ReportMetric(float64(cpu[1].Microseconds())/events, "unverified-cpu-µs/event")
}

// processCPU is the CPU time the process (the embedded server included)
// has used: with two cores the replay is CPU-bound, so CPU per event is
// a steadier measure than the rate.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type counted struct{ events, standIns int }

func (c *counted) Apply(e events.Envelope) error {
	c.events++
	if _, ok := StandIn(&e); ok {
		c.standIns++
	}
	return nil
}

// chainedLog opens a store in bulk mode, closed when b ends, and fills
// its log (fillChained); it returns the log and the events stored.
func chainedLog(b *testing.B, pathways int, seal sealer) (*Log, int) {
	st, err := Open(context.Background(), Config{DataDir: b.TempDir(), Durability: Bulk})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st.Log(), fillChained(b, st.Log(), pathways, seal)
}

// fillChained stores pathways × the commits of one pathway, each sealed
// into its pathway's chain as an append seals it, published a round of
// one message per pathway at a time so that each knows its predecessor's
// sequence. seal, if not nil, seals instead of Log.Chain. It returns the
// events stored.
func fillChained(b *testing.B, s *Log, pathways int, seal sealer) int {
	b.Helper()
	ctx := context.Background()
	ref := events.PatientRef("p0123456789abcdef0123456789abcdef")
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	src := events.Source{System: "hl7v2", Org: "sor:6620000000001", MessageID: "MSG0001"}
	type head struct {
		seq  uint64
		link Link
	}
	heads := make([]head, pathways)
	ids := make([]events.Envelope, pathways)
	for i := range ids {
		ids[i].Pathway = events.NewID()
	}
	rounds := [][]events.Payload{
		{&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}, &events.PatientAdmitted{Hospital: "sor:6620000000001", Class: events.Inpatient}},
		{&events.HandoffOffered{Offer: "o1", From: "sor:6620000000001", To: "kommune:0751", What: events.HomeCare, Deadline: at.Add(time.Hour)}},
		{&events.HandoffAccepted{Offer: "o1", By: "kommune:0751"}},
		{&events.PatientDischarged{Hospital: "sor:6620000000001", Destination: events.DestHomeWithServices, To: "kommune:0751"}},
	}
	total := 0
	for _, payloads := range rounds {
		futures := make([]jetstream.PubAckFuture, pathways)
		for i := range pathways {
			pw := ids[i].Pathway
			evs := make([]events.Envelope, len(payloads))
			for j, p := range payloads {
				evs[j] = events.Envelope{ID: events.NewID(), Pathway: pw, Type: p.Type(), Schema: 1, OccurredAt: at, RecordedAt: at,
					Source: src, Actor: events.Actor{Org: "sor:6620000000001"}, Payload: p}
			}
			data, err := s.codec.EncodeCommit(evs)
			if err != nil {
				b.Fatal(err)
			}
			m := &nats.Msg{Subject: Subject("aarhus", pw), Data: data}
			if seal != nil {
				heads[i].link = seal(s.chainers.key, m, heads[i].seq, heads[i].link)
			} else {
				heads[i].link = s.Chain(m, heads[i].seq, heads[i].link)
			}
			if futures[i], err = s.js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
			total += len(evs)
		}
		for i, f := range futures {
			select {
			case ack := <-f.Ok():
				heads[i].seq = ack.Sequence
			case err := <-f.Err():
				b.Fatal(err)
			case <-ctx.Done():
			}
		}
	}
	return total
}
