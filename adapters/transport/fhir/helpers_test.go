package fhir_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/fhir"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	odder    = events.Kommune("0727")
	t0       = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

const adminToken = "operator-token-for-tests-0123456789"

const organisations = `{"organisations": [
	{"id": "sor:6620000000001", "kind": "hospital", "name": "Aarhus Universitetshospital", "region": "Midtjylland", "clusters": ["aarhus"]}
]}`

// env is a running API with the FHIR facade mounted: a real store on a
// temporary directory, the projections hosted live, the alert service
// delivering, all on a real HTTP server. Every FHIR body the facade
// sends is kept, to be validated against the R4 schema.
type env struct {
	t      *testing.T
	store  *engine.Store
	host   *engine.Host
	tokens *httpapi.Tokens
	srv    *httptest.Server
	hosp   string

	mu      sync.Mutex
	now     time.Time
	emitted []json.RawMessage
}

func newEnv(t *testing.T) *env {
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
	notifier := &fhir.Notifier{}
	as, err := alerts.New(ctx, alerts.Config{
		Store: store, Directory: dir, AllowLoopback: true,
		WebhookBackoff: []time.Duration{100 * time.Millisecond},
		Formats:        map[string]alerts.Formatter{fhir.Format: notifier},
	})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for name, run := range map[string]func(context.Context) error{"host": host.Run, "alerts": as.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
				t.Errorf("%s: %v", name, err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		store.Close()
	})
	select {
	case <-host.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("projections not ready in 20s")
	}
	tokens, err := httpapi.NewTokens(ctx, store, adminToken)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, host: host, tokens: tokens, now: t0}
	api := httpapi.New(httpapi.Config{Store: store, Tokens: tokens, Directory: dir, Projections: host, Now: e.clock})
	facade, err := fhir.New(fhir.Config{API: api, Store: store, Directory: dir, Projections: host, Alerts: as, Notifier: notifier, Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	facade.Mount()
	e.srv = httptest.NewServer(e.keep(api))
	t.Cleanup(e.srv.Close)
	e.hosp = e.token(hospital)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

// keep records every FHIR JSON body the facade answers with.
func (e *env) keep(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if strings.HasPrefix(rec.Header().Get("Content-Type"), fhir.MediaType) {
			e.emit(rec.Body.Bytes())
		}
	})
}

func (e *env) emit(b []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.emitted = append(e.emitted, append(json.RawMessage(nil), b...))
}

func (e *env) token(org events.OrgID) string {
	e.t.Helper()
	tok, err := e.tokens.Issue(context.Background(), org, "test", "")
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

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

// outcome checks an answer is an OperationOutcome and returns its first
// issue's code.
func (r response) outcome(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, fhir.MediaType) {
		t.Fatalf("content type %q; want %s (body %s)", ct, fhir.MediaType, r.body)
	}
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code string `json:"code"`
		} `json:"issue"`
	}
	r.json(t, &oo)
	if oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("got %s; want an OperationOutcome", r.body)
	}
	return oo.Issue[0].Code
}

// do sends a request; body is JSON-encoded unless a string.
func (e *env) do(method, path, token string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	if strings.HasPrefix(path, "/fhir") {
		ct = fhir.MediaType
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", ct)
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

// command sends a JSON API command that must succeed and waits until
// the projections have applied it.
func (e *env) command(path, token string, body any) uuid.UUID {
	e.t.Helper()
	res := e.do("POST", path, token, body)
	if res.status != http.StatusCreated && res.status != http.StatusOK {
		e.t.Fatalf("POST %s: status %d: %s", path, res.status, res.body)
	}
	var r struct {
		Pathway uuid.UUID `json:"pathway"`
		Seqs    []uint64  `json:"seqs"`
	}
	res.json(e.t, &r)
	if n := len(r.Seqs); n > 0 {
		for deadline := time.Now().Add(20 * time.Second); e.host.Applied() < r.Seqs[n-1]; time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				e.t.Fatalf("projections applied %d; want %d", e.host.Applied(), r.Seqs[n-1])
			}
		}
	}
	return r.Pathway
}

// admitted opens a pathway for a patient of muni, admits the patient at
// the hospital and offers home care (offer id "home-care") and home
// nursing ("home-nursing") to the municipality, answers due two hours
// after admission.
func (e *env) admitted(cpr string, muni events.OrgID, at time.Time) uuid.UUID {
	e.t.Helper()
	pw := e.command("/v1/pathways", e.hosp, map[string]any{
		"patient": map[string]string{"cpr": cpr, "name": "Test Testesen"}, "municipality": muni, "occurred_at": at,
	})
	path := "/v1/pathways/" + pw.String()
	e.command(path+"/events", e.hosp, map[string]any{
		"type": "PatientAdmitted", "occurred_at": at, "data": map[string]any{"hospital": hospital, "class": "inpatient"},
	})
	for _, what := range []string{"home-care", "home-nursing"} {
		e.command(path+"/offers", e.hosp, map[string]any{
			"offer": what, "to": muni, "what": what, "occurred_at": at.Add(time.Hour), "deadline": at.Add(2 * time.Hour),
		})
	}
	return pw
}

// nodeDir holds the node scripts and their packages (.ci/run installs
// them with npm ci).
var nodeDir = filepath.Join("testdata", "node")

// needNode skips without node and the test packages, except on CI,
// where their absence fails the test.
func needNode(t *testing.T) {
	t.Helper()
	_, errNode := exec.LookPath("node")
	_, errMods := os.Stat(filepath.Join(nodeDir, "node_modules", "fhir-kit-client"))
	if err := errors.Join(errNode, errMods); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("node or the test packages are missing (npm ci --prefix %s; .ci/run does): %v", nodeDir, err)
		}
		t.Fatalf("CI is set and the FHIR tests need node and the packages of %s: %v", nodeDir, err)
	}
}

// node runs a script of nodeDir and returns its stdout.
func node(t *testing.T, script string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = nodeDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.Join(err, errors.New(stderr.String()))
	}
	return out, nil
}

// validate checks every resource the facade emitted (and extra ones,
// such as received notifications) against the FHIR R4 JSON schema.
func (e *env) validate(extra ...json.RawMessage) {
	e.t.Helper()
	needNode(e.t)
	e.mu.Lock()
	all := append(append([]json.RawMessage(nil), e.emitted...), extra...)
	e.mu.Unlock()
	if len(all) == 0 {
		e.t.Fatal("nothing to validate")
	}
	f := filepath.Join(e.t.TempDir(), "resources.json")
	b, _ := json.Marshal(all)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	out, err := node(e.t, "validate.mjs", f)
	if err != nil {
		e.t.Fatalf("resources not valid FHIR R4:\n%s\n%v", out, err)
	}
	e.t.Logf("validated against the FHIR R4 schema: %s", bytes.TrimSpace(out))
}
