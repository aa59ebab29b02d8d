package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stafet/stafet/events"
)

// Names of the streams and buckets Stafet owns. Documented in
// docs/architecture.md.
const (
	EventStream   = "STAFET_EVENTS"
	EventSubjects = "stafet.ev.>"
	IdemBucket    = "stafet_idem"
)

var (
	// ErrConflict is returned when another writer appended to the pathway
	// first. Execute retries on it; Append returns it to the caller.
	ErrConflict = errors.New("engine: pathway changed concurrently")
	// ErrClosed is returned by a closed store.
	ErrClosed = errors.New("engine: store closed")
)

// Store is Stafet's connection to NATS JetStream: it starts the embedded
// server (or connects to a cluster), creates the streams and buckets, and
// hands out one handle per job, as nats.go hands out JetStream, Stream and
// KeyValue handles:
//
//   - Log: the event log — Execute, Append, Load, Replay, Commit, and
//     NewHost for the projection host;
//   - Inbox: inbound messages as received, and the dead letters;
//   - PathwayIndex: patient, episode and document → pathway;
//   - Vault: pseudonyms, sealed identities and the patient keys;
//   - Reactors: durable reactions to events, and the deadline scheduler;
//   - Subscribers: the NATS users that may subscribe to alerts;
//   - AccessLog: who read which pathway, and who joined one.
//   - Journal and Bucket: a stream and a key-value bucket of an adapter's
//     own.
//
// Every handle lives as long as the Store; Close stops them all.
type Store struct {
	*conn
	eventLog *Log
	subs     *Subscribers
	inbox    *Inbox
	index    *PathwayIndex
	vault    *Vault
	reactors *Reactors
	access   *AccessLog

	closeOnce sync.Once
}

// conn is what every handle shares: the configuration, the NATS
// connection and JetStream context, and the group commit.
type conn struct {
	cfg Config
	log *slog.Logger
	ns  *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	// pub sends the writes whose acknowledgements are waited for, or
	// watched (publisher.go).
	pub *publisher
	// commit groups fsyncs in safe mode on the embedded server; nil when
	// the server fsyncs itself or durability is bulk.
	commit      *committer
	closeSync   func() error
	commitWaits atomic.Uint64
	// durableSeq is an event log sequence known to be on disk with all
	// before it (commitThrough); storedSeq the highest the server has
	// acknowledged to this store.
	durableSeq, storedSeq atomic.Uint64
	// userKey is stafetd's NKey on the embedded server; natsTLS its
	// client port's TLS, kept for reloads; syncAlways whether the server
	// fsyncs every message (natsauth.go, server.go).
	userKey    nkeys.KeyPair
	natsTLS    *tls.Config
	syncAlways bool
}

// Log returns the event log.
func (s *Store) Log() *Log { return s.eventLog }

// Inbox returns the store of inbound messages and dead letters.
func (s *Store) Inbox() *Inbox { return s.inbox }

// Index returns the pathway index.
func (s *Store) Index() *PathwayIndex { return s.index }

// Vault returns the identity vault.
func (s *Store) Vault() *Vault { return s.vault }

// Reactors returns the reactors and the deadline scheduler.
func (s *Store) Reactors() *Reactors { return s.reactors }

// Open starts (or connects to) NATS, creates or verifies the streams and
// buckets, and returns a ready store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := resolveKeys(&cfg); err != nil {
		return nil, err
	}
	ps, err := events.NewPseudonymizer(cfg.Secret)
	if err != nil {
		return nil, err
	}
	ring, err := newKeyring(ctx, cfg.KEK)
	if err != nil {
		return nil, err
	}
	c := &conn{cfg: cfg, log: cfg.Logger}
	s := &Store{conn: c}
	s.eventLog = &Log{conn: c, codec: events.NewCodec(), cache: newStateCache(cfg.StateCache), closing: make(chan struct{})}
	s.vault = &Vault{conn: c, pseudo: ps, ring: ring}
	s.inbox = &Inbox{conn: c, vault: s.vault, room: newRoom(cfg)}
	s.index = &PathwayIndex{conn: c, vault: s.vault}
	s.eventLog.pathways = s.index
	s.reactors = &Reactors{log: s.eventLog}
	s.access = &AccessLog{}
	s.eventLog.access = s.access
	if cfg.URL == "" {
		if err := s.startEmbedded(); err != nil {
			return nil, err
		}
	}
	nc, err := connect(cfg, s.ns, s.userKey)
	if err != nil {
		s.shutdownServer()
		return nil, err
	}
	s.nc = nc
	if err := s.setup(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.eventLog.reconcileIndex(ctx); err != nil {
		s.Close()
		return nil, err
	}
	c.log.Info("event store ready", "stream", EventStream, "embedded", s.ns != nil,
		"data_dir", s.NATS().DataDir(), "durability", string(cfg.Durability), "fsync", s.fsyncMode(), "replicas", cfg.Replicas)
	return s, nil
}

func (s *Store) setup(ctx context.Context) error {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("engine: jetstream: %w", err)
	}
	s.js = js
	if s.pub, err = newPublisher(s.nc, s.eventLog.indexWriteFailed); err != nil {
		return err
	}
	// The streams and buckets are independent of each other: created or
	// checked at once, each a round trip to the server, rather than one
	// after another (a restart's engine.Open waited for them in turn).
	err = together(
		func() error { return s.eventLog.setup(ctx) },
		func() error { return s.inbox.setup(ctx) },
		func() error { return s.setupAccess(ctx) },
		func() (err error) {
			s.index.kv, err = s.bucket(ctx, PathwayIndexKV, "patient pseudonym and episode → pathway", 1)
			return err
		},
		func() error { return s.vault.setup(ctx) },
	)
	if err != nil {
		return err
	}
	// The chain needs the vault's chain key and the event stream; the
	// subscribers reload the embedded server's users, which is best done
	// with no stream being made.
	if err := s.eventLog.setupChain(ctx, s.vault); err != nil {
		return err
	}
	return s.setupSubscribers(ctx)
}

// together runs fns at once and, once all have returned, returns their
// errors joined.
func together(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// setup creates or checks the event stream and the idempotency index.
func (s *Log) setup(ctx context.Context) error {
	var err error
	sc := jetstream.StreamConfig{
		Name:        EventStream,
		Description: "Stafet pathway events: the single source of truth",
		Subjects:    []string{EventSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		Replicas:    s.cfg.Replicas,
		Duplicates:  s.cfg.DuplicateWindow,
		// No Direct Get: loads must see the leader's state (see LoadUpTo).
		AllowDirect: false,
		DenyDelete:  true,
		DenyPurge:   true,
	}
	if s.stream, err = createOrUpdateStream(ctx, s.js, sc); err != nil {
		return err
	}
	s.idem, err = s.bucket(ctx, IdemBucket, "source message id → first event sequence", 1)
	return err
}

// createOrUpdateStream creates or checks a stream (retrying).
func createOrUpdateStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := retrying(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, sc) })
	if err != nil {
		return nil, fmt.Errorf("engine: stream %s: %w", sc.Name, err)
	}
	return st, nil
}

// bucket creates or checks a key-value bucket (retrying).
func (s *conn) bucket(ctx context.Context, name, desc string, history uint8) (jetstream.KeyValue, error) {
	kv, err := retrying(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: name, Description: desc, History: history,
			Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("engine: bucket %s: %w", name, err)
	}
	return kv, nil
}

// retrying runs create until it succeeds: up to 20 attempts 250 ms
// apart, each within 5 s. A fresh cluster may have no meta leader yet
// (requests then get no reply), or not yet count a peer as online ("no
// suitable peers for placement"). It returns the last attempt's error.
func retrying[T any](ctx context.Context, create func(context.Context) (T, error)) (T, error) {
	var v T
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err = create(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return v, err
		}
	}
	return v, err
}

// NATS returns the NATS side of the store: the connection and the
// embedded server. Stafet's own packages go through the other handles;
// this is for wiring (where the server listens), the benchmark's raw
// JetStream side, and tests that look behind the handles.
func (s *Store) NATS() NATS { return NATS{s} }

// NATS is the store's connection and embedded server (Store.NATS).
type NATS struct{ s *Store }

// Conn returns the NATS connection.
func (n NATS) Conn() *nats.Conn { return n.s.nc }

// DataDir returns the absolute path of the embedded server's data, or ""
// when connected to an external cluster.
func (n NATS) DataDir() string {
	if n.s.ns == nil {
		return ""
	}
	dir, _ := filepath.Abs(n.s.cfg.DataDir)
	return dir
}

// ClientURL returns the embedded server's client URL, or "" when it has no
// client port.
func (n NATS) ClientURL() string {
	if n.s.ns == nil || n.s.cfg.ListenAddr == "" {
		return ""
	}
	return n.s.ns.ClientURL()
}

// Config returns the configuration with defaults filled in.
func (s *Store) Config() Config { return s.cfg }

// Close drains the connection and stops the embedded server. Everything
// acknowledged is already on disk, so Close loses nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.nc != nil && s.js != nil && s.eventLog.idem != nil {
			s.eventLog.markIndexedOnStop(context.Background())
		}
		close(s.eventLog.closing)
		if s.inbox != nil && s.nc != nil {
			s.inbox.flushReceipts()
		}
		if s.nc != nil {
			if err := s.nc.Drain(); err != nil {
				s.nc.Close()
			}
			for i := 0; i < 100 && !s.nc.IsClosed(); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if s.commit != nil {
			s.commit.stop()
			s.closeSync()
		}
		s.shutdownServer()
	})
	return nil
}

func (s *conn) shutdownServer() {
	if s.ns != nil {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	}
}

// Subject returns the subject of a pathway's events:
// stafet.ev.<cluster>.<pathway>. One literal subject per pathway keeps the
// concurrency check and the last-message lookup on JetStream's fast path;
// no personal data.
func Subject(cluster string, pathway uuid.UUID) string {
	return "stafet.ev." + cluster + "." + pathway.String()
}

// PathwayFilter is the subject filter of one pathway's events, whatever
// its cluster.
func PathwayFilter(pathway uuid.UUID) string {
	return "stafet.ev.*." + pathway.String()
}

// ClusterFilter is the subject filter of all events of one cluster.
func ClusterFilter(cluster string) string { return "stafet.ev." + cluster + ".*" }

// HeaderPrev holds, on every stored message, the sequence of the
// pathway's previous message (0 for its first). Loading a pathway follows
// these links back from its last message: a handful of lookups by
// sequence, however long the log and however interleaved its pathways,
// where a scan by subject slows down with both.
const HeaderPrev = "Stafet-Prev"

// retry runs f until it succeeds or ctx ends, backing off to 5 s: for
// start-up steps that fail while a cluster elects a leader or is busy.
// msg and attrs name the step in the warning logged at each failure.
func (s *conn) retry(ctx context.Context, msg, step string, f func() error, attrs ...any) error {
	wait := 250 * time.Millisecond
	for {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		s.log.Warn(msg, append(attrs, "step", step, "err", err, "in", wait)...)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
