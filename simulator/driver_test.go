package simulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
)

// The servers below stand in for stafetd in the driver's own unit tests
// only: they check the framing, headers and paths the driver uses and
// answer as stafetd's MLLP listener and HTTP API do. TestRunAgainstStafetd
// drives the real service.

// mllpStandIn answers every frame with an AA built by hl7v2.Ack and keeps
// the messages.
type mllpStandIn struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs [][]byte
}

func startMLLP(t *testing.T) *mllpStandIn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mllpStandIn{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *mllpStandIn) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		b, err := r.ReadBytes(endBlock)
		if err != nil {
			return
		}
		if cr, err := r.ReadByte(); err != nil || cr != carriage || b[0] != startBlock {
			return
		}
		msg := bytes.Clone(b[1 : len(b)-1])
		s.mu.Lock()
		s.msgs = append(s.msgs, msg)
		s.mu.Unlock()
		m, err := hl7v2.Parse(msg)
		var ack []byte
		if err != nil {
			ack = hl7v2.AckForUnparsable(msg, err.Error())
		} else {
			ack = hl7v2.Ack(m, "AA")
		}
		c.Write(append(append([]byte{startBlock}, ack...), endBlock, carriage))
	}
}

// apiStandIn records requests and answers like Stafet's HTTP API: MedCom
// posts get an acknowledgement and the pathway's id; each admission
// notified offers discharge planning to the municipality, which then
// shows on its worklist.
type apiStandIn struct {
	mu       sync.Mutex
	admin    string
	tokens   map[string]string // token → org
	pathways map[string]string // episode → id
	offers   map[string][]map[string]any
	answers  map[string]string // offer → accept/reject
	events   []string
	bad      []string
}

func startAPI(t *testing.T) (*apiStandIn, *httptest.Server) {
	t.Helper()
	a := &apiStandIn{admin: "operator", tokens: map[string]string{}, pathways: map[string]string{},
		offers: map[string][]map[string]any{}, answers: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/tokens", a.issue)
	mux.HandleFunc("POST /v1/medcom", a.medcom)
	mux.HandleFunc("GET /v1/worklist", a.worklist)
	mux.HandleFunc("POST /v1/pathways/{id}/offers/{offer}/{verb}", a.answer)
	mux.HandleFunc("POST /v1/pathways/{id}/events", a.event)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return a, srv
}

func (a *apiStandIn) org(r *http.Request) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
}

func (a *apiStandIn) fail(w http.ResponseWriter, status int, why string) {
	a.mu.Lock()
	a.bad = append(a.bad, why)
	a.mu.Unlock()
	http.Error(w, why, status)
}

func (a *apiStandIn) issue(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.admin {
		a.fail(w, http.StatusForbidden, "tokens: not the operator")
		return
	}
	var req struct{ Org string }
	json.NewDecoder(r.Body).Decode(&req)
	tok := "tok-" + req.Org
	a.mu.Lock()
	a.tokens[tok] = req.Org
	a.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

func (a *apiStandIn) medcom(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+a.admin || r.Header.Get("Content-Type") != "application/fhir+json" {
		a.fail(w, http.StatusUnauthorized, "medcom: token or content type")
		return
	}
	var body bytes.Buffer
	body.ReadFrom(r.Body)
	m, err := medcom.Parse(body.Bytes())
	if err != nil {
		a.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	ep := ""
	if m.Encounter != nil {
		ep = m.Encounter.StayID.Value
	}
	a.mu.Lock()
	id, ok := a.pathways[ep]
	if !ok && ep != "" {
		id = fmt.Sprintf("01900000-0000-7000-8000-%012d", len(a.pathways)+1)
		a.pathways[ep] = id
	}
	if code, _ := m.NotificationCode(); code == "STIN" || code == "STAA" || code == "SLHJ" {
		now := time.Now().UTC()
		org := "kommune:" + m.Receiver.SOR[4:8]
		a.offers[org] = append(a.offers[org], map[string]any{
			"pathway": id, "offer": "admission-notified/" + m.HeaderID, "what": "discharge-planning",
			"offered": now, "deadline": now.Add(time.Second),
		})
	}
	a.mu.Unlock()
	if m.Kind == medcom.KindAcknowledgement {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	ack, _ := medcom.Acknowledge(m, "ok", "", time.Now(), func() string { return fmt.Sprint(time.Now().UnixNano()) })
	if id != "" {
		w.Header().Set("Stafet-Pathway", id)
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Write(ack)
}

func (a *apiStandIn) worklist(w http.ResponseWriter, r *http.Request) {
	org := a.org(r)
	if org == "" {
		a.fail(w, http.StatusUnauthorized, "worklist: no org token")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"org": org, "offers": a.offers[org], "gaps": []any{}})
}

func (a *apiStandIn) answer(w http.ResponseWriter, r *http.Request) {
	org, verb, offer := a.org(r), r.PathValue("verb"), r.PathValue("offer")
	if org == "" || (verb != "accept" && verb != "reject") {
		a.fail(w, http.StatusBadRequest, "answer: "+verb+" by "+org)
		return
	}
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (verb == "reject" && body["reason"] == "") {
		a.fail(w, http.StatusBadRequest, "answer: body")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.answers[offer]; dup {
		a.bad = append(a.bad, "answered twice: "+offer)
	}
	a.answers[offer] = verb
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(`{}`))
}

func (a *apiStandIn) event(w http.ResponseWriter, r *http.Request) {
	if a.org(r) == "" || r.Header.Get("Idempotency-Key") == "" {
		a.fail(w, http.StatusBadRequest, "event: token or idempotency key")
		return
	}
	var ev struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}
	json.NewDecoder(r.Body).Decode(&ev)
	a.mu.Lock()
	a.events = append(a.events, ev.Type)
	a.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{}`))
}

func TestRun(t *testing.T) {
	mllp := startMLLP(t)
	api, srv := startAPI(t)
	var progress []Progress
	var pmu sync.Mutex
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := Run(ctx, Config{
		MLLPAddr: mllp.ln.Addr().String(), BaseURL: srv.URL, Token: api.admin,
		Seed: 1, TimeScale: 1440, Rate: 400, Count: 1200, PollInterval: 50 * time.Millisecond,
		Progress: func(p Progress) { pmu.Lock(); progress = append(progress, p); pmu.Unlock() },
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	total := 0
	for _, n := range st.Sent {
		total += n
	}
	if total+st.Skipped["pathway-unknown"]+st.Errors != 1200 {
		t.Errorf("sent %d, skipped %v, errors %d; want 1 200 in all", total, st.Skipped, st.Errors)
	}
	if st.Errors != 0 {
		t.Errorf("%d errors: %v", st.Errors, st.FirstErrors)
	}
	if st.Sent[HL7] == 0 || st.Sent[MedCom] == 0 || st.Sent[API] == 0 {
		t.Errorf("sent by channel %v; want all three", st.Sent)
	}
	if st.Acks["AA"] != st.Sent[HL7] {
		t.Errorf("%d AA for %d HL7 messages", st.Acks["AA"], st.Sent[HL7])
	}
	mllp.mu.Lock()
	if len(mllp.msgs) != st.Sent[HL7] {
		t.Errorf("the MLLP server got %d messages; the driver sent %d", len(mllp.msgs), st.Sent[HL7])
	}
	mllp.mu.Unlock()
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.bad) > 0 {
		t.Errorf("bad requests: %v", api.bad[:min(5, len(api.bad))])
	}
	if len(api.answers) == 0 || st.Answers[OnTime]+st.Answers[Reject] == 0 {
		t.Errorf("no offers answered (stats %v)", st.Answers)
	}
	if len(api.events) == 0 {
		t.Error("no API events")
	}
	pmu.Lock()
	defer pmu.Unlock()
	if len(progress) == 0 || progress[len(progress)-1].Sent != uint64(total) {
		t.Errorf("progress %v; want reports ending at %d sent", progress, total)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	mllp := startMLLP(t)
	api, srv := startAPI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	st, err := Run(ctx, Config{MLLPAddr: mllp.ln.Addr().String(), BaseURL: srv.URL, Token: api.admin, Seed: 2, Rate: 50, TimeScale: 60})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s after its context ended", d)
	}
	if st.Sent[HL7]+st.Sent[MedCom] == 0 {
		t.Errorf("nothing sent in half a second at 50/s: %+v", st)
	}
}

func TestRunDuration(t *testing.T) {
	mllp := startMLLP(t)
	api, srv := startAPI(t)
	start := time.Now()
	if _, err := Run(context.Background(), Config{MLLPAddr: mllp.ln.Addr().String(), BaseURL: srv.URL, Token: api.admin, Rate: 20, TimeScale: 60, Duration: 700 * time.Millisecond}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
		t.Errorf("Run with Duration 700ms took %s", d)
	}
}

func TestRunCountsErrors(t *testing.T) {
	// Nothing listens: every HL7 message fails, and Run still ends.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	api, srv := startAPI(t)
	st, err := Run(context.Background(), Config{MLLPAddr: addr, BaseURL: srv.URL, Token: api.admin, Rate: 1000, TimeScale: 60, Count: 50, Timeout: time.Second, NoAnswers: true, ResendFor: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st.Errors == 0 || len(st.FirstErrors) == 0 || !strings.Contains(st.FirstErrors[0], "not taken after resending for 300ms") {
		t.Errorf("no errors counted with no MLLP listener, or not after resending: %+v", st)
	}
	if st.Retries == 0 || st.Resent != 0 {
		t.Errorf("retries %d, resent %d; want failed resends and none through", st.Retries, st.Resent)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{
		"negative rate":        {Rate: -1},
		"negative time scale":  {TimeScale: -1},
		"negative count":       {Count: -1},
		"too many connections": {Concurrency: 5000},
		"negative resend time": {ResendFor: -time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(context.Background(), c); err == nil {
				t.Error("Run: no error")
			}
		})
	}
}
