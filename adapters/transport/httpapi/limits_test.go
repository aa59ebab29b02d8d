package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/faulttest"
)

// limitedServer serves an API with the given limits on a real socket on
// 127.0.0.1, through HTTPServer and Listener as stafetd does.
func limitedServer(t *testing.T, e *env, lim httpapi.Limits) (*httpapi.Server, string) {
	t.Helper()
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		t.Fatal(err)
	}
	translate := func(b []byte) (*events.Translation, error) { return admissions(b, false) }
	in := ingest.New(e.store, dir, map[string]ingest.Translator{"medcom": translate}, nil)
	api := httpapi.New(httpapi.Config{Store: e.store, Tokens: e.tokens, Directory: dir, Ingest: in, Limits: lim})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.HTTPServer(nil)
	go srv.Serve(api.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return api, ln.Addr().String()
}

// getFrom sends GET path from src and returns the status and how long
// the answer took.
func getFrom(src, addr, path string) (int, time.Duration, error) {
	start := time.Now()
	c, err := faulttest.SourceDialer(src).Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: stafet\r\nConnection: close\r\n\r\n", path)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, time.Since(start), err
	}
	res.Body.Close()
	return res.StatusCode, time.Since(start), nil
}

// closedWithin reports whether the server closes c within d (a read
// returns EOF or a reset, not our own deadline).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return true
}

func TestHTTPLimitsUnderAbuse(t *testing.T) {
	e := newEnv(t)
	lim := httpapi.Limits{ReadTimeout: 2 * time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second, MaxConns: 100, MaxConnsPerSource: 20}
	api, addr := limitedServer(t, e, lim)

	t.Run("a flood of slow connections from one source leaves another served within 1 s", func(t *testing.T) {
		// 300 connections from 127.0.0.2, each with half a request
		// line: more than the whole server's cap.
		var flood []net.Conn
		defer func() {
			for _, c := range flood {
				c.Close()
			}
		}()
		for range 300 {
			c, err := faulttest.SourceDialer("127.0.0.2").Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("GET /healthz HT"))
			flood = append(flood, c)
		}
		// Accept has seen the whole flood once a later connection
		// from the same source is refused too.
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := faulttest.SourceDialer("127.0.0.2").Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			closed := closedWithin(c, 200*time.Millisecond)
			c.Close()
			if closed || time.Now().After(deadline) {
				break
			}
		}
		if total, from := api.Held(&net.TCPAddr{IP: net.ParseIP("127.0.0.2")}); from > lim.MaxConnsPerSource || total > lim.MaxConns {
			t.Errorf("held %d in all, %d from the flooding source; want at most %d from it", total, from, lim.MaxConnsPerSource)
		}
		status, took, err := getFrom("127.0.0.3", addr, "/healthz")
		if err != nil || status != http.StatusOK || took > time.Second {
			t.Errorf("another source: status %d in %v (%v); want 200 within 1 s", status, took, err)
		}
	})
	t.Run("a request that never finishes its headers is cut off", func(t *testing.T) {
		c, err := faulttest.SourceDialer("127.0.0.4").Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n"))
		if !closedWithin(c, 3*lim.ReadTimeout+5*time.Second) {
			t.Errorf("half a request held for longer than %v", 3*lim.ReadTimeout+5*time.Second)
		}
	})
	t.Run("a body sent a byte at a time is cut off at the read timeout", func(t *testing.T) {
		c, err := faulttest.SourceDialer("127.0.0.5").Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/medcom HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/fhir+json\r\nContent-Length: 100000\r\n\r\n", adminToken)
		start := time.Now()
		cut := false
		for time.Since(start) < 3*lim.ReadTimeout+5*time.Second {
			if _, err := c.Write([]byte("{")); err != nil {
				cut = true
				break
			}
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := c.Read(make([]byte, 512)); n > 0 || (err != nil && !isTimeout(err)) {
				cut = true // answered (an error) or closed
				break
			}
		}
		if !cut {
			t.Errorf("a trickled body held the connection for %v", time.Since(start))
		}
	})
	t.Run("an idle kept-alive connection is closed", func(t *testing.T) {
		c, err := faulttest.SourceDialer("127.0.0.6").Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		r := bufio.NewReader(c)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := r.ReadByte(); isTimeout(err) {
			t.Errorf("idle connection still open after %v; want closed after %v", time.Since(start), lim.IdleTimeout)
		}
	})
	t.Run("a stream outlives the timeouts", func(t *testing.T) {
		var once sync.Once
		ticks := make(chan struct{})
		api.HandleStream("GET /v1/test-stream", func(w http.ResponseWriter, r *http.Request) {
			defer once.Do(func() { close(ticks) })
			w.Header().Set("Content-Type", "text/event-stream")
			rc := http.NewResponseController(w)
			for i := range 6 {
				fmt.Fprintf(w, "data: %d\n\n", i)
				rc.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(lim.WriteTimeout / 2):
				}
			}
		})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/test-stream", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if got := strings.Count(string(b), "data:"); got != 6 {
			t.Errorf("stream gave %d of 6 events over 3× the write timeout: %q", got, b)
		}
		<-ticks
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestMedComRateAndGarbageQuota(t *testing.T) {
	e := newEnv(t)
	_, garbageAddr := limitedServer(t, e, httpapi.Limits{MessageRate: 1000, GarbageQuota: 16 << 10})
	_, rateAddr := limitedServer(t, e, httpapi.Limits{MessageRate: 0.2}) // one at once, one more every 5 s
	post := func(addr, token string, body []byte) (*http.Response, httpapi.Problem) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/medcom", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/fhir+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var p httpapi.Problem
		json.NewDecoder(res.Body).Decode(&p)
		return res, p
	}
	// 5 000 bytes: three fill the 16 KiB quota but for 1.3 KiB, which it
	// takes minutes to make up, however slow the test.
	garbage := bytes.Repeat([]byte("x"), 5000)
	t.Run("a token's unreadable bodies are stored up to its quota, then refused 429 unstored", func(t *testing.T) {
		tok := e.token(aarhus)
		stored, limited := 0, 0
		for i := range 8 {
			res, p := post(garbageAddr, tok, append([]byte(strconv.Itoa(i)), garbage...))
			switch {
			case res.StatusCode == http.StatusUnprocessableEntity && p.RawSeq != 0:
				stored++
			case res.StatusCode == http.StatusTooManyRequests && p.Type == "https://stafet.dk/problems/rate-limited" && res.Header.Get("Retry-After") != "" && strings.Contains(p.Detail, "no MedCom message"):
				limited++
			default:
				t.Fatalf("body %d: %d %+v", i, res.StatusCode, p)
			}
		}
		if stored != 3 || limited != 5 {
			// 16 KiB holds three bodies of 5 000 bytes.
			t.Errorf("%d stored, %d refused; want 3 stored, 5 refused 429", stored, limited)
		}
	})
	t.Run("a token over its message rate is answered 429, another token is not", func(t *testing.T) {
		tok := e.token(herlev)
		limited := 0
		for i := range 10 {
			res, p := post(rateAddr, tok, append([]byte(strconv.Itoa(i)), '!'))
			if res.StatusCode == http.StatusTooManyRequests && strings.Contains(p.Detail, "a second") {
				limited++
			}
		}
		if limited < 5 {
			t.Errorf("%d of 10 quick messages refused; want most beyond the first", limited)
		}
		if res, p := post(rateAddr, e.hosp, []byte("fresh token")); res.StatusCode == http.StatusTooManyRequests {
			t.Errorf("another token refused: %+v", p)
		}
	})
}
