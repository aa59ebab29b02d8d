package settings

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stafet/stafet/internal/pki"
)

// TestTLS: which certificate each listener presents, and whether MLLP
// demands the senders' certificates.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"https", "mllp"} {
		pair, err := ca.Server("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if err := pair.Write(dir, name); err != nil {
			t.Fatal(err)
		}
	}
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("no certificate"), 0o600)
	file := func(n string) string { return filepath.Join(dir, n) }
	https := Settings{MLLPAddr: "127.0.0.1:0", TLSCert: file("https.crt"), TLSKey: file("https.key")}
	tests := []struct {
		name          string
		c             Settings
		https, mllp   bool
		clientsNeeded bool
		err           string
	}{
		{"none", Settings{MLLPAddr: "127.0.0.1:0"}, false, false, false, ""},
		{"HTTPS only", https, true, false, false, ""},
		{"MLLP on HTTPS's certificate", with(https, func(c *Settings) { c.MLLPTLS = true }), true, true, false, ""},
		{"MLLP with senders' CA", with(https, func(c *Settings) { c.MLLPTLS, c.MLLPClientCA = true, file("ca.crt") }), true, true, true, ""},
		{"MLLP certificate of its own", Settings{MLLPAddr: "127.0.0.1:0", MLLPTLS: true, MLLPCert: file("mllp.crt"), MLLPKey: file("mllp.key")}, false, true, false, ""},
		{"MLLP TLS without a certificate", Settings{MLLPAddr: "127.0.0.1:0", MLLPTLS: true}, false, false, false, "-mllp-tls needs"},
		{"senders' CA not PEM", with(https, func(c *Settings) { c.MLLPTLS, c.MLLPClientCA = true, notPEM }), false, false, false, "no PEM certificate"},
		{"HTTPS key missing", Settings{TLSCert: file("https.crt"), TLSKey: file("none.key")}, false, false, false, "tls:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, m, err := tt.c.TLS()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v; want an error about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (h != nil) != tt.https || (m != nil) != tt.mllp {
				t.Fatalf("got HTTPS %t, MLLP %t; want %t, %t", h != nil, m != nil, tt.https, tt.mllp)
			}
			if m != nil && (m.ClientAuth == tls.RequireAndVerifyClientCert) != tt.clientsNeeded {
				t.Errorf("MLLP client auth %v; want senders' certificates required: %t", m.ClientAuth, tt.clientsNeeded)
			}
		})
	}
}

func with(c Settings, f func(*Settings)) Settings {
	f(&c)
	return c
}
