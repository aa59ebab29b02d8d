package alerts

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	odder    = events.Kommune("0727")
	t0       = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	cpr      = "0102030405"
)

func openStore(t testing.TB, cfg engine.Config) *engine.Store {
	t.Helper()
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Exports == nil {
		cfg.Exports = Exports
	}
	s, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// startService makes a Service and runs it until the test ends; it
// returns once the alert reactor exists, so events appended afterwards
// make alerts.
func startService(t testing.TB, store *engine.Store, cfg Config) *Service {
	t.Helper()
	cfg.Store = store
	cfg.AllowLoopback = true
	if cfg.Logger == nil && os.Getenv("STAFET_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("new service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := natstest.JetStream(t, store.NATS().Conn()).Stream(ctx, engine.EventStream)
		if err == nil {
			if _, err = st.Consumer(ctx, Reactor); err == nil {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert reactor not created: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func patient(t testing.TB) events.PatientRef {
	t.Helper()
	ps, err := events.NewPseudonymizer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ps.Ref(cpr)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// hl7 makes a command as the HL7 translation of a message from the
// hospital would.
func hl7(pw uuid.UUID, msgID string, at time.Time, ps ...events.Payload) events.Command {
	return events.Command{
		Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: at, Payloads: ps,
		Source: events.Source{System: "hl7v2", Org: hospital, MessageID: pw.String() + "/" + msgID},
	}
}

// dischargeFlow admits a patient (A01), offers home care to muni and
// discharges the patient home with services (A03) with nobody having
// accepted. muni gets offer-received and two gap-opened alerts (no-owner,
// discharged-before-accept); the hospital gets two gap-opened.
func dischargeFlow(t testing.TB, s *engine.Store, muni events.OrgID) uuid.UUID {
	t.Helper()
	pw := events.NewID()
	steps := []events.Command{
		hl7(pw, "A01", t0, &events.PathwayOpened{Patient: patient(t), Cluster: "aarhus", Municipality: muni},
			&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}),
		hl7(pw, "offer", t0.Add(time.Hour), &events.HandoffOffered{Offer: "o1", From: hospital, To: muni, What: events.HomeCare, Deadline: t0.Add(5 * time.Hour)}),
		hl7(pw, "A03", t0.Add(2*time.Hour), &events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: muni}),
	}
	for _, c := range steps {
		if _, err := s.Log().Execute(context.Background(), c); err != nil {
			t.Fatalf("execute %T: %v", c.Payloads[0], err)
		}
	}
	return pw
}

// natsSub subscribes a plain NATS client over TCP to subject and collects
// the alerts it gets.
type natsSub struct {
	mu     sync.Mutex
	alerts []Alert
	raw    [][]byte
}

// subscribe connects to the store's client port as a subscriber issued
// for subject, as an organisation's NATS user does, and collects alerts.
func subscribe(t testing.TB, store *engine.Store, subject string) *natsSub {
	t.Helper()
	nc := connectSubscriber(t, store, subject)
	ns := &natsSub{}
	if _, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var a Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Errorf("alert on %s: %v", m.Subject, err)
			return
		}
		if want := Subject(a.Cluster, a.Org, a.Kind); m.Subject != want {
			t.Errorf("alert on subject %s; want %s", m.Subject, want)
		}
		ns.mu.Lock()
		ns.alerts = append(ns.alerts, a)
		ns.raw = append(ns.raw, m.Data)
		ns.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return ns
}

func (ns *natsSub) snapshot() []Alert {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]Alert(nil), ns.alerts...)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	ID, Event string
	Alert     Alert
}

// sseClient reads a server-sent event stream.
type sseClient struct {
	events     chan sseEvent
	heartbeats chan struct{}
	cancel     context.CancelFunc
	done       chan struct{}
}

// connectSSE opens the stream and returns once the server has said it is
// listening (its first comment).
func connectSSE(t testing.TB, url, lastEventID string, header http.Header) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("sse: %v", err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("sse: got %s %q %s; want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"), b)
	}
	c := &sseClient{events: make(chan sseEvent, 1024), heartbeats: make(chan struct{}, 1024), cancel: cancel, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var ev sseEvent
		var data string
		first := true
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, ":"):
				if first {
					first = false
					close(ready)
				} else {
					c.heartbeats <- struct{}{}
				}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && data != "":
				if err := json.Unmarshal([]byte(data), &ev.Alert); err != nil {
					t.Errorf("sse data %q: %v", data, err)
				}
				c.events <- ev
				ev, data = sseEvent{}, ""
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("sse: no opening comment")
	}
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) close() {
	c.cancel()
	<-c.done
}

// next returns the next n events, failing after d.
func (c *sseClient) next(t testing.TB, n int, d time.Duration) []sseEvent {
	t.Helper()
	var out []sseEvent
	timeout := time.After(d)
	for len(out) < n {
		select {
		case ev := <-c.events:
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("sse: got %d events in %v; want %d", len(out), d, n)
		}
	}
	return out
}

// receiver is a webhook endpoint that checks signatures and records what
// it accepted.
type receiver struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex
	// handle decides the answer to an attempt; nil means 204.
	handle   func(w http.ResponseWriter, r *http.Request) bool
	got      map[string]Alert // by Idempotency-Key
	attempts map[string][]time.Time
	dup      int
	badSig   int
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{got: map[string]Alert{}, attempts: map[string][]time.Time{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := r.Header.Get(HeaderIdempotency)
	rc.mu.Lock()
	rc.attempts[key] = append(rc.attempts[key], time.Now())
	secret, handle := rc.secret, rc.handle
	rc.mu.Unlock()
	if !verify(secret, r.Header.Get(HeaderTimestamp), r.Header.Get(HeaderSignature), body, time.Now()) {
		rc.mu.Lock()
		rc.badSig++
		rc.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if handle != nil && !handle(w, r) {
		return
	}
	var a Alert
	if err := json.Unmarshal(body, &a); err != nil || a.ID != key {
		http.Error(w, "bad alert", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	if _, ok := rc.got[key]; ok {
		rc.dup++
	}
	rc.got[key] = a
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verify is what a receiver does (docs/alerts.md): recompute the HMAC of
// timestamp "." body, compare in constant time, refuse stale timestamps.
func verify(secret []byte, ts, sig string, body []byte, now time.Time) bool {
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// rawStream returns the alert stream as JetStream holds it, for tests
// that look behind the service.
func rawStream(t testing.TB, s *Service) jetstream.Stream {
	t.Helper()
	st, err := natstest.JetStream(t, s.store.NATS().Conn()).Stream(context.Background(), Stream)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// streamCount returns how many alerts the stream holds.
func streamCount(t testing.TB, s *Service) uint64 {
	t.Helper()
	info, err := rawStream(t, s).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// connectSubscriber issues a NATS user that may subscribe to subject and
// connects with its seed file.
func connectSubscriber(t testing.TB, store *engine.Store, subject string) *nats.Conn {
	t.Helper()
	seed, _, err := store.Subscribers().Issue(context.Background(), "test", []string{subject})
	if err != nil {
		t.Fatalf("issue subscriber: %v", err)
	}
	file := filepath.Join(t.TempDir(), "subscriber.nk")
	if err := os.WriteFile(file, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opt, err := nats.NkeyOptionFromSeed(file)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(store.NATS().ClientURL(), opt)
	if err != nil {
		t.Fatalf("connect as subscriber: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
