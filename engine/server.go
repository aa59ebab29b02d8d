package engine

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// startEmbedded starts an in-process nats-server with JetStream on file
// storage in cfg.DataDir, with stafetd's account and the subscribers'
// account and no anonymous access (natsauth.go).
//
// In safe mode the store fsyncs in groups (commit.go) where it can: the
// server then writes every message to its file before the ack but leaves
// syncing to the store, which syncs once for all the writers waiting.
func (s *conn) startEmbedded() error {
	cfg := s.cfg
	if err := checkListenSecurity(cfg); err != nil {
		return err
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("engine: data dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("engine: data dir: %w", err)
	}
	if s.userKey, err = loadOrCreateUserKey(StafetdKeyFile(dir)); err != nil {
		return err
	}
	group := cfg.Durability == Safe && !cfg.FsyncEach && groupCommitAvailable
	s.syncAlways = cfg.Durability == Safe && !group
	opts, err := s.embeddedOptions(nil)
	if err != nil {
		return err
	}
	if err := migrateGlobalAccount(opts.StoreDir); err != nil {
		return err
	}
	ns, err := startServer(opts)
	if err != nil {
		return err
	}
	s.ns = ns
	if !group {
		return nil
	}
	sync, closeSync, err := fileSystemSync(ns.JetStreamConfig().StoreDir)
	if err != nil {
		s.shutdownServer()
		return err
	}
	s.commit, s.closeSync = newCommitter(s.syncRecording(sync)), closeSync
	return nil
}

// embeddedOptions are the embedded server's options with subs as the
// subscribers: the same every time but for them, so a reload changes
// only the users.
func (s *conn) embeddedOptions(subs []Subscriber) (*server.Options, error) {
	cfg := s.cfg
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("engine: data dir: %w", err)
	}
	pub, err := s.userKey.PublicKey()
	if err != nil {
		return nil, err
	}
	opts, err := accountOptions(dir, buildAccountsConf(pub, cfg.Exports, subs))
	if err != nil {
		return nil, err
	}
	opts.ServerName = cfg.ServerName
	opts.JetStream = true
	opts.StoreDir = filepath.Join(dir, "jetstream")
	opts.NoSigs, opts.NoLog = true, true
	// Safe durability without group commit: fsync every write before the
	// ack. JetStream's default (fsync every 2 minutes) lost acknowledged
	// writes in Jepsen's 2025 analysis; see docs/architecture.md.
	opts.SyncAlways = s.syncAlways
	if err := listenOpts(cfg, opts); err != nil {
		return nil, err
	}
	if opts.TLSConfig != nil {
		// Keep one TLS configuration, so a reload does not see a change.
		if s.natsTLS == nil {
			s.natsTLS = opts.TLSConfig
		}
		opts.TLSConfig = s.natsTLS
	}
	return opts, nil
}

func startServer(opts *server.Options) (*server.Server, error) {
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("engine: embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("engine: embedded nats did not become ready in 30s")
	}
	return ns, nil
}

func listenOpts(cfg Config, opts *server.Options) error {
	if cfg.ListenAddr == "" {
		opts.DontListen = true
		return nil
	}
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("engine: nats listen address %q: %w", cfg.ListenAddr, err)
	}
	opts.Host = host
	if opts.Port, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("engine: nats listen port %q: %w", port, err)
	}
	if opts.Port == 0 {
		opts.Port = server.RANDOM_PORT
	}
	if cfg.CertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return err
		}
		opts.TLSConfig, opts.TLS = tc, true
	}
	return nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("engine: tls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("engine: tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("engine: tls: no certificates in %s", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// connect opens the client connection: in-process to the embedded server
// as stafetd's user, or over the network to cfg.URL.
func connect(cfg Config, ns *server.Server, user nkeys.KeyPair) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("stafet"),
		nats.MaxReconnects(-1),
		nats.ReconnectBufSize(64 << 20),
	}
	if ns != nil {
		pub, err := user.PublicKey()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(ns), nats.Nkey(pub, user.Sign))
		nc, err := nats.Connect("", opts...)
		if err != nil {
			return nil, fmt.Errorf("engine: connect in-process: %w", err)
		}
		return nc, nil
	}
	if cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if cfg.NkeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NkeyFile)
		if err != nil {
			return nil, fmt.Errorf("engine: nats nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if cfg.CAFile != "" || cfg.CertFile != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("engine: connect %s: %w", redactURL(cfg.URL), err)
	}
	return nc, nil
}

// redactURL hides credentials embedded in a NATS URL.
func redactURL(u string) string {
	if at := strings.LastIndexByte(u, '@'); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "***" + u[at:]
		}
	}
	return u
}
