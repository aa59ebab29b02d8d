package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// The benchmarks run Stafet and raw JetStream side by side in one run, on
// the same stream and durability mode, and report both rates and their
// ratio:
//
//	go test ./engine -run '^$' -bench . -benchtime 3x
//
// Run with -count 3 or more and quote medians: these machines are noisy.

func benchStore(b *testing.B, d engine.Durability) *engine.Store {
	b.Helper()
	s, err := engine.Open(context.Background(), engine.Config{DataDir: b.TempDir(), Durability: d})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchCmds opens pathways (not measured) and returns n commands spread
// over them, each from its own source message: the engine's full write
// path for an existing pathway (state, idempotency by history, decide,
// expected-sequence append) with a realistic body.
func benchCmds(b *testing.B, s *engine.Store, n, pathways int) []events.Command {
	ref := patient(b, "0102030405")
	ids := make([]uuid.UUID, pathways)
	for i := range ids {
		ids[i] = events.NewID()
		c := events.Command{Pathway: ids[i], Actor: events.Actor{Org: hospital}, OccurredAt: t0,
			Payloads: []events.Payload{&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: aarhus, GP: "yder:012345"}}}
		if _, err := s.Log().Execute(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
	out := make([]events.Command, n)
	for i := range out {
		pw := ids[i%pathways]
		out[i] = events.Command{
			Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
			Source: events.Source{System: "bench", Org: hospital, MessageID: fmt.Sprint("m", i)},
			Payloads: []events.Payload{&events.DocumentSent{Document: fmt.Sprint("doc-", i), Kind: events.CareCommunication,
				From: hospital, To: aarhus}},
		}
	}
	return out
}

// rawPublish publishes the same bodies with plain async publish: no
// headers, no checks.
func rawPublish(b *testing.B, js jetstream.JetStream, subjects []string, bodies [][]byte) time.Duration {
	start := time.Now()
	for i := range bodies {
		if _, err := js.PublishAsync(subjects[i], bodies[i], jetstream.WithStallWait(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(5 * time.Minute):
		b.Fatal("raw publish did not complete")
	}
	return time.Since(start)
}

func engineExecute(b *testing.B, s *engine.Store, cmds []events.Command, workers int) time.Duration {
	start := time.Now()
	ch := make(chan events.Command, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				if _, err := s.Log().Execute(context.Background(), c); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	for _, c := range cmds {
		ch <- c
	}
	close(ch)
	wg.Wait()
	return time.Since(start)
}

func BenchmarkAppend(b *testing.B) {
	for _, d := range []engine.Durability{engine.Bulk, engine.Safe} {
		b.Run(string(d), func(b *testing.B) {
			n := 20000
			if d == engine.Safe {
				n = 3000
			}
			var raw, eng time.Duration
			for range b.N {
				s := benchStore(b, d)
				cmds := benchCmds(b, s, n, 1000)
				subjects, bodies := make([]string, n), make([][]byte, n)
				for i, c := range cmds {
					e := events.Envelope{ID: events.NewID(), Pathway: c.Pathway, OccurredAt: c.OccurredAt, RecordedAt: time.Now(), Actor: c.Actor, Source: c.Source, Payload: c.Payloads[0]}
					bodies[i], _ = s.Log().Codec().Encode(&e)
					subjects[i] = "stafet.ev.raw." + uuid.NewString() + ".x"
				}
				raw += rawPublish(b, natstest.JetStream(b, s.NATS().Conn()), subjects, bodies)
				eng += engineExecute(b, s, cmds, 256)
			}
			report(b, "append", float64(n*b.N), raw, eng)
		})
	}
}

func BenchmarkReplay(b *testing.B) {
	const n = 200000
	s := benchStore(b, engine.Bulk)
	fill(b, s, n)
	b.ResetTimer()
	var raw, eng time.Duration
	for range b.N {
		raw += rawRead(b, s, n)
		start := time.Now()
		var c countProjection
		if _, err := s.Log().Replay(context.Background(), engine.ReplayOptions{}, &c); err != nil || c.events != n {
			b.Fatalf("replayed %d, %v; want %d", c.events, err, n)
		}
		eng += time.Since(start)
	}
	report(b, "replay", float64(n*b.N), raw, eng)
}

// fill appends n encoded events over n/10 pathways with raw async publish
// (the fastest way to build a history; the bodies are real envelopes).
func fill(b *testing.B, s *engine.Store, n int) {
	b.Helper()
	ref := patient(b, "0102030405")
	js := natstest.JetStream(b, s.NATS().Conn())
	var pw uuid.UUID
	for i := range n {
		if i%10 == 0 {
			pw = events.NewID()
		}
		e := events.Envelope{ID: events.NewID(), Pathway: pw, OccurredAt: t0, RecordedAt: t0, Actor: events.Actor{Org: hospital},
			Payload: &events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: aarhus, Episode: fmt.Sprint(i)}}
		body, err := s.Log().Codec().Encode(&e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := js.PublishAsync(engine.Subject("aarhus", pw), body); err != nil {
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
}

// rawRead reads the whole stream with an ordered consumer and only counts:
// the fastest read JetStream offers (shared/NATS.md).
func rawRead(b *testing.B, s *engine.Store, n int) time.Duration {
	ctx := context.Background()
	start := time.Now()
	st, err := natstest.JetStream(b, s.NATS().Conn()).Stream(ctx, engine.EventStream)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	count := 0
	cc, err := cons.Consume(func(m jetstream.Msg) {
		count++
		if count == n {
			close(done)
		}
	}, jetstream.PullMaxMessages(10000))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	cc.Stop()
	return time.Since(start)
}

func report(b *testing.B, what string, n float64, raw, eng time.Duration) {
	rawRate, engRate := n/raw.Seconds(), n/eng.Seconds()
	b.ReportMetric(rawRate, "raw_eps")
	b.ReportMetric(engRate, "stafet_eps")
	b.ReportMetric(engRate/rawRate, what+"_ratio")
	b.ReportMetric(0, "ns/op")
}
