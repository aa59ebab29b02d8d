package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

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
	bin := natsServerBinary(t)
	dir := t.TempDir()
	for _, f := range []string{"nats.conf", "accounts.conf", "subscribers.conf"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ca := writeTestPKI(t, dir)
	stafetdSeed, stafetdPub := writeUserKey(t, filepath.Join(dir, "stafetd.nk"))
	_, sysPub := writeUserKey(t, filepath.Join(dir, "sys.nk"))

	cl := &natsCluster{bin: bin, dir: dir, password: "route-password-for-tests"}
	for range 3 {
		cl.nodes = append(cl.nodes, natsNode{client: freePort(t), cluster: freePort(t), monitor: freePort(t)})
	}
	common := map[string]string{
		"NATS_CERT": filepath.Join(dir, "node.pem"), "NATS_KEY": filepath.Join(dir, "node-key.pem"), "NATS_CA": ca,
		"NATS_ROUTE_PASSWORD": cl.password, "STAFETD_NKEY": stafetdPub, "NATS_SYSTEM_NKEY": sysPub,
	}
	for i := range cl.nodes {
		common[fmt.Sprintf("NATS_ROUTE_%d", i+1)] = fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", cl.password, cl.nodes[i].cluster)
	}
	for i := range cl.nodes {
		cl.start(t, i, common)
	}

	urls := make([]string, len(cl.nodes))
	for i, n := range cl.nodes {
		urls[i] = fmt.Sprintf("tls://127.0.0.1:%d", n.client)
	}
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, bytes.Repeat([]byte("s"), 32), 0o600)
	orgs, _ := filepath.Abs("testdata/organisations.json")
	svc, _ := startService(t, t.TempDir(), map[string]string{
		"STAFET_NATS_URL": strings.Join(urls, ","), "STAFET_NATS_NKEY": stafetdSeed, "STAFET_NATS_CA": ca,
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
	cl.writeSubscribers(t, base, svc.admin)
	cl.reload(t)

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

	cl.checkRogueRouteRefused(t, common)

	// Revoking the token and reloading drops the user's connection, and
	// it cannot connect again.
	if code := apiJSON(t, "DELETE", base+"/v1/tokens", svc.admin, map[string]string{"token": tok.Token}, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	cl.writeSubscribers(t, base, svc.admin)
	cl.reload(t)
	select {
	case <-dropped:
	case <-time.After(20 * time.Second):
		t.Fatal("the revoked user's connection is open 20 s after the reload")
	}
	for _, url := range urls {
		if c, err := nats.Connect(url, tlsOpt, nkey, nats.MaxReconnects(0)); err == nil {
			c.Close()
			t.Errorf("the revoked user connected to %s again", url)
		}
	}
}

type natsNode struct {
	client, cluster, monitor int
	cmd                      *exec.Cmd
	log                      *bytes.Buffer
}

type natsCluster struct {
	bin, dir, password string
	nodes              []natsNode
	mu                 sync.Mutex
}

// start runs node i with the shipped nats.conf and its environment, and
// waits for its monitoring port to answer.
func (c *natsCluster) start(t *testing.T, i int, common map[string]string) {
	t.Helper()
	n := &c.nodes[i]
	env := map[string]string{
		"NATS_NAME":           fmt.Sprintf("stafet-n%d", i+1),
		"NATS_LISTEN":         fmt.Sprintf("127.0.0.1:%d", n.client),
		"NATS_MONITOR":        fmt.Sprintf("127.0.0.1:%d", n.monitor),
		"NATS_CLUSTER_LISTEN": fmt.Sprintf("127.0.0.1:%d", n.cluster),
		"NATS_STORE":          filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)),
	}
	for k, v := range common {
		env[k] = v
	}
	n.cmd, n.log = startProcess(t, c.bin, []string{"-c", filepath.Join(c.dir, "nats.conf")}, env)
	waitUntil(t, 20*time.Second, fmt.Sprintf("nats node %d healthy", i+1), func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/varz", n.monitor))
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
}

// writeSubscribers writes subscribers.conf from stafetd's list, as an
// operator does with stafet token nats-conf.
func (c *natsCluster) writeSubscribers(t *testing.T, base, admin string) {
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
	if err := os.WriteFile(filepath.Join(c.dir, "subscribers.conf"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// reload signals every node to read its configuration again.
func (c *natsCluster) reload(t *testing.T) {
	t.Helper()
	for i, n := range c.nodes {
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatalf("reload node %d: %v", i+1, err)
		}
	}
}

// checkRogueRouteRefused starts a nats-server that knows the route
// password but has no certificate of the cluster's CA, and checks that
// the first node keeps exactly its two routes.
func (c *natsCluster) checkRogueRouteRefused(t *testing.T, common map[string]string) {
	t.Helper()
	conf := fmt.Sprintf("listen: 127.0.0.1:%d\ncluster { name: stafet, listen: 127.0.0.1:%d, routes: [\"nats-route://route:%s@127.0.0.1:%d\"] }\n",
		freePort(t), freePort(t), c.password, c.nodes[0].cluster)
	path := filepath.Join(c.dir, "rogue.conf")
	os.WriteFile(path, []byte(conf), 0o600)
	startProcess(t, c.bin, []string{"-c", path}, nil)
	time.Sleep(3 * time.Second)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/routez", c.nodes[0].monitor))
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

func startProcess(t *testing.T, bin string, args []string, env map[string]string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: &log}, &lockedWriter{w: &log}
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

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// natsServerBinary returns a nats-server built from the nats-server module
// this project depends on: $STAFET_NATS_SERVER if set (.ci/run builds one
// into bin/), else bin/nats-server at the repository's root, else a build
// into the user's cache, made once per version.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STAFET_NATS_SERVER"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../bin/nats-server"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	version := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/nats-io/nats-server/v2" {
				version = d.Version
			}
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	out := filepath.Join(cache, "stafet-test", "nats-server-"+version)
	if _, err := os.Stat(out); err == nil {
		return out
	}
	build := exec.Command("go", "build", "-o", out+".tmp", "github.com/nats-io/nats-server/v2")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, b)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeTestPKI writes a CA and one certificate for 127.0.0.1, used by
// every node for clients and routes; it returns the CA file.
func writeTestPKI(t *testing.T, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Stafet test cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "stafet-node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("node.pem", "CERTIFICATE", der)
	write("node-key.pem", "EC PRIVATE KEY", keyDER)
	return write("ca.pem", "CERTIFICATE", caDER)
}

// writeUserKey writes a NATS user seed file and returns its path and
// public key, as stafet nkey new does.
func writeUserKey(t *testing.T, path string) (string, string) {
	t.Helper()
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, pub
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
