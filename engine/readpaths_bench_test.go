package engine

import (
	"context"
	"encoding/json"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkReadPaths compares the ways a client can read a whole stream
// from JetStream, on the same chained commits (BenchmarkReplayVerify's,
// sealed as stafetd seals them), on the same server, side by side in each
// iteration with the order rotated, each only counting what it reads:
//
//   - ordered: jetstream's ordered consumer, the raw read `stafet bench`
//     compares the replay with;
//   - engine: the replay's own reader (pull.go), on the event stream;
//   - direct: batched Direct Get ({"seq","batch"}), the messages with
//     their headers, two batches in flight;
//   - direct-nohdr: the same without headers ("no_hdr"): neither the
//     chain's headers nor the sequence come back, so a reader of Stafet's
//     log could not verify or place a message read this way. It is here
//     as the bound a log format without headers could reach.
//
// Issue 21 suggested batched Direct Get for the replay. The server builds
// each message's Direct Get headers (stream, subject, sequence, time,
// pending, last) one net/http Header.Write at a time on top of the
// message's own, so with headers it costs more than the consumer:
//
//	go test ./engine -run '^$' -bench ReadPaths -benchtime 3x -count 3
func BenchmarkReadPaths(b *testing.B) {
	const pathways = 25000 // 4 commits each: 100 000 messages
	ctx := context.Background()
	st, err := Open(ctx, Config{DataDir: b.TempDir(), Durability: Bulk})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := st.Log()
	fillChained(b, s, pathways, nil)
	n := copyForDirect(b, s)
	readers := []struct {
		name string
		read func() int
	}{
		{"ordered", func() int { return readOrdered(b, s.js, n) }},
		{"engine", func() int { return readEngine(b, s, n) }},
		{"direct", func() int { return readDirect(b, s.nc, n, false) }},
		{"direct-nohdr", func() int { return readDirect(b, s.nc, n, true) }},
	}
	took := make([]time.Duration, len(readers))
	cpu := make([]time.Duration, len(readers))
	b.ResetTimer()
	for i := range b.N {
		for k := range readers {
			r := (i + k) % len(readers)
			runtime.GC()
			start, cpu0 := time.Now(), processCPU(b)
			if got := readers[r].read(); got != n {
				b.Fatalf("%s read %d messages; want %d", readers[r].name, got, n)
			}
			took[r] += time.Since(start)
			cpu[r] += processCPU(b) - cpu0
		}
	}
	msgs := float64(n * b.N)
	for r, rd := range readers {
		b.ReportMetric(msgs/took[r].Seconds(), rd.name+"-msgs/s")
		b.ReportMetric(float64(cpu[r].Nanoseconds())/msgs/1000, rd.name+"-cpu-µs/msg")
	}
	b.ReportMetric(0, "ns/op")
}

// readPathsStream holds a copy of the event stream with Direct Get
// allowed (the event stream's own is off).
const readPathsStream = "READPATHS"

// copyForDirect copies the event stream, headers and all, into
// readPathsStream and returns the messages copied.
func copyForDirect(b *testing.B, s *Log) int {
	ctx := context.Background()
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: readPathsStream, Subjects: []string{"readpaths.>"}, AllowDirect: true}); err != nil {
		b.Fatal(err)
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	err = s.scanLog(ctx, 1, last, func(_ uint64, subject string, h nats.Header, data []byte) error {
		n++
		_, err := s.js.PublishMsgAsync(&nats.Msg{Subject: "readpaths." + subject, Header: h, Data: data})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	<-s.js.PublishAsyncComplete()
	return n
}

func readOrdered(b *testing.B, js jetstream.JetStream, n int) int {
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, readPathsStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	done := make(chan struct{})
	cc, err := cons.Consume(func(jetstream.Msg) {
		if got++; got == n {
			close(done)
		}
	}, jetstream.PullMaxMessages(replayPull))
	if err != nil {
		b.Fatal(err)
	}
	<-done
	cc.Stop()
	return got
}

func readEngine(b *testing.B, s *Log, n int) int {
	got := 0
	done := make(chan struct{})
	stop, errc, err := s.readRange(context.Background(), 1, func(_ *nats.Msg, _, pending uint64) {
		if got++; pending == 0 {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	select {
	case <-done:
	case err := <-errc:
		b.Fatal(err)
	}
	return got
}

// readDirect reads the copy with batched Direct Gets of directBatch
// messages, two in flight, each answered by its messages and an
// end-of-batch status.
func readDirect(b *testing.B, nc *nats.Conn, n int, noHeaders bool) int {
	const directBatch = 4096
	// Room for both batches in flight: a full channel drops messages.
	ch := make(chan *nats.Msg, 4*directBatch)
	sub, err := nc.ChanSubscribe(nc.NewInbox(), ch)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	next, inFlight := uint64(1), 0
	ask := func() {
		req, _ := json.Marshal(map[string]any{"seq": next, "batch": directBatch, "no_hdr": noHeaders})
		if err := nc.PublishRequest("$JS.API.DIRECT.GET."+readPathsStream, sub.Subject, req); err != nil {
			b.Fatal(err)
		}
		next += directBatch
		inFlight++
	}
	ask()
	ask()
	got := 0
	for inFlight > 0 {
		m := <-ch
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			// End of a batch (or of the stream).
			if inFlight--; next <= uint64(n) {
				ask()
			}
			continue
		}
		if !noHeaders {
			if _, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64); err != nil {
				b.Fatalf("a Direct Get message without its sequence: %v", err)
			}
		}
		got++
	}
	return got
}
