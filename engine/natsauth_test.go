package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/natsprobe"
	"github.com/stafet/stafet/internal/natstest"
)

const alertExports = "stafet.alert.>"

// issueSubscriber issues a subscriber and writes its seed to a file, as
// stafet token issue -nats does.
func issueSubscriber(t *testing.T, s *engine.Store, subjects ...string) (seedFile, key string) {
	t.Helper()
	seed, rec, err := s.Subscribers().Issue(context.Background(), "kommune:0751", subjects)
	if err != nil {
		t.Fatalf("issue subscriber: %v", err)
	}
	seedFile = filepath.Join(t.TempDir(), "kommune-0751.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, rec.Key
}

func connectWith(t *testing.T, url, seedFile string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, append(opts, o, nats.MaxReconnects(0))...)
	if err != nil {
		t.Fatalf("connect as subscriber: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSAccounts tries, as an organisation's NATS user and as an
// anonymous client on the embedded server's client port, everything an
// attacker on the host tried (issue 13): only the organisation's own
// alerts get through.
func TestNATSAccounts(t *testing.T) {
	s := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0", Exports: []string{alertExports}})
	url := s.NATS().ClientURL()
	ctx := context.Background()

	if nc, err := nats.Connect(url, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("an anonymous client connected; want it refused")
	}
	stranger, _ := nkeys.CreateUser()
	strangerSeed, _ := stranger.Seed()
	strangerFile := filepath.Join(t.TempDir(), "stranger.nk")
	os.WriteFile(strangerFile, strangerSeed, 0o600)
	strangerOpt, _ := nats.NkeyOptionFromSeed(strangerFile)
	if nc, err := nats.Connect(url, strangerOpt, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a user with a key nobody issued connected; want it refused")
	}

	seedFile, _ := issueSubscriber(t, s, "stafet.alert.*.kommune-0751.>")
	var probe natsprobe.Probe
	nc := connectWith(t, url, seedFile, probe.Option())
	own, err := nc.SubscribeSync("stafet.alert.*.kommune-0751.>")
	if err != nil {
		t.Fatal(err)
	}
	before := streamMsgs(t, s)
	probe.CheckDenied(t, nc)
	if after := streamMsgs(t, s); after != before {
		t.Errorf("the event stream went from %d to %d messages after forged publishes", before, after)
	}

	// stafetd publishes an alert for the organisation and one for another.
	s.NATS().Conn().Publish("stafet.alert.aarhus.kommune-0727.gap-opened", []byte(`{"other":true}`))
	s.NATS().Conn().Publish("stafet.alert.aarhus.kommune-0751.gap-opened", []byte(`{"own":true}`))
	s.NATS().Conn().Flush()
	m, err := own.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != `{"own":true}` {
		t.Fatalf("own alert: got %v, %v; want it", m, err)
	}
	if m, err := own.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("got another organisation's alert %s", m.Data)
	}

	// The store still works after the reloads that issuing made.
	if _, err := natstest.JetStream(t, s.NATS().Conn()).Stream(ctx, engine.EventStream); err != nil {
		t.Errorf("stafetd's JetStream after the subscriber was issued: %v", err)
	}
}

func streamMsgs(t *testing.T, s *engine.Store) uint64 {
	t.Helper()
	st, err := natstest.JetStream(t, s.NATS().Conn()).Stream(context.Background(), engine.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// TestSubscriberRevoked checks that revoking a subscriber closes its open
// connection at once, without a restart, and refuses it afterwards.
func TestSubscriberRevoked(t *testing.T) {
	s := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0", Exports: []string{alertExports}})
	seedFile, key := issueSubscriber(t, s, "stafet.alert.*.kommune-0751.>")
	closed := make(chan struct{})
	nc := connectWith(t, s.NATS().ClientURL(), seedFile, nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if _, err := nc.SubscribeSync("stafet.alert.*.kommune-0751.>"); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	list, err := s.Subscribers().List(context.Background())
	if err != nil || len(list) != 1 || list[0].Key != key || list[0].Label != "kommune:0751" {
		t.Fatalf("list: got %+v, %v; want the one issued", list, err)
	}
	if err := s.Subscribers().Revoke(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked subscriber's connection is still open after 5 s")
	}
	o, _ := nats.NkeyOptionFromSeed(seedFile)
	if nc, err := nats.Connect(s.NATS().ClientURL(), o, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a revoked subscriber connected again")
	}
}

// TestSubscribersSurviveRestart checks that issued users work after a
// restart, before any new issue.
func TestSubscribersSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := engine.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Exports: []string{alertExports}}
	s, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	seedFile, _ := issueSubscriber(t, s, "stafet.alert.*.kommune-0751.>")
	s.Close()
	s2 := openStore(t, cfg)
	connectWith(t, s2.NATS().ClientURL(), seedFile)
}

func TestSubscriberValidation(t *testing.T) {
	s := openStore(t, engine.Config{Exports: []string{alertExports}})
	for _, subjects := range [][]string{nil, {">"}, {"stafet.ev.>"}, {"stafet.alert.>", "$JS.API.>"}} {
		if _, _, err := s.Subscribers().Issue(context.Background(), "x", subjects); err == nil {
			t.Errorf("issue for %v: got no error; want one", subjects)
		}
	}
}

func TestNATSListenRefusesPlaintextOffLoopback(t *testing.T) {
	_, err := engine.Open(context.Background(), engine.Config{DataDir: t.TempDir(), ListenAddr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("listen on 0.0.0.0 without TLS: got %v; want a refusal naming TLS", err)
	}
	s := openStore(t, engine.Config{ListenAddr: "0.0.0.0:0", AllowPlaintextNATS: true})
	if s.NATS().ClientURL() == "" {
		t.Error("allowed explicitly: no client URL")
	}
}

// TestStafetdKey checks stafetd's own key file: made at first start, mode
// 0600, the same key after a restart, and the only way in for a second
// instance.
func TestStafetdKey(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	st, err := os.Stat(engine.StafetdKeyFile(a.NATS().DataDir()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v; want 0600", st.Mode().Perm())
	}
	if _, err := engine.Open(context.Background(), engine.Config{URL: a.NATS().ClientURL(), Secret: a.Config().Secret, KeyDir: a.Config().KeyDir}); err == nil {
		t.Error("a second instance without stafetd's key connected")
	}
}

// TestLegacyGlobalAccountMigrated opens a data directory written before
// the accounts (JetStream in the global account) and finds its streams.
func TestLegacyGlobalAccountMigrated(t *testing.T) {
	dir := t.TempDir()
	opts := &server.Options{JetStream: true, StoreDir: filepath.Join(dir, "jetstream"), DontListen: true, NoSigs: true, NoLog: true}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("legacy server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LEGACY", Subjects: []string{"legacy.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "legacy.one", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()

	s := openStore(t, engine.Config{DataDir: dir})
	st, err := natstest.JetStream(t, s.NATS().Conn()).Stream(ctx, "LEGACY")
	if err != nil {
		t.Fatalf("legacy stream after the move to accounts: %v", err)
	}
	m, err := st.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("legacy message: got %v, %v; want kept", m, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "jetstream", "jetstream", "$G")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the global account's directory is still there: %v", err)
	}
}
