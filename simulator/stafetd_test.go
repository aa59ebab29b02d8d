package simulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/pki"
)

// TestRunAgainstStafetd builds and starts the real stafetd with the
// simulator's organisations and compressed rules, drives it for a few
// seconds and checks that every message is acknowledged and that gaps
// appear. It skips, saying why, where the service is not there yet: a
// stafetd that does not build, does not answer HL7 over MLLP, or has no
// MedCom translator.
func TestRunAgainstStafetd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts stafetd")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "stafetd")
	build := exec.Command("go", "build", "-o", bin, "github.com/stafet/stafet/cmd/stafetd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("stafetd does not build yet, so the simulator cannot drive it: %v\n%s", err, out)
	}
	const scale = 60
	rules, err := Rules(scale)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"organisations.json": Organisations(), "rules.json": rules} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	httpAddr, mllpAddr := freeAddr(t), freeAddr(t)
	// The simulator sends HL7 as production senders do: over mutual TLS,
	// with a client certificate the organisations file maps to its
	// hospitals.
	certs := filepath.Join(dir, "certs")
	clientTLS := issueCerts(t, certs)
	const token = "simulator-test-operator-token"
	// The keys live outside the data directory, as in production: the
	// copy below must re-identify no one.
	data := filepath.Join(dir, "data")
	cmd := exec.Command(bin, "-data-dir", data, "-key-dir", filepath.Join(dir, "keys"), "-http-addr", httpAddr, "-mllp-addr", mllpAddr,
		"-mllp-tls", "-mllp-tls-cert", filepath.Join(certs, "server.crt"), "-mllp-tls-key", filepath.Join(certs, "server.key"),
		"-mllp-client-ca", filepath.Join(certs, "ca.crt"),
		"-nats-addr", "none", "-admin-token", token, "-durability", "bulk",
		"-organisations", filepath.Join(dir, "organisations.json"), "-rules", filepath.Join(dir, "rules.json"))
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "stafetd running") {
				close(running)
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("stafetd did not start within 30 s")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if reason := probe(ctx, mllpAddr, clientTLS, "http://"+httpAddr, token); reason != "" {
		t.Skipf("stafetd is not ready for the simulator yet: %s", reason)
	}
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
	// sealed, the events carry pseudonyms).
	stop()
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(data)); err != nil {
		t.Fatal(err)
	}
	needles := append([]string{"PID|", systemCPR}, family...)
	files := 0
	filepath.WalkDir(copied, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
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
