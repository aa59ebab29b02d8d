package main

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/mllp"
)

// dialFrom connects to addr from the loopback address src (127.0.0.2
// stands for another host).
func dialFrom(t *testing.T, addr, src string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedAtOnce reports whether the server closes c without a word,
// rather than leave it open.
func closedAtOnce(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLimitSettingsTakeEffect: the listeners' limits set in the
// environment (internal/settings) bound the real listeners stafetd opens.
func TestLimitSettingsTakeEffect(t *testing.T) {
	svc, _ := startService(t, t.TempDir(), map[string]string{
		"STAFET_ORGANISATIONS":         "testdata/organisations.json",
		"STAFET_MLLP_CONNS_PER_SOURCE": "1", "STAFET_MLLP_MAX_MESSAGE": "2KiB",
		"STAFET_HTTP_CONNS_PER_SOURCE": "1",
	})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	mllpAddr := svc.mllpAddr.String()

	t.Run("MLLP connections per source", func(t *testing.T) {
		held := dialFrom(t, mllpAddr, "127.0.0.2")
		held.SetDeadline(time.Now().Add(20 * time.Second))
		held.Write(mllp.Frame(readFile(t, "testdata/a01.hl7")))
		if ack, err := mllp.ReadFrame(bufio.NewReader(held)); err != nil || !strings.Contains(string(ack), "MSA|AA") {
			t.Fatalf("first connection from 127.0.0.2: ACK %q, %v; want AA", ack, err)
		}
		if !closedAtOnce(dialFrom(t, mllpAddr, "127.0.0.2")) {
			t.Error("a second connection from 127.0.0.2 with STAFET_MLLP_CONNS_PER_SOURCE=1: still open; want it closed at once")
		}
		if code := sendMLLP(t, mllpAddr, "testdata/a03.hl7"); code != "AA" {
			t.Errorf("a connection from 127.0.0.1 meanwhile: %s; want AA", code)
		}
	})
	t.Run("MLLP maximum message", func(t *testing.T) {
		msg := readFile(t, "testdata/a01.hl7")
		big := append(bytes.TrimRight(msg, "\r\n"), []byte("\rNTE|1||"+strings.Repeat("x", 3<<10)+"\r")...)
		// From an address of its own: 127.0.0.1's one connection may
		// still be held while the server notices the last one closed.
		c := dialFrom(t, mllpAddr, "127.0.0.3")
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write(mllp.Frame(big))
		if ack, err := mllp.ReadFrame(bufio.NewReader(c)); err != nil || !strings.Contains(string(ack), "MSA|AR") {
			t.Errorf("a message over 3 KiB with STAFET_MLLP_MAX_MESSAGE=2KiB: ACK %q, %v; want AR", ack, err)
		}
	})
	t.Run("HTTP connections per source", func(t *testing.T) {
		dialFrom(t, svc.httpAddr.String(), "127.0.0.2")
		if !closedAtOnce(dialFrom(t, svc.httpAddr.String(), "127.0.0.2")) {
			t.Error("a second connection from 127.0.0.2 with STAFET_HTTP_CONNS_PER_SOURCE=1: still open; want it closed at once")
		}
		if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
			t.Errorf("GET /healthz from 127.0.0.1 meanwhile: %d; want 200", code)
		}
	})
}
