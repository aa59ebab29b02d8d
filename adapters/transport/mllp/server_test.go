package mllp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/mllp"
)

// startEcho runs a server whose handler answers "ACK:" + the message.
func startEcho(t *testing.T, cfg mllp.Config) *mllp.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	s := mllp.New(cfg, func(_ context.Context, msg []byte, _ string) []byte {
		return append([]byte("ACK:"), msg...)
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop in 5s")
		}
	})
	return s
}

func dial(t *testing.T, s *mllp.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

func TestFrames(t *testing.T) {
	s := startEcho(t, mllp.Config{})
	c, r := dial(t, s)
	tests := []struct {
		name string
		send []byte
		want string
	}{
		{"one frame", mllp.Frame([]byte("MSH|1")), "ACK:MSH|1"},
		{"noise before the start block", append([]byte("\r\n"), mllp.Frame([]byte("MSH|2"))...), "ACK:MSH|2"},
		{"0x1C inside the message", mllp.Frame([]byte("MSH|\x1cX")), "ACK:MSH|\x1cX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			got, err := mllp.ReadFrame(r)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("a frame in pieces", func(t *testing.T) {
		f := mllp.Frame([]byte("MSH|pieces"))
		for _, b := range f {
			c.Write([]byte{b})
		}
		if got, err := mllp.ReadFrame(r); err != nil || string(got) != "ACK:MSH|pieces" {
			t.Errorf("got %q, %v", got, err)
		}
	})
}

func TestManyConnectionsAndAStalledOne(t *testing.T) {
	s := startEcho(t, mllp.Config{IdleTimeout: 500 * time.Millisecond})
	stalled, _ := dial(t, s)
	stalled.Write([]byte{mllp.StartBlock, 'M', 'S', 'H'}) // half a frame, then nothing
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			r := bufio.NewReader(c)
			for j := range 20 {
				msg := fmt.Sprintf("MSH|%d|%d", i, j)
				c.Write(mllp.Frame([]byte(msg)))
				got, err := mllp.ReadFrame(r)
				if err != nil || string(got) != "ACK:"+msg {
					t.Errorf("got %q, %v; want ACK:%s", got, err, msg)
					return
				}
			}
		}()
	}
	wg.Wait()
	// The stalled connection is closed after the idle timeout.
	stalled.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil {
		t.Error("stalled connection still open; want it closed")
	}
	if s.Timeouts.Load() < 1 {
		t.Errorf("timeouts: got %d; want ≥ 1", s.Timeouts.Load())
	}
}

func TestOversize(t *testing.T) {
	s := startEcho(t, mllp.Config{MaxMessage: 1024, OnOversize: func(head []byte) []byte {
		return []byte("AR:too large")
	}})
	c, r := dial(t, s)
	c.Write(mllp.Frame(bytes.Repeat([]byte("x"), 10<<10)))
	if got, err := mllp.ReadFrame(r); err != nil || string(got) != "AR:too large" {
		t.Errorf("got %q, %v; want the oversize answer", got, err)
	}
	// A well-behaved client is unaffected.
	c2, r2 := dial(t, s)
	c2.Write(mllp.Frame([]byte("MSH|small")))
	if got, err := mllp.ReadFrame(r2); err != nil || string(got) != "ACK:MSH|small" {
		t.Errorf("got %q, %v", got, err)
	}
}
