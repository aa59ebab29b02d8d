package main

import (
	"bytes"
	"context"
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

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/natsdeploy"
	"github.com/stafet/stafet/internal/natsprobe"
)

// TestShippedClusterConfiguration runs docs/deploy as it is — three
// nats-server processes with TLS on clients and routes, authenticated
// routes, the STAFET, SUBSCRIBERS and SYS accounts — points stafetd at it,
// and checks, as an organisation's NATS user and as strangers, what issue
// 13 asks: stafetd works end to end, the municipality gets its own alerts
// and is refused everything else, anonymous and plaintext clients are
// refused, a route without the cluster's certificate cannot join, and a
// revoked user's connection is closed at the next reload.
func TestShippedClusterConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-server processes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := natsdeploy.Start(ctx, natsdeploy.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	// A cleanup, not a defer: stafetd (started below, stopped by its own
	// cleanup, which runs first) must stop before its cluster does.
	t.Cleanup(func() {
		cl.Stop()
		if t.Failed() {
			for i := range cl.URLs {
				t.Logf("nats node %d:\n%s", i+1, cl.Output(i))
			}
		}
	})
	urls, ca := cl.URLs, cl.CAFile
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, bytes.Repeat([]byte("s"), 32), 0o600)
	orgs, _ := filepath.Abs("testdata/organisations.json")
	svc, _ := startService(t, t.TempDir(), map[string]string{
		"STAFET_NATS_URL": strings.Join(urls, ","), "STAFET_NATS_NKEY": cl.StafetdSeedFile, "STAFET_NATS_CA": ca,
		"STAFET_REPLICAS": "3", "STAFET_SECRET_FILE": secret, "STAFET_KEY_DIR": filepath.Join(dir, "keys"), "STAFET_NATS_ADDR": "none",
		"STAFET_ORGANISATIONS": orgs, "STAFET_ADMIN_TOKEN": "deploy-test-operator-token-0123",
	})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)

	// The operator issues Aarhus Kommune a token with a NATS user, writes
	// the cluster's subscribers.conf and reloads every node.
	var tok struct {
		Token    string
		NATSSeed string `json:"nats_seed"`
		NATSNote string `json:"nats_note"`
	}
	apiJSON(t, "POST", base+"/v1/tokens", svc.admin, map[string]any{"org": "kommune:0751", "nats": true}, &tok)
	if tok.NATSSeed == "" || !strings.Contains(tok.NATSNote, "reload") {
		t.Fatalf("token on an external cluster: seed %t, note %q; want a seed and what to do", tok.NATSSeed != "", tok.NATSNote)
	}
	seedFile := filepath.Join(dir, "kommune-0751.nk")
	os.WriteFile(seedFile, []byte(tok.NATSSeed), 0o600)
	writeSubscribers(t, cl, base, svc.admin)

	tlsOpt := nats.RootCAs(ca)
	nkey, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	var probe natsprobe.Probe
	dropped := make(chan struct{}, 1)
	onDrop := nats.DisconnectErrHandler(func(*nats.Conn, error) {
		select {
		case dropped <- struct{}{}:
		default:
		}
	})
	var nc *nats.Conn
	waitUntil(t, 20*time.Second, "the municipality's user connects after the reload", func() bool {
		nc, err = nats.Connect(urls[0], tlsOpt, nkey, probe.Option(), onDrop)
		return err == nil
	})
	defer nc.Close()
	own, err := nc.SubscribeSync("stafet.alert.*.kommune-0751.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()

	for name, opts := range map[string][]nats.Option{
		"anonymous over TLS":        {tlsOpt},
		"the municipality in plain": {nkey},
		"anonymous in plain":        nil,
	} {
		url := urls[1]
		if !strings.Contains(name, "TLS") {
			url = strings.Replace(url, "tls://", "nats://", 1)
		}
		if c, err := nats.Connect(url, append(opts, nats.MaxReconnects(0))...); err == nil {
			c.Close()
			t.Errorf("%s: connected; want refused", name)
		}
	}

	// stafetd works end to end on the cluster: the discharge opens a gap
	// and the municipality's alert reaches its NATS user.
	for _, f := range []string{"testdata/a01.hl7", "testdata/a03.hl7"} {
		if code := sendMLLP(t, svc.mllpAddr.String(), f); code != "AA" {
			t.Fatalf("%s: got %s; want AA", f, code)
		}
	}
	m, err := own.NextMsg(30 * time.Second)
	if err != nil {
		t.Fatalf("no alert for the municipality on the cluster: %v", err)
	}
	if !strings.Contains(m.Subject, "kommune-0751") || bytes.Contains(m.Data, []byte("0102030405")) {
		t.Errorf("alert %s %s; want the municipality's, without a CPR number", m.Subject, m.Data)
	}

	probe.CheckDenied(t, nc)

	checkRogueRouteRefused(t, cl)

	// Revoking the token and reloading drops the user's connection, and
	// it cannot connect again.
	if code := apiJSON(t, "DELETE", base+"/v1/tokens", svc.admin, map[string]string{"token": tok.Token}, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	writeSubscribers(t, cl, base, svc.admin)
	select {
	case <-dropped:
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked user's connection is open 20 s after the reload")
	}
	// Each node applies the reload on its own time: wait until every one
	// refuses the user (under load a node may take seconds).
	for _, url := range urls {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, err := nats.Connect(url, tlsOpt, nkey, nats.MaxReconnects(0))
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Errorf("the revoked user still connects to %s 20 s after the reload", url)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// writeSubscribers writes subscribers.conf from stafetd's list, as an
// operator does with stafet token nats-conf, and reloads every node.
func writeSubscribers(t *testing.T, cl *natsdeploy.Cluster, base, admin string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/nats-users/conf", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("nats-users/conf: %d %s", resp.StatusCode, b)
	}
	if err := cl.WriteSubscribers(b); err != nil {
		t.Fatal(err)
	}
	if err := cl.Reload(); err != nil {
		t.Fatal(err)
	}
}

// checkRogueRouteRefused starts a nats-server that knows the route
// password but has no certificate of the cluster's CA, and checks that
// the first node keeps exactly its two routes.
func checkRogueRouteRefused(t *testing.T, cl *natsdeploy.Cluster) {
	t.Helper()
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\ncluster { name: stafet, listen: 127.0.0.1:%d, routes: [%q] }\n",
		freePort(t), freePort(t), cl.RouteURL(0))
	path := filepath.Join(t.TempDir(), "rogue.conf")
	os.WriteFile(path, []byte(conf), 0o600)
	bin, err := natsdeploy.Binary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	startProcess(t, bin, []string{"-c", path}, nil)
	time.Sleep(3 * time.Second)
	resp, err := http.Get(cl.MonitorURL(0) + "/routez")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rz struct {
		NumRoutes int `json:"num_routes"`
		Routes    []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	json.NewDecoder(resp.Body).Decode(&rz)
	names := map[string]bool{}
	for _, r := range rz.Routes {
		names[r.RemoteName] = true
	}
	if len(names) != 2 || !names["stafet-n2"] || !names["stafet-n3"] {
		t.Errorf("routes of node 1: %+v; want the two other nodes only", rz)
	}
}

func startProcess(t *testing.T, bin string, args []string, env map[string]string) (*exec.Cmd, *faulttest.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var log faulttest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s %v:\n%s", filepath.Base(bin), args, log.String())
		}
	})
	return cmd, &log
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, d)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
