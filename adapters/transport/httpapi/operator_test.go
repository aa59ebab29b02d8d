package httpapi

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOperatorTokenAtRest: the data directory keeps the operator token's
// hash only; the token is written once to the operator's directory; a
// restart finds the same; an earlier release's token in the clear moves
// out. (That stafetd shows it once with text logs and never with JSON
// logs is cmd/stafetd's TestOperatorTokenNotInJSONLogs.)
func TestOperatorTokenAtRest(t *testing.T) {
	tests := []struct {
		name   string
		legacy string // a token in data/admin-token, as an earlier release kept it
	}{
		{"first start", ""},
		{"an earlier release's token", "stf_an-earlier-release-token-0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, dir := t.TempDir(), filepath.Join(t.TempDir(), "keys")
			if tt.legacy != "" {
				os.WriteFile(filepath.Join(data, "admin-token"), []byte(tt.legacy+"\n"), 0o600)
			}
			op, err := OperatorToken(data, dir, "")
			if err != nil {
				t.Fatal(err)
			}
			if tt.legacy != "" && op.Token != tt.legacy {
				t.Errorf("token %q; want the earlier release's", op.Token)
			}
			if op.Token == "" || op.Hash != sha256.Sum256([]byte(op.Token)) {
				t.Fatalf("got %+v; want a token and its hash", op)
			}
			if op.Made == (tt.legacy != "") || op.Moved != (tt.legacy != "") || op.File != OperatorTokenFile(dir) {
				t.Errorf("got made %v, moved %v, file %s; want made for a new token, moved for an earlier release's, and %s", op.Made, op.Moved, op.File, OperatorTokenFile(dir))
			}
			if b, err := os.ReadFile(OperatorTokenFile(dir)); err != nil || strings.TrimSpace(string(b)) != op.Token {
				t.Errorf("the operator's file: %q, %v; want the token", b, err)
			}
			filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(op.Token)) {
						t.Errorf("%s holds the token", path)
					}
				}
				return err
			})
			again, err := OperatorToken(data, dir, "")
			if err != nil || again.Token != op.Token || again.Hash != op.Hash || again.Made || again.Moved {
				t.Errorf("restart: got %+v, %v; want the same token, neither made nor moved", again, err)
			}
			os.Remove(OperatorTokenFile(dir))
			if again, err := OperatorToken(data, dir, ""); err != nil || again.Hash != op.Hash || again.Token != "" {
				t.Errorf("restart without the operator's file: got %+v, %v; want the hash alone", again, err)
			}
		})
	}
}
