package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	odder    = events.Kommune("0727")
	herlev   = events.SOR("265161000016000") // the sender of MedCom's STIN example
	t0       = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

const adminToken = "operator-token-for-tests-0123456789"

// organisations is the operator's organisations file the tests run with:
// the two hospitals, in their clusters.
const organisations = `{"organisations": [
	{"id": "sor:6620000000001", "kind": "hospital", "name": "Aarhus Universitetshospital", "region": "Midtjylland", "clusters": ["aarhus"]},
	{"id": "sor:265161000016000", "kind": "hospital", "name": "Herlev og Gentofte Hospital", "region": "Hovedstaden", "clusters": ["midt-hovedstaden"]}
]}`

// env is a running API: a real store on a temporary directory, the
// projections hosted and followed live, and the API on a real HTTP
// server.
type env struct {
	t      *testing.T
	store  *engine.Store
	host   *engine.Host
	srv    *httptest.Server
	api    *httpapi.Server
	tokens *httpapi.Tokens
	hosp   string // the hospital's token

	mu  sync.Mutex
	now time.Time
	// fixed is a mapping fix: the tests' MedCom translator takes every
	// HospitalNotification as an admission, not STIN only.
	fixed atomic.Bool
	// receipts is the message browser's index.
	receipts *engine.ReceiptIndex
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, false)
}

// newEnvWith is newEnv; realMedCom runs MedCom messages through the MedCom
// adapter's own translator instead of the tests' small one.
func newEnvWith(t *testing.T, realMedCom bool) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		t.Fatal(err)
	}
	set, err := projections.NewSet(projections.Rules{})
	if err != nil {
		t.Fatal(err)
	}
	set.UseDirectory(dir)
	host := store.Log().NewHost("projections-test", set, engine.HostOptions{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := host.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("host: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		store.Close()
	})
	select {
	case <-host.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("projections not ready in 10s")
	}
	tokens, err := httpapi.NewTokens(ctx, store, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	// The alert service, running: break-the-glass reads and joins alert
	// the parties.
	as, err := alerts.New(ctx, alerts.Config{Store: store, Directory: dir})
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := as.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("alerts: %v", err)
		}
	}()
	e := &env{t: t, store: store, host: host, tokens: tokens, now: t0}
	translate := func(b []byte) (*events.Translation, error) { return admissions(b, e.fixed.Load()) }
	if realMedCom {
		translate = medcom.NewTranslator(dir).Translate
	}
	in := ingest.New(store, dir, map[string]ingest.Translator{"medcom": translate}, nil)
	e.receipts = store.Inbox().NewReceiptIndex()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := e.receipts.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("receipts: %v", err)
		}
	}()
	<-e.receipts.Ready()
	e.api = httpapi.New(httpapi.Config{
		Store: store, Tokens: tokens, Directory: dir, Ingest: in, Projections: host, Receipts: e.receipts,
		Now: e.clock, MaxBody: 64 << 10, Alerts: as,
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	e.hosp = e.token(hospital)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) setNow(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

// token issues an organisation token.
func (e *env) token(org events.OrgID) string {
	e.t.Helper()
	tok, err := e.tokens.Issue(context.Background(), org, "test", "")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// response is an answer, read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem decodes a problem answer, checking its media type.
func (r response) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q; want application/problem+json (body %s)", ct, r.body)
	}
	var p httpapi.Problem
	r.json(t, &p)
	return p
}

// do sends a request; body is JSON-encoded unless it is a string or
// []byte.
func (e *env) do(method, path, token string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// result is the answer to a command.
type result struct {
	Pathway   uuid.UUID `json:"pathway"`
	Seqs      []uint64  `json:"seqs"`
	Duplicate bool      `json:"duplicate"`
	Existing  bool      `json:"existing"`
	Offer     string    `json:"offer"`
	Document  string    `json:"document"`
}

// command sends a command that must succeed, and waits until the
// projections have applied it.
func (e *env) command(method, path, token string, body any, header ...string) result {
	e.t.Helper()
	res := e.do(method, path, token, body, header...)
	if res.status != http.StatusCreated && res.status != http.StatusOK {
		e.t.Fatalf("%s %s: status %d: %s", method, path, res.status, res.body)
	}
	var r result
	res.json(e.t, &r)
	if len(r.Seqs) > 0 {
		e.waitApplied(r.Seqs[len(r.Seqs)-1])
	}
	return r
}

func (e *env) waitApplied(seq uint64) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.host.Applied() < seq; {
		if time.Now().After(deadline) {
			e.t.Fatalf("projections applied %d; want %d", e.host.Applied(), seq)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// admitted opens a pathway for a patient of a municipality (in the
// municipality's cluster), admits the patient at the hospital and offers
// home care to the municipality, answer due an hour after the offer. It
// returns the pathway.
func (e *env) admitted(cpr string, muni events.OrgID, at time.Time) uuid.UUID {
	e.t.Helper()
	hosp := e.hosp
	pw := e.command("POST", "/v1/pathways", hosp, map[string]any{
		"patient": map[string]string{"cpr": cpr, "name": "Test Testesen"}, "municipality": muni,
		"occurred_at": at,
	}).Pathway
	e.command("POST", "/v1/pathways/"+pw.String()+"/events", hosp, map[string]any{
		"type": "PatientAdmitted", "occurred_at": at,
		"data": map[string]any{"hospital": hospital, "class": "inpatient"},
	})
	e.command("POST", "/v1/pathways/"+pw.String()+"/offers", hosp, map[string]any{
		"offer": "home-care", "to": muni, "what": "home-care",
		"occurred_at": at.Add(time.Hour), "deadline": at.Add(2 * time.Hour),
	})
	return pw
}

// admissions is a small MedCom translator for the tests: a STIN
// HospitalNotification is an inpatient admission at the sender; after a
// mapping fix, any HospitalNotification is. The MedCom adapter's own
// translator has its golden tests.
func admissions(body []byte, fixed bool) (*events.Translation, error) {
	m, err := medcom.Parse(body)
	if err != nil {
		return nil, &events.MessageError{Code: "parse", Reason: err.Error(), Rejected: true}
	}
	code, err := m.NotificationCode()
	if err != nil || code != "STIN" && !fixed {
		return nil, &events.MessageError{Code: "unknown-event", Field: "MessageHeader.eventCoding", Reason: "only STIN is translated here"}
	}
	hosp := events.SOR(m.Sender.SOR)
	return &events.Translation{
		Patient: events.Identity{CPR: m.Patient.CPR, Name: m.Patient.Family}, Episode: m.Encounter.StayID.Value,
		Hospital: hosp, Source: events.Source{System: "medcom", Org: hosp}, Actor: events.Actor{Org: hosp},
		OccurredAt: m.Encounter.Period.Start,
		Payloads:   []events.Payload{&events.PatientAdmitted{Hospital: hosp, Class: events.Inpatient}},
	}, nil
}

// accessEntry is one record of GET /v1/access-log.
type accessEntry struct {
	Seq     uint64       `json:"seq"`
	Party   events.OrgID `json:"party"`
	At      time.Time    `json:"at"`
	Reader  string       `json:"reader"`
	Label   string       `json:"label"`
	Pathway uuid.UUID    `json:"pathway"`
	What    string       `json:"what"`
	Allowed bool         `json:"allowed"`
	Reason  string       `json:"reason"`
}

// accessLog reads the whole access log a token may see, following the
// pages.
func (e *env) accessLog(token, query string) []accessEntry {
	e.t.Helper()
	var out []accessEntry
	next := "/v1/access-log?limit=2"
	if query != "" {
		next += "&" + query
	}
	for next != "" {
		res := e.do("GET", next, token, nil)
		if res.status != http.StatusOK {
			e.t.Fatalf("access log: status %d: %s", res.status, res.body)
		}
		var page struct {
			Items []accessEntry `json:"items"`
			Next  string        `json:"next"`
		}
		res.json(e.t, &page)
		out = append(out, page.Items...)
		next = page.Next
	}
	return out
}

// gaps reads the whole gap list a token may see for a query, following
// the pages.
func (e *env) gaps(token, query string) []gap {
	e.t.Helper()
	var out []gap
	next := "/v1/gaps?" + query
	for next != "" {
		res := e.do("GET", next, token, nil)
		if res.status != http.StatusOK {
			e.t.Fatalf("GET %s: status %d: %s", next, res.status, res.body)
		}
		var page struct {
			Items []gap  `json:"items"`
			Next  string `json:"next"`
		}
		res.json(e.t, &page)
		if page.Next != "" && res.header.Get("Link") != "<"+page.Next+`>; rel="next"` {
			e.t.Errorf("Link header %q; want the next page %s", res.header.Get("Link"), page.Next)
		}
		out = append(out, page.Items...)
		next = page.Next
	}
	return out
}
