package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// streamEnv is an API with a test stream mounted as the alert stream is:
// it writes a line every 50 ms until its request ends.
func streamEnv(t *testing.T) (*httptest.Server, *httpapi.Tokens) {
	t.Helper()
	ctx := context.Background()
	store, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	tokens, err := httpapi.NewTokens(ctx, store, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := events.NewDirectory(nil)
	api := httpapi.New(httpapi.Config{Store: store, Tokens: tokens, Directory: dir,
		MetricsToken: "metrics-token-for-tests-0123", StreamRecheck: 100 * time.Millisecond})
	api.HandleStream("GET /v1/test/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	api.Handle("GET /v1/test/plain", true, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv, tokens
}

func status(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenPlaces checks where a token may come from: the header on every
// route, the query only on streams; /metrics wants the metrics or the
// operator token.
func TestTokenPlaces(t *testing.T) {
	srv, tokens := streamEnv(t)
	tok, err := tokens.Issue(context.Background(), aarhus, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, header string
		want               int
	}{
		{"header on a plain route", "/v1/test/plain", tok, 200},
		{"query on a plain route", "/v1/test/plain?access_token=" + tok, "", 401},
		{"query on the stream", "/v1/test/stream?access_token=" + tok, "", 200},
		{"metrics without a token", "/metrics", "", 401},
		{"metrics with an organisation's token", "/metrics", tok, 401},
		{"metrics with the metrics token", "/metrics", "metrics-token-for-tests-0123", 200},
		{"metrics with the operator token", "/metrics", adminToken, 200},
		{"the metrics token elsewhere", "/v1/test/plain", "metrics-token-for-tests-0123", 401},
		{"metrics token in the query", "/metrics?access_token=metrics-token-for-tests-0123", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+tt.path, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", "Bearer "+tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d; want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestRevokedTokenEndsItsStream revokes the token of an open stream: the
// stream ends within the recheck interval, and another token's stream
// goes on.
func TestRevokedTokenEndsItsStream(t *testing.T) {
	srv, tokens := streamEnv(t)
	ctx := context.Background()
	revoked, _ := tokens.Issue(ctx, aarhus, "test", "")
	kept, _ := tokens.Issue(ctx, odder, "test", "")
	open := func(tok string) (*bufio.Scanner, func()) {
		resp, err := http.Get(srv.URL + "/v1/test/stream?access_token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
		return bufio.NewScanner(resp.Body), func() { resp.Body.Close() }
	}
	gone, closeGone := open(revoked)
	defer closeGone()
	still, closeStill := open(kept)
	defer closeStill()
	gone.Scan()
	if err := tokens.Revoke(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	ended := make(chan time.Time, 1)
	go func() {
		for gone.Scan() {
		}
		ended <- time.Now()
	}()
	start := time.Now()
	select {
	case at := <-ended:
		t.Logf("the revoked token's stream ended %v after the revocation", at.Sub(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked token's stream still runs 5 s after the revocation")
	}
	n := 0
	for n < 5 && still.Scan() {
		if strings.HasPrefix(still.Text(), "data: ") {
			n++
		}
	}
	if n < 5 {
		t.Errorf("the other token's stream stopped too (%d lines)", n)
	}
}
