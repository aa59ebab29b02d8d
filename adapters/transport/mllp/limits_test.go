package mllp_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/faulttest"
)

// sendWithin sends one frame from src and wants its echo within d.
func sendWithin(t *testing.T, s *mllp.Server, src string, d time.Duration) {
	t.Helper()
	start := time.Now()
	c := faulttest.DialFrom(t, src, s.Addr().String())
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(mllp.Frame([]byte("MSH|from " + src)))
	got, err := mllp.ReadFrame(bufio.NewReader(c))
	if took := time.Since(start); err != nil || string(got) != "ACK:MSH|from "+src || took > d {
		t.Errorf("sender at %s: %q, %v after %v; want its ACK within %v", src, got, err, took, d)
	}
}

// rss is the process's resident set, from /proc.
func rss(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status: ", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIdleConnectionsFromOneSourceDoNotStarveOthers(t *testing.T) {
	cfg := mllp.Config{MaxConns: 100, MaxConnsPerSource: 10}
	s := startEcho(t, cfg)
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	// 200 idle connections from 127.0.0.2: twice the whole server's cap.
	for range 200 {
		idle = append(idle, faulttest.DialFrom(t, "127.0.0.2", s.Addr().String()))
	}
	from2 := &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}
	waitFor(t, "the flood accepted or refused", func() bool { return s.RefusedOverLimit() >= 190 })
	if _, n := s.Held(from2); n > cfg.MaxConnsPerSource {
		t.Errorf("held %d connections from 127.0.0.2; want at most %d", n, cfg.MaxConnsPerSource)
	}
	sendWithin(t, s, "127.0.0.3", time.Second)
}

func TestUnterminatedBigFramesKeepMemoryBounded(t *testing.T) {
	const (
		sources  = 15
		perSrc   = 10
		frameLen = 4<<20 - 16
		budget   = 16 << 20
	)
	s := startEcho(t, mllp.Config{MaxMessage: 4 << 20, MaxBuffered: budget, MaxConnsPerSource: perSrc,
		OnBusy: func([]byte) []byte { return []byte("AR:busy") }})
	runtime.GC()
	before := rss(t)
	big := append([]byte{mllp.StartBlock}, bytes.Repeat([]byte("OBX|"), frameLen/4)...)

	// 150 connections from 15 addresses, each sending a 4 MiB frame that
	// never ends: 600 MiB if each were held.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	for i := range sources * perSrc {
		c := faulttest.DialFrom(t, fmt.Sprintf("127.0.0.%d", 2+i/perSrc), s.Addr().String())
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			c.Write(big) // ends when the server closes it, or has read it all
		}()
	}
	var peak, peakBuffered int64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for sampling := true; sampling; {
		select {
		case <-done:
			sampling = false
		case <-time.After(20 * time.Millisecond):
		}
		mu.Lock()
		peak = max(peak, rss(t))
		peakBuffered = max(peakBuffered, s.Buffered())
		mu.Unlock()
	}
	t.Logf("RSS %d MiB before, peak %d MiB; frame memory peak %d MiB of %d; frames refused busy %d",
		before>>20, peak>>20, peakBuffered>>20, budget>>20, s.Busy.Load())
	if peakBuffered > budget {
		t.Errorf("frame memory reached %d bytes; want at most %d", peakBuffered, budget)
	}
	if grew := peak - before; grew > 160<<20 {
		t.Errorf("RSS grew by %d MiB under 600 MiB of unterminated frames; want under 160 MiB", grew>>20)
	}
	if s.Busy.Load() == 0 {
		t.Error("no frame refused for want of memory")
	}
	// Another sender is served meanwhile.
	sendWithin(t, s, "127.0.0.99", time.Second)

	// Once those connections are gone, so is their memory.
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "the connections closed", func() bool { return s.Active() == 0 })
	if b := s.Buffered(); b != 0 {
		t.Errorf("frame memory %d bytes after every connection closed; want 0", b)
	}
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapInuse > 64<<20 {
		t.Errorf("heap in use %d MiB after the connections closed; want it released", ms.HeapInuse>>20)
	}
	t.Logf("after: heap in use %d MiB, RSS %d MiB", ms.HeapInuse>>20, rss(t)>>20)
}

func TestGarbageQuotaPerSource(t *testing.T) {
	const quota = 64 << 10
	e := startHL7Opts(t, engine.Config{}, nil, mllp.HL7Options{GarbageQuota: quota})
	// 9 000 bytes: seven fill 64 KiB but for 2.5 KiB, which the quota
	// (64 KiB an hour) takes minutes to make up, however slow the test.
	garbage := bytes.Repeat([]byte("not HL7 at all "), 600)
	send := func(t *testing.T, src string, msg []byte) string {
		t.Helper()
		c := faulttest.DialFrom(t, src, e.srv.Addr().String())
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write(mllp.Frame(msg))
		ack, err := mllp.ReadFrame(bufio.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		return string(ack)
	}
	deadLetters := func(t *testing.T) int {
		t.Helper()
		all, err := e.store.Inbox().DeadLetters(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}

	t.Run("a source's garbage is stored up to its quota, then refused unstored", func(t *testing.T) {
		refused := 0
		for i := range 20 {
			msg := append(fmt.Appendf(nil, "%02d ", i), garbage...) // each one different
			if ack := send(t, "127.0.0.2", msg); strings.Contains(ack, "too many unparsable") {
				refused++
			} else if !strings.Contains(ack, "|AR|") {
				t.Fatalf("message %d: %q; want AR", i, ack)
			}
		}
		want := quota / (len(garbage) + 3) // what fits in 64 KiB
		if stored := deadLetters(t); stored != want || refused != 20-stored {
			t.Errorf("%d stored as dead letters, %d refused; want %d stored (64 KiB of 9 000 bytes each), the rest refused", stored, refused, want)
		}
	})
	t.Run("another source has a quota of its own", func(t *testing.T) {
		before := deadLetters(t)
		if ack := send(t, "127.0.0.3", append([]byte("other "), garbage...)); strings.Contains(ack, "too many") {
			t.Errorf("127.0.0.3 refused for 127.0.0.2's garbage: %q", ack)
		}
		if deadLetters(t) != before+1 {
			t.Error("127.0.0.3's unparsable message not stored")
		}
	})
	t.Run("a valid message from the source over its quota is taken", func(t *testing.T) {
		ack := send(t, "127.0.0.2", []byte(adt("A01", "Q1", cpr(901), "Q1", nil)))
		if !strings.Contains(ack, "MSA|AA|Q1") {
			t.Errorf("%q; want AA: the quota is for garbage only", ack)
		}
	})
}

func TestRatePerSender(t *testing.T) {
	s := startEcho(t, mllp.Config{Rate: 20, Burst: 1})
	c := faulttest.DialFrom(t, "127.0.0.2", s.Addr().String())
	defer c.Close()
	r := bufio.NewReader(c)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	start := time.Now()
	done := make(chan time.Duration)
	go func() {
		for i := range 11 {
			c.Write(mllp.Frame(fmt.Appendf(nil, "MSH|%d", i)))
			if _, err := mllp.ReadFrame(r); err != nil {
				t.Error(err)
			}
		}
		done <- time.Since(start)
	}()
	time.Sleep(100 * time.Millisecond)
	sendWithin(t, s, "127.0.0.3", time.Second) // another sender is not paced by this one
	if took := <-done; took < 400*time.Millisecond {
		t.Errorf("11 messages at 20 a second took %v; want ≥ 500 ms", took)
	}
}
