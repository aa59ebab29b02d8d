package faulttest

import (
	"errors"
	"net"
	"testing"
	"time"
)

// SourceDialer dials from the loopback address src: in tests of
// per-source limits, 127.0.0.2 and up stand for other hosts.
func SourceDialer(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

// DialFrom connects to addr from src, failing the test if it cannot;
// the connection is closed when the test ends.
func DialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	c, err := SourceDialer(src).Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ClosedByServer reports whether the server closes c, without a word,
// within d, rather than leave it open.
func ClosedByServer(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}
