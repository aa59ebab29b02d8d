package engine

import (
	"context"
	"encoding/binary"
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
//   - packed: the same messages packed into messages of about 900 KB
//     (sequence, subject, header block and body, each length-prefixed),
//     read by the ordered consumer and unpacked, each packed message's
//     headers parsed and its chain MAC checked, which the readers above
//     do not do: what replay segments (docs/performance.md) would cost a
//     message, at most.
//
// Issue 21 suggested batched Direct Get for the replay. The server builds
// each message's Direct Get headers (stream, subject, sequence, time,
// pending, last) one net/http Header.Write at a time on top of the
// message's own, so with headers it costs more than the consumer:
//
//	go test ./engine -run '^$' -bench ReadPaths -benchtime 3x -count 3
func BenchmarkReadPaths(b *testing.B) {
	const pathways = 25000 // 4 commits each: 100 000 messages
	s, _ := chainedLog(b, pathways, nil)
	n := copyForDirect(b, s)
	readers := []struct {
		name string
		read func() int
	}{
		{"ordered", func() int { return readOrdered(b, s.js, n) }},
		{"engine", func() int { return readEngine(b, s, n) }},
		{"direct", func() int { return readDirect(b, s.nc, n, false) }},
		{"direct-nohdr", func() int { return readDirect(b, s.nc, n, true) }},
		{"packed", func() int { return readPacked(b, s, n) }},
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
// allowed (the event stream's own is off); packedStream the same
// messages packed (packer).
const (
	readPathsStream = "READPATHS"
	packedStream    = "READPACKED"
	packedSize      = 900 << 10
)

// copyForDirect copies the event stream, headers and all, into
// readPathsStream and returns the messages copied.
func copyForDirect(b *testing.B, s *Log) int {
	ctx := context.Background()
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: readPathsStream, Subjects: []string{"readpaths.>"}, AllowDirect: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: packedStream, Subjects: []string{"readpacked"}}); err != nil {
		b.Fatal(err)
	}
	var pack []byte
	flush := func() error {
		_, err := s.js.PublishAsync("readpacked", pack)
		pack = nil
		return err
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	err = s.scanLog(ctx, 1, last, func(seq uint64, subject string, h nats.Header, data []byte) error {
		n++
		if _, err := s.js.PublishMsgAsync(&nats.Msg{Subject: "readpaths." + subject, Header: h, Data: data}); err != nil {
			return err
		}
		if pack = appendPacked(pack, seq, subject, h, data); len(pack) > packedSize {
			return flush()
		}
		return nil
	})
	if err == nil && len(pack) > 0 {
		err = flush()
	}
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

// appendPacked appends one message to a pack: its sequence, subject,
// header block (as NATS sends it) and body, each length-prefixed.
func appendPacked(pack []byte, seq uint64, subject string, h nats.Header, data []byte) []byte {
	hdr := []byte("NATS/1.0\r\n")
	for k, vs := range h {
		for _, v := range vs {
			hdr = append(append(append(append(hdr, k...), ": "...), v...), "\r\n"...)
		}
	}
	hdr = append(hdr, "\r\n"...)
	pack = binary.AppendUvarint(pack, seq)
	for _, f := range [][]byte{[]byte(subject), hdr, data} {
		pack = binary.AppendUvarint(pack, uint64(len(f)))
		pack = append(pack, f...)
	}
	return pack
}

// readPacked reads the packs with an ordered consumer, unpacks every
// message, parses its headers and checks its chain MAC.
func readPacked(b *testing.B, s *Log, n int) int {
	ctx := context.Background()
	cons, err := s.js.OrderedConsumer(ctx, packedStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	c := s.chainers.get()
	defer s.chainers.put(c)
	got := 0
	for got < n {
		m, err := cons.Next()
		if err != nil {
			b.Fatal(err)
		}
		p := m.Data()
		for len(p) > 0 {
			seq, k := binary.Uvarint(p)
			p = p[k:]
			var f [3][]byte
			for i := range f {
				l, k := binary.Uvarint(p)
				f[i], p = p[k:k+int(l)], p[k+int(l):]
			}
			h, err := nats.DecodeHeadersMsg(f[1])
			if err != nil {
				b.Fatal(err)
			}
			if err := c.check(seq, s.chainFrom, string(f[0]), stampOf(h), f[2]); err != nil {
				b.Fatalf("packed message %d: %v", seq, err)
			}
			got++
		}
	}
	return got
}
