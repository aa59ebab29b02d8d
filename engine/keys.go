package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The key material of a deployment (docs/security.md), none of it in
// NATS:
//
//   - the pseudonym secret keys the patients' pseudonyms (HMAC) and
//     nothing else;
//   - key-encryption keys (KEKs) wrap the data keys that NATS keeps: each
//     patient's key, the key of raw messages that name no patient, and the
//     key of the log's chain MACs (vaultkeys.go). A reader of NATS holds
//     only wrapped keys;
//   - the signing key signs the log's checkpoints (checkpoint.go).
//
// Given in Config, or kept in files in Config.KeyDir, made at first
// start. In production KeyDir is not the data directory: a copy of the
// data directory alone must re-identify no one.
const (
	secretFile       = "pseudonym-secret"
	kekFile          = "kek"
	signingFile      = "signing-key"
	signingPubFile   = "signing-key.pub"
	legacySecretFile = "secret" // data/secret, before the key directory
)

// KEKSource is where the key-encryption keys come from: a file (KEKFile),
// or an adapter to a secret manager.
type KEKSource interface {
	// KEKs returns the key-encryption keys, 32 bytes each, the current one
	// first: it wraps every key from now on. The others still unwrap the
	// keys wrapped under them, until Vault.Rewrap has moved those to the
	// current one; then they can go.
	KEKs(ctx context.Context) ([][]byte, error)
}

// KEKFile reads the key-encryption keys from a file: one key a line, 32
// bytes in standard base64, the current one first; blank lines and lines
// starting with # are ignored. It is read at every call, so a rotation
// (AddKEK, then Vault.Rewrap) needs no restart.
type KEKFile string

// KEKs implements KEKSource.
func (f KEKFile) KEKs(context.Context) ([][]byte, error) {
	b, err := os.ReadFile(string(f))
	if err != nil {
		return nil, fmt.Errorf("engine: key-encryption keys: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("engine: key-encryption keys: %s line %d: want 32 bytes in base64", f, n)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("engine: key-encryption keys: %s holds none", f)
	}
	return keys, nil
}

// AddKEK puts a fresh key-encryption key first in the file at path (made,
// mode 0600, if there is none) and returns its id: the first step of a
// rotation. The keys it replaces stay in the file to unwrap what is
// wrapped under them until Vault.Rewrap has wrapped everything anew.
func AddKEK(path string) (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("engine: %w", err)
	}
	line := "# " + KEKID(k) + "\n" + base64.StdEncoding.EncodeToString(k) + "\n"
	if err := replaceFile(path, append([]byte(line), old...)); err != nil {
		return "", err
	}
	return KEKID(k), nil
}

// KEKID names a key-encryption key without revealing it: what wrapped
// keys record, and what logs and reports show.
func KEKID(k []byte) string {
	sum := sha256.Sum256(append([]byte("stafet kek id\x00"), k...))
	return base64.RawURLEncoding.EncodeToString(sum[:8])
}

// keyring holds the KEKs in use, by id.
type keyring struct {
	src KEKSource
	mu  sync.RWMutex
	// current wraps; byID unwraps.
	current string
	byID    map[string]cipher.AEAD
}

func newKeyring(ctx context.Context, src KEKSource) (*keyring, error) {
	k := &keyring{src: src}
	return k, k.refresh(ctx)
}

// refresh reads the keys again: after a rotation, or when a wrapped key
// names one it does not know (another instance rotated first).
func (k *keyring) refresh(ctx context.Context) error {
	keys, err := k.src.KEKs(ctx)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return errors.New("engine: no key-encryption key")
	}
	byID := make(map[string]cipher.AEAD, len(keys))
	for _, key := range keys {
		if len(key) != 32 {
			return errors.New("engine: a key-encryption key must be 32 bytes")
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return err
		}
		gcm, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		byID[KEKID(key)] = gcm
	}
	k.mu.Lock()
	k.current, k.byID = KEKID(keys[0]), byID
	k.mu.Unlock()
	return nil
}

// Current returns the id of the KEK that wraps new keys.
func (k *keyring) Current() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// A wrapped key is
//
//	1 | KEK id (8 bytes) | nonce (12 bytes) | AES-256-GCM(KEK, key)
//
// with the key's name (a patient's pseudonym, "raw", "chain") as
// associated data, so a wrapped key cannot be moved to another name.
const wrapVersion = 1

func wrapAAD(name string) []byte { return []byte("stafet key v1\x00" + name) }

// wrap wraps key under the current KEK.
func (k *keyring) wrap(name string, key []byte) ([]byte, error) {
	k.mu.RLock()
	id, gcm := k.current, k.byID[k.current]
	k.mu.RUnlock()
	rawID, _ := base64.RawURLEncoding.DecodeString(id)
	out := make([]byte, 0, 1+8+gcm.NonceSize()+len(key)+gcm.Overhead())
	out = append(out, wrapVersion)
	out = append(out, rawID...)
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, key, wrapAAD(name)), nil
}

// ErrUnknownKEK is returned for a key wrapped under a key-encryption key
// the KEK source does not hold: the wrong KEK file, or an old KEK removed
// before Rewrap had moved every key off it.
var ErrUnknownKEK = errors.New("engine: key wrapped under a key-encryption key this instance does not hold")

// unwrap returns the key wrapped in b, and the id of the KEK it was
// wrapped under.
func (k *keyring) unwrap(ctx context.Context, name string, b []byte) ([]byte, string, error) {
	id, ok := wrappedKEK(b)
	if !ok {
		return nil, "", errors.New("engine: not a wrapped key")
	}
	k.mu.RLock()
	gcm := k.byID[id]
	k.mu.RUnlock()
	if gcm == nil {
		// Another instance may have rotated: read the source again, once.
		if err := k.refresh(ctx); err != nil {
			return nil, id, err
		}
		k.mu.RLock()
		gcm = k.byID[id]
		k.mu.RUnlock()
		if gcm == nil {
			return nil, id, fmt.Errorf("%w (KEK %s)", ErrUnknownKEK, id)
		}
	}
	rest := b[9:]
	if len(rest) < gcm.NonceSize() {
		return nil, id, errors.New("engine: wrapped key too short")
	}
	key, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], wrapAAD(name))
	if err != nil {
		return nil, id, fmt.Errorf("engine: unwrap key: %w", err)
	}
	return key, id, nil
}

// wrappedKEK reads the id of the KEK a wrapped key names.
func wrappedKEK(b []byte) (string, bool) {
	if len(b) < 9 || b[0] != wrapVersion {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(b[1:9]), true
}

// resolveKeys fills in the key material Config does not give from the
// files in KeyDir, making what is missing (mode 0600 in a directory of
// mode 0700). A pseudonym secret kept in the data directory by an earlier
// release (data/secret) moves to KeyDir.
func resolveKeys(cfg *Config) error {
	dir := cfg.KeyDir
	if len(cfg.Secret) == 0 {
		secret, err := loadOrMoveSecret(dir, cfg.DataDir)
		if err != nil {
			return err
		}
		cfg.Secret = secret
	}
	if cfg.KEK == nil {
		path := filepath.Join(dir, kekFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("engine: key directory: %w", err)
			}
			if _, err := AddKEK(path); err != nil {
				return err
			}
		}
		cfg.KEK = KEKFile(path)
	}
	if cfg.SigningKey == nil {
		k, err := loadOrCreateSigningKey(dir)
		if err != nil {
			return err
		}
		cfg.SigningKey = k
	}
	return nil
}

// loadOrMoveSecret reads the pseudonym secret from dir, moving it there
// from the data directory of an earlier release, or making one.
func loadOrMoveSecret(dir, dataDir string) ([]byte, error) {
	path := filepath.Join(dir, secretFile)
	legacy := filepath.Join(dataDir, legacySecretFile)
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("engine: pseudonym secret: %w", err)
	}
	old, lerr := os.ReadFile(legacy)
	if lerr != nil && !errors.Is(lerr, os.ErrNotExist) {
		return nil, fmt.Errorf("engine: pseudonym secret: %w", lerr)
	}
	switch {
	case err == nil && lerr == nil && !bytes.Equal(b, old):
		return nil, fmt.Errorf("engine: pseudonym secret: %s and %s differ; the log was written with the one in the data directory: move it to the key directory by hand, or choose another key directory", legacy, path)
	case err == nil && lerr == nil:
		return b, removeFile(legacy)
	case err == nil:
		return b, nil
	case lerr == nil:
		b = old
	default:
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: key directory: %w", err)
	}
	if err := writeFileExcl(path, b); err != nil {
		return nil, err
	}
	if lerr == nil {
		return b, removeFile(legacy)
	}
	return b, nil
}

// loadOrCreateSigningKey reads the signing key from dir, or makes one,
// with its public half beside it for auditors.
func loadOrCreateSigningKey(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, signingFile)
	if b, err := os.ReadFile(path); err == nil {
		return ParseSigningKey(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("engine: signing key: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: key directory: %w", err)
	}
	if err := writeFileExcl(path, []byte(base64.StdEncoding.EncodeToString(priv.Seed())+"\n")); err != nil {
		return nil, err
	}
	if err := replaceFile(filepath.Join(dir, signingPubFile), []byte(PublicKeyText(pub)+"\n")); err != nil {
		return nil, err
	}
	return priv, nil
}

// ParseSigningKey reads a signing key file: the Ed25519 seed in base64.
func ParseSigningKey(b []byte) (ed25519.PrivateKey, error) {
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("engine: signing key: want an Ed25519 seed (32 bytes) in base64")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// PublicKeyText is how checkpoints and public key files name a signing
// key: its public half in standard base64.
func PublicKeyText(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// ParsePublicKeys reads public key files: one key a line (PublicKeyText);
// blank lines and lines starting with # are ignored.
func ParsePublicKeys(b []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, errors.New("engine: public key: want an Ed25519 public key (32 bytes) in base64")
		}
		out = append(out, ed25519.PublicKey(k))
	}
	if len(out) == 0 {
		return nil, errors.New("engine: public key file holds no key")
	}
	return out, nil
}

// replaceFile writes b to path (mode 0600) through a temporary file, so
// that a crash leaves the old file or the new one.
func replaceFile(path string, b []byte) error {
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeFileExcl(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}

// removeFile overwrites a small secret file before removing it: on most
// file systems that leaves its bytes nowhere a file can reach.
func removeFile(path string) error {
	if st, err := os.Stat(path); err == nil {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Write(make([]byte, st.Size()))
			f.Sync()
			f.Close()
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
