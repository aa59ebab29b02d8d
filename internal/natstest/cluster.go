package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a NATS JetStream cluster of nats-servers in this process, on
// 127.0.0.1 ports, for tests. Production runs the stock nats-server binary
// on three machines (docs/operations.md) and gives stafetd their URLs.
type Cluster struct {
	mu      sync.Mutex
	opts    []*server.Options
	servers []*server.Server
}

// Config configures Start.
type Config struct {
	// Dir holds one subdirectory per node.
	Dir string
	// Nodes is the number of servers; default 3.
	Nodes int
	// Name is the cluster's name; default "stafet".
	Name string
	// Bulk leaves fsyncs to the servers' interval; by default every node
	// fsyncs every write (sync_interval: always), as production runs.
	Bulk bool
}

// Start starts the nodes and waits until they are ready and a JetStream
// meta leader is elected.
func Start(cfg Config) (*Cluster, error) {
	if cfg.Nodes == 0 {
		cfg.Nodes = 3
	}
	if cfg.Name == "" {
		cfg.Name = "stafet"
	}
	clientPorts, err := freePorts(cfg.Nodes)
	if err != nil {
		return nil, err
	}
	routePorts, err := freePorts(cfg.Nodes)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c := &Cluster{}
	for i := range cfg.Nodes {
		dir := filepath.Join(cfg.Dir, fmt.Sprintf("n%d", i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("natstest: cluster: %w", err)
		}
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("%s-n%d", cfg.Name, i+1), Host: "127.0.0.1", Port: clientPorts[i],
			JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
			SyncAlways: !cfg.Bulk,
			Cluster:    server.ClusterOpts{Name: cfg.Name, Host: "127.0.0.1", Port: routePorts[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		})
	}
	c.servers = make([]*server.Server, cfg.Nodes)
	for i := range c.opts {
		if err := c.start(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.waitMetaLeader(30 * time.Second); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(i int) error {
	ns, err := server.NewServer(c.opts[i])
	if err != nil {
		return fmt.Errorf("natstest: cluster node %d: %w", i+1, err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return fmt.Errorf("natstest: cluster node %d not ready in 30s", i+1)
	}
	c.servers[i] = ns
	return nil
}

func (c *Cluster) waitMetaLeader(d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, s := range c.running() {
			if s.JetStreamIsLeader() {
				return nil
			}
		}
	}
	return errors.New("natstest: cluster elected no JetStream meta leader")
}

func (c *Cluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server.Server
	for _, s := range c.servers {
		if s != nil && s.Running() {
			out = append(out, s)
		}
	}
	return out
}

// URL returns the client URLs of all nodes, comma-separated, for
// Config.URL.
func (c *Cluster) URL() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(urls, ",")
}

// Nodes returns the number of nodes.
func (c *Cluster) Nodes() int { return len(c.opts) }

// Kill stops node i at once, as a crash would (no lame-duck mode).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts node i again on its directory and ports.
func (c *Cluster) Restart(i int) error {
	if err := c.start(i); err != nil {
		return err
	}
	return c.waitMetaLeader(30 * time.Second)
}

// StreamLeader returns the index of the node leading a stream, or -1.
func (c *Cluster) StreamLeader(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, s := range c.servers {
		if s != nil && s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
			return i
		}
	}
	return -1
}

// Shutdown stops every node.
func (c *Cluster) Shutdown() {
	for i := range c.servers {
		c.Kill(i)
	}
}

// freePorts asks the kernel for n free loopback ports.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natstest: cluster ports: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// WaitReplicated returns once the cluster can create a stream of the
// given replicas. A fresh cluster elects its meta leader before it can
// place replicated streams promptly; a program whose start-up requests
// have short timeouts should start after this.
func (c *Cluster) WaitReplicated(ctx context.Context, replicas int) error {
	nc, err := nats.Connect(c.URL())
	if err != nil {
		return fmt.Errorf("natstest: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("natstest: %w", err)
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.CreateStream(actx, jetstream.StreamConfig{Name: "NATSTEST_WARMUP", Subjects: []string{"natstest.warmup"}, Replicas: replicas})
		cancel()
		if err == nil {
			js.DeleteStream(ctx, "NATSTEST_WARMUP")
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("natstest: the cluster cannot create a stream of %d replicas: %w", replicas, err)
		}
	}
}
