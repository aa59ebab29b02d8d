package main

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/internal/faulttest"
)

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
		held := faulttest.DialFrom(t, "127.0.0.2", mllpAddr)
		held.SetDeadline(time.Now().Add(20 * time.Second))
		held.Write(mllp.Frame(readFile(t, "testdata/a01.hl7")))
		if ack, err := mllp.ReadFrame(bufio.NewReader(held)); err != nil || !strings.Contains(string(ack), "MSA|AA") {
			t.Fatalf("first connection from 127.0.0.2: ACK %q, %v; want AA", ack, err)
		}
		if !faulttest.ClosedByServer(faulttest.DialFrom(t, "127.0.0.2", mllpAddr), 5*time.Second) {
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
		c := faulttest.DialFrom(t, "127.0.0.3", mllpAddr)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write(mllp.Frame(big))
		if ack, err := mllp.ReadFrame(bufio.NewReader(c)); err != nil || !strings.Contains(string(ack), "MSA|AR") {
			t.Errorf("a message over 3 KiB with STAFET_MLLP_MAX_MESSAGE=2KiB: ACK %q, %v; want AR", ack, err)
		}
	})
	t.Run("HTTP connections per source", func(t *testing.T) {
		faulttest.DialFrom(t, "127.0.0.2", svc.httpAddr.String())
		if !faulttest.ClosedByServer(faulttest.DialFrom(t, "127.0.0.2", svc.httpAddr.String()), 5*time.Second) {
			t.Error("a second connection from 127.0.0.2 with STAFET_HTTP_CONNS_PER_SOURCE=1: still open; want it closed at once")
		}
		if code, _ := get(t, base+"/healthz", ""); code != http.StatusOK {
			t.Errorf("GET /healthz from 127.0.0.1 meanwhile: %d; want 200", code)
		}
	})
}
