package faulttest

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
)

// Secret writes a deployment secret file of 32 random bytes, the
// operator's recipe in docs/operations.md. See TestSecretFileOfRandomBytes
// for why its first and last bytes are not white space here.
func Secret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	for _, i := range []int{0, len(b) - 1} {
		if bytes.ContainsRune([]byte("\t\n\v\f\r "), rune(b[i])) {
			b[i] = 'x'
		}
	}
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
