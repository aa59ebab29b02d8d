package simulator

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/pki"
)

// TestRunAgainstStafetd builds and starts the real stafetd with the
// simulator's organisations and compressed rules, drives it for a few
// seconds and checks that every message is acknowledged and that gaps
// appear. It skips, saying why, where the service is not there yet: a
// stafetd that does not build, does not answer HL7 over MLLP, or has no
// MedCom translator.
func TestRunAgainstStafetd(t *testing.T) {
	d := startStafetd(t)
	httpAddr, mllpAddr, token, clientTLS := d.httpAddr, d.mllpAddr, d.token, d.clientTLS
	const scale = stafetdScale

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := Run(ctx, Config{
		MLLPAddr: mllpAddr, MLLPTLS: clientTLS, BaseURL: "http://" + httpAddr, Token: token,
		Seed: 1, TimeScale: scale, Rate: 40, Duration: 15 * time.Second, PollInterval: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("stats: sent %v, acks %v, answers %v, skipped %v, errors %d %v", st.Sent, st.Acks, st.Answers, st.Skipped, st.Errors, st.FirstErrors)
	if st.Errors != 0 {
		t.Errorf("%d errors: %v", st.Errors, st.FirstErrors)
	}
	if st.Acks["AA"] != st.Sent[HL7] || st.Sent[HL7] == 0 {
		t.Errorf("%d AA for %d HL7 messages", st.Acks["AA"], st.Sent[HL7])
	}
	// Within 15 s of compressed time (15 simulated hours) gaps are open.
	var gaps struct {
		Items []json.RawMessage `json:"items"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/v1/gaps", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&gaps); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/gaps: HTTP %d, %v", resp.StatusCode, err)
	}
	if len(gaps.Items) == 0 {
		t.Error("no gaps after 15 simulated hours")
	}

	// A copy of the data directory alone names nobody: no patient's
	// family name, no HL7 patient segment, no CPR number system of a
	// MedCom message is in any of its files (the raw messages are
	// sealed, the events carry pseudonyms; the keys are elsewhere).
	d.stop()
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(filepath.Join(d.dir, "data"))); err != nil {
		t.Fatal(err)
	}
	needles := append([]string{"PID|", systemCPR}, family...)
	files := 0
	filepath.WalkDir(copied, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if strings.Contains(string(b), n) {
				t.Errorf("%s holds %q", path, n)
			}
		}
		return nil
	})
	if files == 0 {
		t.Error("the copy holds no file")
	}
}

// stafetdScale is the time scale the test stafetd's rules are compressed
// by.
const stafetdScale = 60

// stafetd is a stafetd process started for a test.
type stafetd struct {
	t                  *testing.T
	bin, dir           string
	httpAddr, mllpAddr string
	token              string
	certs              string      // the CA, server and client certificates
	clientTLS          *tls.Config // the simulator's mutual TLS
	cmd                *exec.Cmd
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
	buildOut  []byte
)

// stafetdBinary builds stafetd once for the package's tests, or skips
// saying why it cannot.
func stafetdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts stafetd")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "stafet-simulator-test"); buildErr != nil {
			return
		}
		build := exec.Command("go", "build", "-o", filepath.Join(buildDir, "stafetd"), "github.com/stafet/stafet/cmd/stafetd")
		buildOut, buildErr = build.CombinedOutput()
	})
	if buildErr != nil {
		t.Skipf("stafetd does not build yet, so the simulator cannot drive it: %v\n%s", buildErr, buildOut)
	}
	return filepath.Join(buildDir, "stafetd")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// startStafetd starts the real stafetd with the simulator's organisations
// and compressed rules on free loopback ports, and stops it when the test
// ends. It skips where the service is not ready for the simulator.
func startStafetd(t *testing.T) *stafetd {
	t.Helper()
	d := &stafetd{t: t, bin: stafetdBinary(t), dir: t.TempDir(), httpAddr: freeAddr(t), mllpAddr: freeAddr(t), token: "simulator-test-operator-token"}
	rules, err := Rules(stafetdScale)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"organisations.json": Organisations(), "rules.json": rules} {
		if err := os.WriteFile(filepath.Join(d.dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The simulator sends HL7 as production senders do: over mutual TLS,
	// with a client certificate the organisations file maps to its
	// hospitals.
	d.certs = filepath.Join(d.dir, "certs")
	d.clientTLS = issueCerts(t, d.certs)
	d.start()
	t.Cleanup(d.stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if reason := probe(ctx, d.mllpAddr, d.clientTLS, "http://"+d.httpAddr, d.token); reason != "" {
		t.Skipf("stafetd is not ready for the simulator yet: %s", reason)
	}
	return d
}

// start runs stafetd on the test's data and ports and waits until it says
// it is running.
func (d *stafetd) start() {
	t := d.t
	t.Helper()
	// The keys live outside the data directory, as in production (and
	// not in the home directory of whoever runs the tests).
	d.cmd = exec.Command(d.bin, "-data-dir", filepath.Join(d.dir, "data"), "-key-dir", filepath.Join(d.dir, "keys"), "-http-addr", d.httpAddr, "-mllp-addr", d.mllpAddr,
		"-mllp-tls", "-mllp-tls-cert", filepath.Join(d.certs, "server.crt"), "-mllp-tls-key", filepath.Join(d.certs, "server.key"),
		"-mllp-client-ca", filepath.Join(d.certs, "ca.crt"),
		"-nats-addr", "none", "-admin-token", d.token, "-durability", "bulk", "-drain", "2s",
		"-organisations", filepath.Join(d.dir, "organisations.json"), "-rules", filepath.Join(d.dir, "rules.json"))
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	faulttest.AwaitRunning(t, stderr)
}

// stop stops stafetd as an operator does (SIGINT) and waits for it.
func (d *stafetd) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(os.Interrupt)
	d.cmd.Wait()
	d.cmd = nil
}

// TestResendAfterOutage stops stafetd while the simulator drives it and
// starts it again on the same data and ports: the messages it did not
// take meanwhile are resent, in order, and every one is answered AA.
func TestResendAfterOutage(t *testing.T) {
	d := startStafetd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := Run(ctx, Config{
			MLLPAddr: d.mllpAddr, MLLPTLS: d.clientTLS, BaseURL: "http://" + d.httpAddr, Token: d.token,
			Seed: 3, TimeScale: stafetdScale, Rate: 30, Duration: 12 * time.Second, PollInterval: 500 * time.Millisecond,
			Timeout: 3 * time.Second,
		})
		done <- result{st, err}
	}()
	time.Sleep(3 * time.Second)
	d.stop()
	down := time.Now()
	time.Sleep(2 * time.Second)
	d.start()
	t.Logf("stafetd was away for %s", time.Since(down).Round(100*time.Millisecond))
	res := <-done
	st := res.st
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	t.Logf("stats: sent %v, acks %v, resent %d (longest wait %s, %d attempts failed), skipped %v, errors %d %v",
		st.Sent, st.Acks, st.Resent, st.Outage, st.Retries, st.Skipped, st.Errors, st.FirstErrors)
	if st.Resent == 0 || st.Outage < time.Second {
		t.Errorf("resent %d, longest wait %s; want messages resent after waiting out the outage", st.Resent, st.Outage)
	}
	if st.Errors != 0 {
		t.Errorf("%d errors: %v", st.Errors, st.FirstErrors)
	}
	if st.Acks["AA"] != st.Sent[HL7] || st.Sent[HL7] == 0 {
		t.Errorf("%d AA for %d HL7 messages", st.Acks["AA"], st.Sent[HL7])
	}
}

// issueCerts makes a CA, stafetd's server certificate for 127.0.0.1 and
// the simulator's client certificate in dir, and returns the simulator's
// TLS settings.
func issueCerts(t *testing.T, dir string) *tls.Config {
	t.Helper()
	ca, err := pki.NewCA("simulator test CA")
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
	p, err := ca.Client(ClientName)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := p.TLS()
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// probe sends one HL7 and one MedCom message and says what is missing, or
// "" when both are taken.
func probe(ctx context.Context, mllpAddr string, tlsCfg *tls.Config, baseURL, token string) string {
	m, err := NewModel(99, ModelOptions{Start: time.Now(), RunID: "probe"})
	if err != nil {
		return err.Error()
	}
	var hl7, fhir *Step
	for hl7 == nil || fhir == nil {
		s := m.Next()
		switch {
		case s.Channel == HL7 && s.Kind == "A01" && hl7 == nil:
			hl7 = &s
		case s.Channel == MedCom && (s.Kind == "STIN" || s.Kind == "STAA") && fhir == nil:
			fhir = &s
		}
	}
	c, err := dialMLLP(ctx, mllpAddr, 5*time.Second, tlsCfg)
	if err != nil {
		return "MLLP: " + err.Error()
	}
	defer c.Close()
	ack, err := c.roundTrip(hl7.Body, 5*time.Second)
	if err != nil {
		return "no ACK to an HL7 A01 over MLLP (" + err.Error() + ")"
	}
	if !strings.Contains(string(ack), "MSA|AA") {
		return "an HL7 A01 over MLLP was not accepted: " + strings.ReplaceAll(string(ack), "\r", " ")
	}
	d := &driver{cfg: Config{BaseURL: baseURL, Token: token, Timeout: 5 * time.Second, HTTPClient: http.DefaultClient}}
	resp, body, err := d.do(ctx, http.MethodPost, "/v1/medcom", token, "application/fhir+json", fhir.Body)
	if err != nil {
		return "MedCom: " + err.Error()
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Sprintf("a MedCom %s was answered with HTTP %d: %.300s", fhir.Kind, resp.StatusCode, body)
	}
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
