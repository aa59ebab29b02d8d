package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/pki"
	"github.com/stafet/stafet/internal/settings"
)

// sendMLLP sends one file over a real MLLP connection and returns MSA-1.
func sendMLLP(t *testing.T, addr, file string) string {
	t.Helper()
	return sendMLLPAs(t, addr, nil, file)
}

// sendMLLPAs sends one file over MLLP with mutual TLS as the sender of
// the client settings (nil: plaintext) and returns MSA-1.
func sendMLLPAs(t *testing.T, addr string, client *tls.Config, file string) string {
	t.Helper()
	code, _ := sendMLLPAckAs(t, addr, client, file)
	return code
}

// sendMLLPAck sends one file over plaintext MLLP and returns MSA-1 and
// the whole ACK.
func sendMLLPAck(t *testing.T, addr, file string) (string, string) {
	t.Helper()
	return sendMLLPAckAs(t, addr, nil, file)
}

func sendMLLPAckAs(t *testing.T, addr string, client *tls.Config, file string) (string, string) {
	t.Helper()
	msg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return sendHL7As(t, addr, client, msg)
}

// sendHL7 sends one message over a real MLLP connection and returns MSA-1.
func sendHL7(t *testing.T, addr string, msg []byte) string {
	t.Helper()
	code, _ := sendHL7As(t, addr, nil, msg)
	return code
}

// sendHL7As sends one message over MLLP, with mutual TLS as the sender of
// the client settings (nil: plaintext), and returns MSA-1 and the whole
// ACK.
func sendHL7As(t *testing.T, addr string, client *tls.Config, msg []byte) (string, string) {
	t.Helper()
	var c net.Conn
	var err error
	if client != nil {
		c, err = tls.Dial("tcp", addr, client)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write(mllp.Frame(msg)); err != nil {
		t.Fatal(err)
	}
	ack, err := mllp.ReadFrame(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	for _, seg := range strings.Split(string(ack), "\r") {
		if f := strings.Split(seg, "|"); f[0] == "MSA" && len(f) > 1 {
			return f[1], string(ack)
		}
	}
	t.Fatalf("no MSA in ACK %q", ack)
	return "", ""
}

func apiJSON(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var r *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	} else {
		r = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// mllpCerts makes a CA, stafetd's MLLP server certificate and the client
// certificates of AUH's and Randers' PAS (auh-epj, rhr-epj, which
// testdata/organisations.json maps to them), and returns stafetd's
// settings for mutual TLS and each sender's client settings.
func mllpCerts(t *testing.T) (map[string]string, map[string]*tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.NewCA("stafetd test CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Write(dir, "server"); err != nil {
		t.Fatal(err)
	}
	clients := map[string]*tls.Config{}
	for _, cn := range []string{"auh-epj", "rhr-epj"} {
		p, err := ca.Client(cn)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := p.TLS()
		if err != nil {
			t.Fatal(err)
		}
		clients[cn] = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	}
	env := map[string]string{
		"STAFET_MLLP_TLS": "true", "STAFET_MLLP_CLIENT_CA": filepath.Join(dir, "ca.crt"),
		"STAFET_MLLP_TLS_CERT": filepath.Join(dir, "server.crt"), "STAFET_MLLP_TLS_KEY": filepath.Join(dir, "server.key"),
		"STAFET_ORGANISATIONS": "testdata/organisations.json",
	}
	return env, clients
}

// TestMLLPSendersAuthenticated: stafetd with mutual TLS on MLLP takes
// AUH's admission from AUH's certificate, refuses it (AR, saying why)
// from Randers' certificate, and will not start on every interface
// without mutual TLS.
func TestMLLPSendersAuthenticated(t *testing.T) {
	env, clients := mllpCerts(t)
	svc, _ := startService(t, t.TempDir(), env)
	addr := svc.mllpAddr.String()
	if code := sendMLLPAs(t, addr, clients["rhr-epj"], "testdata/a01.hl7"); code != "AR" {
		t.Errorf("AUH's admission from Randers' certificate: %s; want AR", code)
	}
	if code := sendMLLPAs(t, addr, clients["auh-epj"], "testdata/a01.hl7"); code != "AA" {
		t.Errorf("AUH's admission from AUH's certificate: %s; want AA", code)
	}
	t.Run("off loopback without mutual TLS stafetd does not start", func(t *testing.T) {
		keys := t.TempDir()
		cfg, err := settings.Parse(nil, func(k string) string {
			return map[string]string{"STAFET_DATA_DIR": t.TempDir(), "STAFET_HTTP_ADDR": "", "STAFET_MLLP_ADDR": ":0", "STAFET_NATS_ADDR": "none",
				"STAFET_KEY_DIR": keys}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		err = run(t.Context(), cfg, io.Discard, nil)
		if !errors.Is(err, mllp.ErrUnauthenticated) {
			t.Errorf("got %v; want mllp.ErrUnauthenticated", err)
		}
	})
}

// TestDischargeOverMLLPOpensAGap follows an HL7 discharge from the MLLP
// socket (mutual TLS, AUH's certificate) to the gap in the API, and
// checks that another organisation may not read the pathway.
func TestDischargeOverMLLPOpensAGap(t *testing.T) {
	env, clients := mllpCerts(t)
	env["STAFET_WEBHOOKS_ALLOW_LOOPBACK"] = "true"
	svc, _ := startService(t, t.TempDir(), env)
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	mllpAddr := svc.mllpAddr.String()

	// Aarhus Kommune's home-care team listens three ways: a NATS
	// subscriber on its alert subjects, an SSE client and a webhook.
	// The token comes with a NATS user that may read the municipality's
	// alerts and nothing else (engine/natsauth_test.go tries the rest).
	var tok struct {
		Token    string
		NATSSeed string `json:"nats_seed"`
	}
	apiJSON(t, "POST", base+"/v1/tokens", svc.admin, map[string]any{"org": "kommune:0751", "nats": true}, &tok)
	seedFile := filepath.Join(t.TempDir(), "kommune-0751.nk")
	if err := os.WriteFile(seedFile, []byte(tok.NATSSeed), 0o600); err != nil {
		t.Fatal(err)
	}
	nkey, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatalf("the token's NATS seed: %v", err)
	}
	if anon, err := nats.Connect(svc.store.NATS().ClientURL()); err == nil {
		anon.Close()
		t.Fatal("an anonymous NATS client connected to stafetd")
	}
	nc, err := nats.Connect(svc.store.NATS().ClientURL(), nkey)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	natsAlerts, err := nc.SubscribeSync("stafet.alert.*.kommune-0751.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	hook := make(chan http.Header, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		hook <- r.Header.Clone()
	}))
	defer receiver.Close()
	var wh map[string]any
	if code := apiJSON(t, "POST", base+"/v1/webhooks", tok.Token, map[string]string{"url": receiver.URL}, &wh); code != 201 {
		t.Fatalf("register webhook: got %d %v", code, wh)
	}
	sse := alertStream(t, base, tok.Token)

	for _, f := range []string{"testdata/a01.hl7", "testdata/a01.hl7", "testdata/a03.hl7"} {
		if code := sendMLLPAs(t, mllpAddr, clients["auh-epj"], f); code != "AA" {
			t.Fatalf("%s: got %s; want AA", f, code)
		}
	}
	// The discharge home with municipal services implies an offer of home
	// care to Aarhus Kommune (a policy); nobody accepts, so a gap opens.
	var page struct {
		Items []struct {
			Kind    string   `json:"kind"`
			Pathway string   `json:"pathway"`
			Closers []string `json:"closers"`
		} `json:"items"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		apiJSON(t, "GET", base+"/v1/gaps?status=open", svc.admin, nil, &page)
		if len(page.Items) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(page.Items) == 0 {
		t.Fatal("no open gap 20 s after the discharge")
	}
	kinds := map[string]bool{}
	for _, g := range page.Items {
		kinds[g.Kind] = true
	}
	t.Logf("open gaps: %v", kinds)
	pathway := page.Items[0].Pathway

	// The alert reached all three listeners.
	m, err := natsAlerts.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("no alert on NATS: %v", err)
	}
	if strings.Contains(string(m.Data), "0102030405") || strings.Contains(m.Subject, "0102030405") {
		t.Error("a CPR number in an alert")
	}
	select {
	case line := <-sse:
		if !strings.Contains(line, "kommune:0751") {
			t.Errorf("SSE alert %s; want one for kommune:0751", line)
		}
	case <-time.After(20 * time.Second):
		t.Error("no alert on the SSE stream")
	}
	select {
	case h := <-hook:
		if !strings.HasPrefix(h.Get("Stafet-Signature"), "sha256=") || h.Get("Idempotency-Key") == "" {
			t.Errorf("webhook headers %v; want a signature and an idempotency key", h)
		}
	case <-time.After(20 * time.Second):
		t.Error("no webhook delivery")
	}

	// The municipality may read it; another municipality may not, and the
	// attempt is in the access log.
	if code := apiJSON(t, "GET", base+"/v1/pathways/"+pathway, tok.Token, nil, nil); code != 200 {
		t.Errorf("Aarhus Kommune reading its pathway: got %d; want 200", code)
	}
	var other struct{ Token string }
	apiJSON(t, "POST", base+"/v1/tokens", svc.admin, map[string]string{"org": "kommune:0101"}, &other)
	if code := apiJSON(t, "GET", base+"/v1/pathways/"+pathway, other.Token, nil, nil); code != 403 {
		t.Errorf("København reading Aarhus' pathway: got %d; want 403", code)
	}
	var log struct {
		Items []struct {
			Reader  string `json:"reader"`
			Allowed bool   `json:"allowed"`
		} `json:"items"`
	}
	apiJSON(t, "GET", base+"/v1/access-log", tok.Token, nil, &log)
	refused := false
	for _, r := range log.Items {
		if r.Reader == "kommune:0101" && !r.Allowed {
			refused = true
		}
	}
	if !refused {
		t.Errorf("access log of Aarhus Kommune: %+v; want København's refused read", log.Items)
	}
	if code, body := get(t, base+"/metrics", svc.admin); code != 200 || !strings.Contains(body, `stafet_mllp_acks_total{code="AA"} 3`) {
		t.Errorf("metrics: want 3 AA acks counted")
	}
}

// TestReadmissionOverMLLP admits, discharges and closes a patient's
// pathway over real MLLP and HTTP, then admits the patient again under a
// new episode: the admission is answered AA and opens a second pathway
// that names the first (issue 16: readmissions were dead-lettered).
func TestReadmissionOverMLLP(t *testing.T) {
	svc, _ := startService(t, t.TempDir(), map[string]string{"STAFET_ORGANISATIONS": "testdata/organisations.json"})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	mllpAddr := svc.mllpAddr.String()
	ctx := context.Background()
	for _, f := range []string{"testdata/a01.hl7", "testdata/a03.hl7"} {
		if code := sendMLLP(t, mllpAddr, f); code != "AA" {
			t.Fatalf("%s: got %s; want AA", f, code)
		}
	}
	ref, err := svc.store.Vault().Ref("0102030405")
	if err != nil {
		t.Fatal(err)
	}
	first, ok, err := svc.store.Index().Patient(ctx, ref)
	if err != nil || !ok {
		t.Fatalf("the patient's pathway: %v, found %v", err, ok)
	}
	var closed map[string]any
	if code := apiJSON(t, "POST", base+"/v1/pathways/"+first.String()+"/close", svc.admin, map[string]string{"reason": "completed", "actor": "sor:100011000016001"}, &closed); code != http.StatusCreated {
		t.Fatalf("close: got %d %v; want 201", code, closed)
	}

	// Two weeks later: a new admission, a new visit number (PV1-19).
	a01, err := os.ReadFile("testdata/a01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	readmit := strings.NewReplacer("AUH0001", "AUH0031", "1000123", "1000456", "20260302", "20260316").Replace(string(a01))
	file := filepath.Join(t.TempDir(), "readmit.hl7")
	if err := os.WriteFile(file, []byte(readmit), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := sendMLLP(t, mllpAddr, file); code != "AA" {
		t.Fatalf("readmission: got %s; want AA", code)
	}
	second, ok, err := svc.store.Index().Patient(ctx, ref)
	if err != nil || !ok || second == first {
		t.Fatalf("the patient's pathway after the readmission: %s (%v, %v); want a new one, not %s", second, ok, err, first)
	}
	h, err := svc.store.Log().Load(ctx, second)
	if err != nil || len(h) != 2 {
		t.Fatalf("second pathway: %d events, %v; want PathwayOpened and PatientAdmitted", len(h), err)
	}
	opened, ok := h[0].Payload.(*events.PathwayOpened)
	if !ok || opened.Previous != first || h[1].Type != events.TypePatientAdmitted {
		t.Errorf("second pathway: %s (previous %v), %s; want PathwayOpened following %s, then PatientAdmitted", h[0].Type, opened, h[1].Type, first)
	}
}
