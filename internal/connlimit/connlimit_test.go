package connlimit_test

import (
	"net"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/connlimit"
	"github.com/stafet/stafet/internal/faulttest"
)

// serve accepts on l and keeps what it accepts, until the test ends.
func serve(t *testing.T, l *connlimit.Listener) <-chan net.Conn {
	t.Helper()
	got := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return got
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name       string
		lim        connlimit.Limits
		sources    []string // one connection each, in order
		wantClosed []bool
	}{
		{"per source", connlimit.Limits{PerSource: 2},
			[]string{"127.0.0.2", "127.0.0.2", "127.0.0.2", "127.0.0.3"}, []bool{false, false, true, false}},
		{"in all", connlimit.Limits{Total: 2},
			[]string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, []bool{false, false, true}},
		{"no limits", connlimit.Limits{},
			[]string{"127.0.0.2", "127.0.0.2", "127.0.0.2"}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := connlimit.Wrap(ln, tt.lim, nil)
			accepted := serve(t, l)
			for i, src := range tt.sources {
				c := faulttest.DialFrom(t, src, ln.Addr().String())
				if !tt.wantClosed[i] {
					select {
					case <-accepted:
					case <-time.After(5 * time.Second):
						t.Fatalf("connection %d from %s not accepted", i+1, src)
					}
					continue
				}
				if !faulttest.ClosedByServer(c, 2*time.Second) {
					t.Errorf("connection %d from %s held; want it closed", i+1, src)
				}
			}
		})
	}
	t.Run("a closed connection gives its slot back", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l := connlimit.Wrap(ln, connlimit.Limits{PerSource: 1}, nil)
		accepted := serve(t, l)
		faulttest.DialFrom(t, "127.0.0.2", ln.Addr().String())
		first := <-accepted
		first.Close()
		first.Close() // twice: the slot is given back once
		if total, from := l.Held(first.RemoteAddr()); total != 0 || from != 0 {
			t.Errorf("held %d, %d from the source after Close; want 0", total, from)
		}
		faulttest.DialFrom(t, "127.0.0.2", ln.Addr().String())
		select {
		case <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatal("the source's next connection was not accepted")
		}
	})
}
