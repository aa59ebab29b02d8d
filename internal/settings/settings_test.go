package settings

import (
	"bytes"
	"crypto/rand"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/faulttest"
)

func TestParseRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"durability", map[string]string{"STAFET_DURABILITY": "sometimes", "STAFET_KEY_DIR": "/tmp/keys"}, "durability"},
		{"drain", map[string]string{"STAFET_DRAIN": "soon"}, "drain"},
		{"tls pair", map[string]string{"STAFET_TLS_CERT": "c.pem"}, "tls"},
		{"cluster without secret", map[string]string{"STAFET_NATS_URL": "nats://127.0.0.1:4222", "STAFET_KEY_DIR": "/tmp/keys"}, "secret"},
		{"no key directory", map[string]string{}, "STAFET_KEY_DIR"},
		{"keys in the data directory", map[string]string{"STAFET_DATA_DIR": "/tmp/d", "STAFET_KEY_DIR": "/tmp/d/keys"}, "inside the data directory"},
		{"checkpoint interval", map[string]string{"STAFET_KEY_DIR": "/tmp/keys", "STAFET_CHECKPOINT_EVERY": "0s"}, "checkpoint-every"},
		{"chain version", map[string]string{"STAFET_KEY_DIR": "/tmp/keys", "STAFET_CHAIN_VERSION": "3"}, "STAFET_CHAIN_VERSION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(nil, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v; want an error about %s", err, tt.want)
			}
		})
	}
}

// TestDefaultsAreLoopback: with no settings stafetd listens on loopback
// only; opening a port to the network is the operator's explicit choice.
func TestDefaultsAreLoopback(t *testing.T) {
	// Only the key directory is named: a test writes no keys into the
	// home directory.
	keys := t.TempDir()
	cfg, err := Parse(nil, func(k string) string { return map[string]string{"STAFET_KEY_DIR": keys}[k] })
	if err != nil {
		t.Fatal(err)
	}
	for name, addr := range map[string]string{"http": cfg.HTTPAddr, "mllp": cfg.MLLPAddr, "nats": cfg.Engine.ListenAddr} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !net.ParseIP(host).IsLoopback() {
			t.Errorf("%s: default address %q; want a loopback address", name, addr)
		}
	}
}

// TestParseClusterWithSecretFile: stafetd on an external NATS needs the
// deployment secret, given as a file (docs/operations.md, "Running on a
// cluster"); Parse reads the file before it checks the engine's
// configuration, which on a cluster requires the secret.
func TestParseClusterWithSecretFile(t *testing.T) {
	env := map[string]string{
		"STAFET_NATS_URL": "nats://127.0.0.1:4222", "STAFET_REPLICAS": "3", "STAFET_SECRET_FILE": faulttest.Secret(t),
		"STAFET_KEY_DIR": t.TempDir(),
	}
	if _, err := Parse(nil, func(k string) string { return env[k] }); err != nil {
		t.Errorf("stafetd -nats-url … -replicas 3 -secret-file FILE: got %v; want it accepted (Parse reads STAFET_SECRET_FILE before it checks the secret)", err)
	}
}

// TestSecretFileOfRandomBytes: docs/operations.md tells the operator to
// make the secret file with `head -c 32 /dev/urandom > secret`; one such
// file in about 21 begins or ends with a byte that looks like white space
// (\t \n \v \f \r or space), and loadSecret must keep it.
func TestSecretFileOfRandomBytes(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	secret[0], secret[31] = '\n', ' ' // what /dev/urandom gives now and then
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	var eng engine.Config
	err := loadSecret(&eng, path)
	if err != nil || !bytes.Equal(eng.Secret, secret) {
		t.Errorf("a secret file of 32 random bytes starting with \\n and ending with a space: got %d bytes, %v; want the 32 bytes as written", len(eng.Secret), err)
	}
}
