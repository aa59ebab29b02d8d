package engine

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"
)

// Durability says when an append is acknowledged.
type Durability string

const (
	// Safe fsyncs every write before it is acknowledged: an acknowledged
	// event survives a process kill and a host crash. The default.
	Safe Durability = "safe"
	// Bulk lets the server fsync on its own interval (2 minutes): an
	// acknowledged event survives a process kill but may be lost in a host
	// crash. For bulk imports and benchmarks only.
	Bulk Durability = "bulk"
)

// Config configures a Store. The zero value means the defaults: an
// embedded NATS server with JetStream in ./data, no client port, safe
// durability, one replica.
type Config struct {
	// DataDir holds the embedded server's JetStream files. Default "data".
	DataDir string
	// URL connects to an external NATS cluster instead of the embedded
	// server, e.g. "nats://n1:4222,nats://n2:4222".
	URL string
	// Credentials is a NATS credentials file for URL.
	Credentials string
	// CAFile, CertFile and KeyFile set TLS for URL (and for the embedded
	// client port when ListenAddr is set).
	CAFile, CertFile, KeyFile string
	// ListenAddr is the embedded server's client address, e.g.
	// "127.0.0.1:4222", so the nats CLI and other clients can connect.
	// Empty means in-process connections only.
	ListenAddr string
	// Durability is Safe (default) or Bulk.
	Durability Durability
	// FsyncEach makes the embedded server fsync every message itself in
	// safe mode, as JetStream's sync_always does. By default (false) the
	// store groups the fsyncs instead: a write is acknowledged only after
	// a sync of the file system that began after the server stored it,
	// and one sync serves every writer waiting (commit.go). Both
	// acknowledge nothing before it is on disk; the default writes many
	// times faster. Ignored for an external cluster and in bulk mode.
	FsyncEach bool
	// Replicas is the replication factor of streams and buckets. Default 1;
	// use 3 on a cluster.
	Replicas int
	// DuplicateWindow is JetStream's de-duplication window. Idempotency
	// beyond it comes from Stafet's own index. Default 2 minutes.
	DuplicateWindow time.Duration
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
	// ServerName names the embedded server. Default "stafet".
	ServerName string
	// Secret is the pseudonym secret (at least 32 bytes): it keys patient
	// pseudonyms and nothing else. Every instance of a deployment needs the
	// same one, and a store refuses to open a log written with another
	// (checkpoint.go). If empty, KeyDir keeps one (file pseudonym-secret,
	// made at first start, or moved there from the data directory of an
	// earlier release).
	Secret []byte
	// KEK is where the key-encryption keys come from: they wrap every key
	// NATS keeps (keys.go). Nil: the file kek in KeyDir, made at first
	// start.
	KEK KEKSource
	// SigningKey signs the log's checkpoints. Nil: the file signing-key in
	// KeyDir, made at first start with its public half beside it
	// (signing-key.pub), for auditors.
	SigningKey ed25519.PrivateKey
	// TrustedKeys are the public halves of earlier signing keys, whose
	// checkpoints still count after a rotation of SigningKey.
	TrustedKeys []ed25519.PublicKey
	// KeyDir keeps the key material a store makes when it is not given.
	// Default: the "keys" directory in DataDir, which suits tests and
	// nothing else: a copy of the data directory must re-identify no one,
	// so stafetd keeps its keys elsewhere (docs/security.md).
	KeyDir string
	// CheckpointEvery is how often RunCheckpoints signs the log. Default
	// 5 minutes.
	CheckpointEvery time.Duration
	// ChainVersion is the Stafet-Chain version appends write (chain.go):
	// 2, the default, or 1 while an instance of a release that reads only
	// version 1 still serves the same log (a rolling upgrade; such a
	// release quarantines version 2 messages as unauthentic). Both are
	// read, always.
	ChainVersion int
	// StateCache is how many pathways' write-side state Execute keeps in
	// memory (trimmed of history, a few kB each), so that a command needs
	// no load from the log. Size it above the open pathways of the
	// deployment (about 11 000 nationally in the simulator's model).
	// Default 32 768.
	StateCache int
	// NkeyFile is a NATS NKey seed file for URL (an alternative to
	// Credentials).
	NkeyFile string
	// Exports are the subject filters stafetd's account exports to the
	// subscribers' account on the embedded server (stafetd sets the alert
	// subjects); subscribers may read nothing else. Default: none.
	Exports []string
	// AllowPlaintextNATS lets the embedded client port listen off loopback
	// without TLS. Default false: such a setting refuses to start.
	AllowPlaintextNATS bool
	// RawRetention is how long inbound raw messages are kept. Default 0:
	// for ever (until an operator sets a limit).
	RawRetention time.Duration
	// MinFreeBytes: with less free space than this on the data
	// directory's file system, the embedded server's intake refuses new
	// messages (ErrNoRoom: HL7 AR, HTTP 507, "resend later") and the
	// health report is not ready, before the disk is full. Default
	// DefaultMinFreeBytes (256 MiB).
	MinFreeBytes uint64
	// AccessRetention is how long access-log records are kept. Default 0:
	// for ever (Danish rules ask for at least 5 years; see
	// docs/operations.md).
	AccessRetention time.Duration
}

func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.Durability == "" {
		c.Durability = Safe
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StateCache == 0 {
		c.StateCache = 32768
	}
	if c.MinFreeBytes == 0 {
		c.MinFreeBytes = DefaultMinFreeBytes
	}
	if c.ServerName == "" {
		c.ServerName = "stafet"
	}
	if c.KeyDir == "" {
		c.KeyDir = filepath.Join(c.DataDir, "keys")
	}
	if abs, err := filepath.Abs(c.KeyDir); err == nil {
		c.KeyDir = abs
	}
	if c.CheckpointEvery == 0 {
		c.CheckpointEvery = 5 * time.Minute
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if c.URL != "" && c.KeyDir == "" && (c.KEK == nil || c.SigningKey == nil) {
		// The default key directory lies in DataDir, which a cluster's
		// client does not have.
		return errors.New("engine: an external cluster needs the key directory (KeyDir) or the KEK and signing key")
	}
	c = c.withDefaults()
	switch {
	case c.Durability != Safe && c.Durability != Bulk:
		return fmt.Errorf("engine: durability %q: want safe or bulk", c.Durability)
	case c.Replicas < 1 || c.Replicas > 5:
		return fmt.Errorf("engine: replicas %d: want 1 to 5", c.Replicas)
	case c.URL == "" && c.Replicas > 1:
		return errors.New("engine: replicas > 1 needs a NATS cluster (set URL)")
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("engine: TLS needs both a certificate and a key file")
	case c.URL != "" && len(c.Secret) == 0:
		return errors.New("engine: an external cluster needs the pseudonym secret (STAFET_SECRET_FILE)")
	case len(c.Secret) > 0 && len(c.Secret) < 32:
		return errors.New("engine: the pseudonym secret must be at least 32 bytes")
	case c.SigningKey != nil && len(c.SigningKey) != ed25519.PrivateKeySize:
		return errors.New("engine: the signing key must be an Ed25519 private key")
	case c.CheckpointEvery < 0:
		return errors.New("engine: checkpoint interval must not be negative")
	case c.ChainVersion < 0 || c.ChainVersion > 2:
		return errors.New("engine: chain version must be 1 or 2")
	case c.StateCache < 0:
		return errors.New("engine: state cache must not be negative")
	case c.DuplicateWindow < time.Second:
		return errors.New("engine: duplicate window must be at least 1s")
	}
	return nil
}
