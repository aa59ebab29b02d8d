package natsdeploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/docs/deploy"
	"github.com/stafet/stafet/internal/pki"
)

// Nodes is how many nodes the shipped nats.conf routes.
const Nodes = 3

// Options configure Start.
type Options struct {
	// Bin is the nats-server to run; default Binary's.
	Bin string
	// Dir holds the configuration, the certificates, the NKey seeds and
	// each node's JetStream store. It must exist.
	Dir string
	// Ready bounds how long Start waits for the nodes to answer and for
	// JetStream to have a meta leader. Default 30 s.
	Ready time.Duration
}

// Cluster is a running three-node deployment.
type Cluster struct {
	// URLs are the nodes' client URLs (tls://127.0.0.1:port).
	URLs []string
	// CAFile verifies the nodes' certificates (engine.Config.CAFile).
	CAFile string
	// StafetdSeedFile is the stafetd user's NKey seed, the file
	// STAFET_NATS_NKEY names (engine.Config.NkeyFile).
	StafetdSeedFile string
	// RoutePassword is what the nodes' routes authenticate with.
	RoutePassword string
	// Env is the environment every node runs with (the secrets and the
	// routes n1.env … n3.env hold), for a test that starts a node of its
	// own against the cluster.
	Env map[string]string

	dir   string
	nodes []*node
}

type node struct {
	client, route, monitor int
	cmd                    *exec.Cmd
	out                    *syncBuffer
	exited                 chan struct{}
}

// Start writes the shipped configuration into o.Dir with a CA, a node
// certificate for 127.0.0.1, a route password and the stafetd and system
// users' NKeys of its own, starts three nats-server processes on free
// loopback ports, and waits until every node serves and JetStream has a
// meta leader. Stop ends them.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Bin == "" {
		bin, err := Binary(ctx)
		if err != nil {
			return nil, err
		}
		o.Bin = bin
	}
	if o.Ready == 0 {
		o.Ready = 30 * time.Second
	}
	c := &Cluster{dir: o.Dir}
	if err := c.write(); err != nil {
		return nil, fmt.Errorf("natsdeploy: %w", err)
	}
	for attempt := 1; ; attempt++ {
		err := c.startNodes(ctx, o)
		if err == nil {
			return c, nil
		}
		c.Stop()
		// A free port can be taken between freePort and the node's
		// bind (another test's server, an outgoing connection): start
		// again on other ports.
		if attempt == 3 || !c.portTaken() {
			return nil, err
		}
		for i := range c.nodes {
			os.RemoveAll(c.store(i))
		}
	}
}

// startNodes starts every node on free ports and waits until the cluster
// is ready.
func (c *Cluster) startNodes(ctx context.Context, o Options) error {
	c.nodes, c.URLs = nil, nil
	for range Nodes {
		c.nodes = append(c.nodes, &node{client: pickPort(), route: pickPort(), monitor: pickPort()})
	}
	for i, n := range c.nodes {
		c.URLs = append(c.URLs, fmt.Sprintf("tls://127.0.0.1:%d", n.client))
		c.Env[fmt.Sprintf("NATS_ROUTE_%d", i+1)] = c.RouteURL(i)
	}
	for i := range c.nodes {
		if err := c.start(i, o.Bin); err != nil {
			return err
		}
	}
	return c.waitReady(ctx, o.Ready)
}

// portTaken reports whether a node could not listen on a port it was given.
func (c *Cluster) portTaken() bool {
	for _, n := range c.nodes {
		if n.out != nil && strings.Contains(n.out.String(), "address already in use") {
			return true
		}
	}
	return false
}

// store is node i's JetStream directory.
func (c *Cluster) store(i int) string { return filepath.Join(c.dir, fmt.Sprintf("n%d", i+1)) }

// write puts the shipped files, the certificates and the keys in the
// cluster's directory, and sets Env to what n1.env … n3.env share.
func (c *Cluster) write() error {
	for _, f := range []string{"nats.conf", "accounts.conf", "subscribers.conf"} {
		b, err := fs.ReadFile(deploy.NATS, f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(c.dir, f), b, 0o600); err != nil {
			return err
		}
	}
	ca, err := pki.NewCA("Stafet NATS cluster CA")
	if err != nil {
		return err
	}
	pair, err := ca.Node("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	if err := pair.Write(c.dir, "node"); err != nil {
		return err
	}
	c.CAFile = filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(c.CAFile, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	c.StafetdSeedFile = filepath.Join(c.dir, "stafetd.nk")
	stafetd, err := writeUserKey(c.StafetdSeedFile)
	if err != nil {
		return err
	}
	system, err := writeUserKey(filepath.Join(c.dir, "sys.nk"))
	if err != nil {
		return err
	}
	c.RoutePassword = randomPassword()
	c.Env = map[string]string{
		"NATS_CERT": filepath.Join(c.dir, "node.crt"), "NATS_KEY": filepath.Join(c.dir, "node.key"), "NATS_CA": c.CAFile,
		"NATS_ROUTE_PASSWORD": c.RoutePassword, "STAFETD_NKEY": stafetd, "NATS_SYSTEM_NKEY": system,
	}
	return nil
}

// start runs node i with the shipped nats.conf and its environment.
func (c *Cluster) start(i int, bin string) error {
	n := c.nodes[i]
	env := os.Environ()
	for k, v := range c.Env {
		env = append(env, k+"="+v)
	}
	env = append(env,
		"NATS_NAME="+nodeName(i),
		fmt.Sprintf("NATS_LISTEN=127.0.0.1:%d", n.client),
		fmt.Sprintf("NATS_MONITOR=127.0.0.1:%d", n.monitor),
		fmt.Sprintf("NATS_CLUSTER_LISTEN=127.0.0.1:%d", n.route),
		"NATS_STORE="+c.store(i),
	)
	n.cmd = exec.Command(bin, "-c", filepath.Join(c.dir, "nats.conf"))
	n.cmd.Env = env
	n.out = &syncBuffer{}
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("natsdeploy: start node %d: %w", i+1, err)
	}
	n.exited = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.exited) }()
	return nil
}

// waitReady waits until every node's monitoring port says it is healthy
// and the meta leader sees the other two peers current and online: until
// then a stream of three replicas may be refused ("no suitable peers for
// placement"). Only the leader's view of its peers is current.
func (c *Cluster) waitReady(ctx context.Context, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var unplaced error // why the last placement probe failed
	for i := 0; ; {
		switch {
		case i < len(c.nodes) && c.healthy(ctx, i):
			i++
			continue
		case i == len(c.nodes) && c.metaWhole(ctx):
			if unplaced = c.placeable(ctx); unplaced == nil {
				return nil
			}
		}
		for j, n := range c.nodes {
			select {
			case <-n.exited:
				return fmt.Errorf("natsdeploy: node %d exited: %s", j+1, n.out.tail())
			default:
			}
		}
		select {
		case <-ctx.Done():
			if unplaced != nil {
				return fmt.Errorf("natsdeploy: the cluster is not ready within %s: a stream of %d replicas cannot be placed: %w", d, Nodes, unplaced)
			}
			last := c.nodes[min(i, len(c.nodes)-1)]
			return fmt.Errorf("natsdeploy: the cluster is not ready within %s (%d of %d nodes healthy): %s", d, i, len(c.nodes), last.out.tail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) healthy(ctx context.Context, i int) bool {
	var ok struct{}
	return c.monitor(ctx, i, "/healthz", &ok) == nil
}

// metaWhole reports whether a node is the meta leader and sees every
// other peer current and online.
func (c *Cluster) metaWhole(ctx context.Context) bool {
	for i := range c.nodes {
		var jsz struct {
			Meta *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Current bool `json:"current"`
					Offline bool `json:"offline"`
				} `json:"replicas"`
			} `json:"meta_cluster"`
		}
		if c.monitor(ctx, i, "/jsz", &jsz) != nil || jsz.Meta == nil || jsz.Meta.Leader != nodeName(i) {
			continue
		}
		whole := len(jsz.Meta.Replicas) == Nodes-1
		for _, r := range jsz.Meta.Replicas {
			whole = whole && r.Current && !r.Offline
		}
		return whole
	}
	return false
}

// placeable tells whether a stream of three replicas can be placed (nil)
// or why not: the meta leader may see every peer current before it has
// the peers' JetStream reports, and refuses placement until then ("no
// suitable peers for placement, peer offline", seen in the bench's test
// under load). It creates and deletes a small stream as stafetd's user,
// over TLS, within a few seconds.
func (c *Cluster) placeable(ctx context.Context) error {
	nkey, err := nats.NkeyOptionFromSeed(c.StafetdSeedFile)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.Join(c.URLs, ","), nkey, nats.RootCAs(c.CAFile), nats.Timeout(2*time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	const probe = "NATSDEPLOY_READY"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probe, Subjects: []string{"natsdeploy.ready"}, Replicas: Nodes, Storage: jetstream.MemoryStorage}); err != nil {
		return err
	}
	return js.DeleteStream(ctx, probe)
}

// nodeName is node i's server name (NATS_NAME).
func nodeName(i int) string { return fmt.Sprintf("stafet-n%d", i+1) }

// monitor reads node i's monitoring endpoint path into v.
func (c *Cluster) monitor(ctx context.Context, i int, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", c.MonitorURL(i)+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// MonitorURL is node i's monitoring address (/varz, /jsz, /routez).
func (c *Cluster) MonitorURL(i int) string {
	return fmt.Sprintf("http://127.0.0.1:%d", c.nodes[i].monitor)
}

// RouteURL is node i's route URL with the route password, as the
// NATS_ROUTE_n variables give it.
func (c *Cluster) RouteURL(i int) string {
	return fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", c.RoutePassword, c.nodes[i].route)
}

// Output is what node i has printed, for a failure's report.
func (c *Cluster) Output(i int) string { return c.nodes[i].out.String() }

// WriteSubscribers replaces subscribers.conf (what `stafet token
// nats-conf` prints); Reload makes the nodes read it.
func (c *Cluster) WriteSubscribers(conf []byte) error {
	return os.WriteFile(filepath.Join(c.dir, "subscribers.conf"), conf, 0o600)
}

// Reload signals every node to read its configuration again, as
// `nats-server --signal reload` does.
func (c *Cluster) Reload() error {
	for i, n := range c.nodes {
		if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			return fmt.Errorf("natsdeploy: reload node %d: %w", i+1, err)
		}
	}
	return nil
}

// Stop ends every node (SIGTERM, then SIGKILL after 10 s) and waits for
// them.
func (c *Cluster) Stop() {
	for _, n := range c.nodes {
		if n.cmd == nil || n.cmd.Process == nil {
			continue
		}
		n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range c.nodes {
		if n.exited == nil {
			continue
		}
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			n.cmd.Process.Kill()
			<-n.exited
		}
	}
}

// writeUserKey writes a new NATS user's seed to path, as `stafet nkey
// new` does, and returns its public key.
func writeUserKey(path string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, err := kp.Seed()
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pickPort is freePort; a test gives a port that is taken.
var pickPort = freePort

// freePort returns a loopback port nobody listens on just now.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a node's output, written by the process's pipes and read
// by a failure's report.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tail is the last lines a node printed: why it did not start.
func (s *syncBuffer) tail() string {
	out := s.String()
	if i := len(out) - 2000; i > 0 {
		out = out[i:]
	}
	return strings.TrimSpace(out)
}
