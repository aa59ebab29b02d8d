package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestTokenWithNATSUser issues a token with a NATS user through the CLI,
// reads the organisation's alerts with the seed file it wrote, and revokes
// the token: the NATS connection is closed at once.
func TestTokenWithNATSUser(t *testing.T) {
	ctx := context.Background()
	store, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Exports: alerts.Exports})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	admin := "operator-token-for-tests"
	tokens, err := httpapi.NewTokens(ctx, store, admin)
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := events.NewDirectory(nil)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: store, Tokens: tokens, Directory: dir,
		NATSSubjects: func(org events.OrgID) []string { return []string{alerts.OrgFilter(org)} }}))
	defer srv.Close()
	vars := map[string]string{"STAFET_URL": srv.URL, "STAFET_TOKEN": admin}

	seedFile := filepath.Join(t.TempDir(), "aarhus.nk")
	code, out, errOut := runCLI(t, vars, "token", "issue", "-org", "kommune:0751", "-nats", seedFile)
	if code != 0 {
		t.Fatalf("token issue: exit %d: %s", code, errOut)
	}
	token := strings.TrimSpace(out)
	if !strings.HasPrefix(token, "stf_") || !strings.Contains(errOut, "nats --nkey "+seedFile+" sub 'stafet.alert.*.kommune-0751.>'") {
		t.Errorf("token issue printed %q and %q; want the token and the nats command", out, errOut)
	}
	if st, err := os.Stat(seedFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file: %v, %v; want mode 0600", st, err)
	}
	if code, _, errOut := runCLI(t, vars, "token", "issue", "-org", "kommune:0751", "-nats", seedFile); code == 0 || !strings.Contains(errOut, "exists") {
		t.Errorf("a second issue onto the same file: exit %d %q; want a refusal", code, errOut)
	}

	opt, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	nc, err := nats.Connect(store.NATS().ClientURL(), opt, nats.MaxReconnects(0), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		t.Fatalf("connect with the issued seed: %v", err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(alerts.OrgFilter(events.Kommune("0751")))
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	store.NATS().Conn().Publish("stafet.alert.aarhus.kommune-0751.gap-opened", []byte("{}"))
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("own alert: %v", err)
	}

	if code, _, errOut := runCLI(t, vars, "token", "revoke", token); code != 0 {
		t.Fatalf("token revoke: exit %d: %s", code, errOut)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the NATS connection of a revoked token is still open")
	}
	if code, _, _ := runCLI(t, map[string]string{"STAFET_URL": srv.URL, "STAFET_TOKEN": token}, "worklist"); code == 0 {
		t.Error("the revoked token still reads the worklist")
	}
}

func TestNkeyNew(t *testing.T) {
	file := filepath.Join(t.TempDir(), "stafetd.nk")
	code, out, errOut := runCLI(t, nil, "nkey", "new", file)
	if code != 0 {
		t.Fatalf("nkey new: exit %d: %s", code, errOut)
	}
	seed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		t.Fatalf("the seed file: %v", err)
	}
	pub, _ := kp.PublicKey()
	if strings.TrimSpace(out) != pub || !strings.HasPrefix(pub, "U") {
		t.Errorf("printed %q; want the user's public key %s", out, pub)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v; want 0600", st.Mode().Perm())
	}
	if code, _, _ := runCLI(t, nil, "nkey", "new", file); code == 0 {
		t.Error("nkey new over an existing file: exit 0; want a refusal")
	}
}
