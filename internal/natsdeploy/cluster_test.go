package natsdeploy

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestStart starts the shipped cluster and checks what a deployment
// promises: stafetd's user connects over TLS and gets a three-replica
// stream, an anonymous client is refused, and Stop ends every node.
func TestStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nats-server processes")
	}
	ctx, c := start(t)
	if len(c.URLs) != Nodes {
		t.Fatalf("URLs %v; want %d", c.URLs, Nodes)
	}
	nkey, err := nats.NkeyOptionFromSeed(c.StafetdSeedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URLs[1], nkey, nats.RootCAs(c.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	// A new stream of three replicas answers once it has elected its
	// leader: CI saw "no response from stream" straight after creating it.
	if _, err := js.Publish(ctx, "t.1", []byte("x"), jetstream.WithRetryAttempts(50), jetstream.WithRetryWait(100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if r := st.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("replicas %d; want 3", r)
	}
	for name, opts := range map[string][]nats.Option{
		"anonymous over TLS":     {nats.RootCAs(c.CAFile)},
		"stafetd without its CA": {nkey},
	} {
		if bad, err := nats.Connect(c.URLs[0], append(opts, nats.MaxReconnects(0))...); err == nil {
			bad.Close()
			t.Errorf("%s: connected; want refused", name)
		}
	}
	c.Stop()
	for i, n := range c.nodes {
		select {
		case <-n.exited:
		default:
			t.Errorf("node %d runs after Stop", i+1)
		}
	}
}

// TestStartOnATakenPort: a port taken between its pick and the node's
// bind (another test's server) makes Start begin again on other ports,
// not fail.
func TestStartOnATakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server processes")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	first := true
	defer func(f func() int) { pickPort = f }(pickPort)
	pickPort = func() int {
		if first {
			first = false
			return port
		}
		return freePort()
	}
	_, c := start(t)
	if first {
		t.Fatal("the taken port was never picked: the test proves nothing")
	}
	for _, u := range c.URLs {
		if strings.HasSuffix(u, fmt.Sprintf(":%d", port)) {
			t.Errorf("a node's URL %s is on the taken port", u)
		}
	}
	nkey, err := nats.NkeyOptionFromSeed(c.StafetdSeedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URLs[0], nkey, nats.RootCAs(c.CAFile))
	if err != nil {
		t.Fatalf("the cluster started again does not serve: %v", err)
	}
	nc.Close()
}

// start starts the shipped cluster for the test, stopped when it ends,
// and returns a context for its requests.
func start(t *testing.T) (context.Context, *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return ctx, c
}
