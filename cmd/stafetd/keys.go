package main

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

// loadKeys puts the key material into cfg.engine: the files named, and
// the key directory for the rest. A key directory inside the data
// directory refuses to start: a copy of the data directory would then
// re-identify every patient.
func loadKeys(cfg *config, getenv func(string) string) error {
	k := cfg.keys
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
	if cfg.engine.URL == "" && inside(dir, cfg.engine.DataDir) {
		return fmt.Errorf("the key directory %s is inside the data directory: a copy of the data directory would re-identify every patient; choose one outside it (STAFET_KEY_DIR)", dir)
	}
	cfg.engine.KeyDir = dir
	if err := loadSecret(cfg); err != nil {
		return err
	}
	if k.kek != "" {
		if _, err := os.Stat(k.kek); err != nil {
			return fmt.Errorf("KEK file: %w", err)
		}
		cfg.engine.KEK = engine.KEKFile(k.kek)
	}
	if k.signing != "" {
		b, err := os.ReadFile(k.signing)
		if err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
		if cfg.engine.SigningKey, err = engine.ParseSigningKey(b); err != nil {
			return err
		}
	}
	if k.trusted != "" {
		b, err := os.ReadFile(k.trusted)
		if err != nil {
			return fmt.Errorf("trusted keys: %w", err)
		}
		if cfg.engine.TrustedKeys, err = engine.ParsePublicKeys(b); err != nil {
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

// loadSecret reads the pseudonym secret from a file if one is named.
func loadSecret(cfg *config) error {
	if cfg.keys.secret == "" {
		return nil
	}
	b, err := os.ReadFile(cfg.keys.secret)
	if err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	// Only a trailing line end is trimmed: a secret of random bytes may
	// begin or end with bytes that look like white space.
	b = bytes.TrimSuffix(b, []byte("\n"))
	cfg.engine.Secret = bytes.TrimSuffix(b, []byte("\r"))
	if len(cfg.engine.Secret) == 0 {
		return errors.New("secret file: empty")
	}
	return nil
}
