package settings

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/confdir"
)

// keyFiles are where the key material comes from (docs/security.md): a
// key directory outside the data directory, where stafetd makes what is
// missing at first start, or files named one by one (from a secret
// manager, say).
type keyFiles struct {
	dir, secret, kek, signing, trusted string
}

// loadKeys puts the key material into eng: the files named, and the key
// directory for the rest. A key directory inside the data directory
// refuses to start: a copy of the data directory would then re-identify
// every patient.
func loadKeys(eng *engine.Config, k keyFiles, getenv func(string) string) error {
	if k.dir == "" {
		d, err := confdir.Dir(getenv)
		if err != nil {
			return fmt.Errorf("no key directory (%v): set STAFET_KEY_DIR to a directory outside the data directory", err)
		}
		k.dir = filepath.Join(d, "keys")
	}
	dir, err := filepath.Abs(k.dir)
	if err != nil {
		return fmt.Errorf("key directory: %w", err)
	}
	if eng.URL == "" && inside(dir, eng.DataDir) {
		return fmt.Errorf("the key directory %s is inside the data directory: a copy of the data directory would re-identify every patient; choose one outside it (STAFET_KEY_DIR)", dir)
	}
	eng.KeyDir = dir
	if err := loadSecret(eng, k.secret); err != nil {
		return err
	}
	if k.kek != "" {
		if _, err := os.Stat(k.kek); err != nil {
			return fmt.Errorf("KEK file: %w", err)
		}
		eng.KEK = engine.KEKFile(k.kek)
	}
	if k.signing != "" {
		b, err := os.ReadFile(k.signing)
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		if eng.SigningKey, err = engine.ParseSigningKey(b); err != nil {
			return err
		}
	}
	if k.trusted != "" {
		b, err := os.ReadFile(k.trusted)
		if err != nil {
			return fmt.Errorf("trusted keys: %w", err)
		}
		if eng.TrustedKeys, err = engine.ParsePublicKeys(b); err != nil {
			return err
		}
	}
	return nil
}

// inside reports whether path lies in dir (or is dir).
func inside(path, dir string) bool {
	d, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(d, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// loadSecret reads the pseudonym secret from file, if one is named.
func loadSecret(eng *engine.Config, file string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	// Only a trailing line end is trimmed: a secret of random bytes may
	// begin or end with bytes that look like white space.
	b = bytes.TrimSuffix(b, []byte("\n"))
	eng.Secret = bytes.TrimSuffix(b, []byte("\r"))
	if len(eng.Secret) == 0 {
		return errors.New("secret file: empty")
	}
	return nil
}
