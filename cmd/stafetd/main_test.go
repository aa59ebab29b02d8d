package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/settings"
)

// startService runs stafetd in-process on loopback ports with its data in
// dir, and stops it when the test ends.
func startService(t *testing.T, dir string, env map[string]string) (*service, func()) {
	t.Helper()
	vars := map[string]string{
		"STAFET_DATA_DIR": dir, "STAFET_HTTP_ADDR": "127.0.0.1:0", "STAFET_MLLP_ADDR": "127.0.0.1:0",
		"STAFET_NATS_ADDR": "127.0.0.1:0", "STAFET_LOG_LEVEL": "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	faulttest.WithKeyDir(vars)
	cfg, err := settings.Parse(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *service, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, io.Discard, started) }()
	var svc *service
	select {
	case svc = <-started:
	case err := <-done:
		t.Fatalf("stafetd stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("stafetd did not start in 30s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stafetd: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("stafetd did not stop in 30s")
		}
	}
	t.Cleanup(stop)
	return svc, stop
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if code, _ := get(t, base+"/readyz", ""); code == 200 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServiceStartsServesAndStops(t *testing.T) {
	dir := t.TempDir()
	svc, stop := startService(t, dir, nil)
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	if code, body := get(t, base+"/healthz", ""); code != 200 || !strings.Contains(body, `"status": "live"`) {
		t.Errorf("healthz: got %d %s", code, body)
	}
	if code, _ := get(t, base+"/metrics", ""); code != 401 {
		t.Errorf("metrics without a token: got %d; want 401", code)
	}
	code, body := get(t, base+"/metrics", svc.admin)
	for _, want := range []string{"stafet_projection_lag_events", "stafet_appends_total", "stafet_http_request_duration_seconds"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("metrics: got %d; want %s in the body", code, want)
		}
	}
	if svc.admin == "" {
		t.Error("no operator token")
	}
	admin := svc.admin
	stop()

	// A restart on the same data keeps the operator token and the secret.
	svc2, _ := startService(t, dir, nil)
	if svc2.admin != admin {
		t.Error("operator token changed across a restart")
	}
	waitReady(t, "http://"+svc2.httpAddr.String())
}

// TestFirstLines checks what a first start tells the operator before
// anything else: where the data is and where the operator token is, then
// the token itself, once, and where the dashboard is.
func TestFirstLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	keys := filepath.Join(t.TempDir(), "keys")
	vars := map[string]string{
		"STAFET_DATA_DIR": dir, "STAFET_HTTP_ADDR": "127.0.0.1:0", "STAFET_MLLP_ADDR": "127.0.0.1:0", "STAFET_NATS_ADDR": "none",
		"STAFET_KEY_DIR": keys,
	}
	cfg, err := settings.Parse(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	var out faulttest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *service, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &out, started) }()
	var svc *service
	select {
	case svc = <-started:
	case err := <-done:
		t.Fatalf("stafetd stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("stafetd did not start in 30s")
	}
	cancel()
	<-done
	lines := strings.Split(out.String(), "\n")
	tokenFile := filepath.Join(keys, "admin-token")
	if !strings.Contains(lines[0], "stafetd starting") || !strings.Contains(lines[0], "data_dir="+dir) || !strings.Contains(lines[0], "operator_token="+tokenFile) || !strings.Contains(lines[0], "key_dir="+keys) {
		t.Errorf("first line: %q; want where the data, the operator token and the keys are", lines[0])
	}
	text := out.String()
	if !strings.Contains(text, "Operator token (shown once; also in "+tokenFile+")") || strings.Count(text, svc.admin) != 1 {
		t.Errorf("want the generated token shown once, with its file:\n%s", text)
	}
	if want := "url=http://" + svc.httpAddr.String() + "/"; !strings.Contains(text, want) {
		t.Errorf("want the dashboard's address (%s):\n%s", want, text)
	}
}

// alertStream follows stafetd's alert stream (GET /v1/alerts/stream) with
// the token, giving the data line of each event, until the test ends.
func alertStream(t *testing.T, base, token string) <-chan string {
	t.Helper()
	lines := make(chan string, 32)
	req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/alerts/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				select {
				case lines <- line:
				case <-t.Context().Done():
					return
				}
			}
		}
	}()
	return lines
}
