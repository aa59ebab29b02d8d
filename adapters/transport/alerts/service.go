package alerts

import (
	"cmp"
	"context"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// Names of what the alert service keeps in JetStream (docs/alerts.md).
const (
	// Stream holds every alert for Retention.
	Stream = "STAFET_ALERTS"
	// WebhookBucket is the KV bucket of webhook registrations.
	WebhookBucket = "stafet_webhooks"
	// CounterBucket numbers the deliveries of formatted webhooks.
	CounterBucket = "stafet_webhook_counters"
	// Reactor is the engine's durable consumer that turns events into
	// alerts, shared by every instance.
	Reactor = "stafet-alerts"
	// SubjectPrefix starts the subjects NATS subscribers see:
	// stafet.alert.<cluster>.<org-token>.<kind>.
	SubjectPrefix = "stafet.alert"
	// StoredPrefix starts the subjects the stream stores alerts under:
	// stafet.alertlog.<cluster>.<org-token>.<kind>. The stream republishes
	// each stored alert on the SubjectPrefix subject, so a plain subscriber
	// sees an alert once it is stored, and never a publish the stream
	// refused or de-duplicated.
	StoredPrefix = "stafet.alertlog"
)

// Subject returns the subject NATS subscribers see an alert on.
func Subject(cluster string, org events.OrgID, kind Kind) string {
	return SubjectPrefix + "." + cluster + "." + org.Token() + "." + string(kind)
}

// Exports are the subjects stafetd's NATS account exports to the
// subscribers' account (engine.Config.Exports): the alerts, and nothing
// else.
var Exports = []string{SubjectPrefix + ".>"}

// OrgFilter is the subject filter of one organisation's alerts, for a
// NATS subscriber: stafet.alert.*.<org-token>.>.
func OrgFilter(org events.OrgID) string { return SubjectPrefix + ".*." + org.Token() + ".>" }

func storedSubject(a *Alert) string {
	cluster := a.Cluster
	if events.ValidateClusterID(cluster) != nil {
		cluster = "none"
	}
	return StoredPrefix + "." + cluster + "." + a.Org.Token() + "." + string(a.Kind)
}

// storedFilters selects stored alerts of one organisation (all: every
// organisation) and of the given kinds (none: every kind).
func storedFilters(org events.OrgID, all bool, kinds []Kind) []string {
	tok := "*"
	if !all {
		tok = org.Token()
	}
	if len(kinds) == 0 {
		return []string{StoredPrefix + ".*." + tok + ".*"}
	}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = StoredPrefix + ".*." + tok + "." + string(k)
	}
	return out
}

// Header names on stored alerts.
const (
	hdrCounter = "Stafet-Counter"
	hdrMsgID   = "Nats-Msg-Id"
)

// Config configures a Service. Only Store is required; the zero value of
// every other field means its default.
type Config struct {
	// Store is the event store; its NATS connection carries the alerts.
	Store *engine.Store
	// Views folds a pathway's history into its gaps. Default: the default
	// rules (projections.DefaultRules). Give the deployment's rules, e.g.
	// a *projections.Gaps made from them; only its rules are read, so it
	// should not be the Set a host is folding into.
	Views Viewer
	// Directory, when set, publishes each alert under the body its pathway
	// belongs to at the alert's valid time (events.Directory.BodyOf): from
	// 2027-01-01 a pathway opened in a 2026 cluster alerts under the
	// sundhedsråd of its patient's municipality, so a subscriber for one
	// sundhedsråd gets exactly its alerts. Nil: the body the pathway was
	// opened in.
	Directory *events.Directory
	// Logger receives the service's logs; nil discards them. Log lines
	// name webhooks by id and organisations by code, never a URL.
	Logger *slog.Logger
	// Registerer receives the alert metrics; nil keeps them private.
	Registerer prometheus.Registerer
	// Retention is how long the stream keeps alerts, and so how far back
	// an SSE client can resume. Default 30 days.
	Retention time.Duration
	// DuplicateWindow is the stream's de-duplication window. It must
	// outlast the reactor's redeliveries of an event (about 13 minutes);
	// default 20 minutes.
	DuplicateWindow time.Duration
	// Heartbeat is the interval of SSE comment heartbeats. Default 15 s.
	Heartbeat time.Duration
	// WebhookTimeout bounds one webhook request. Default 10 s.
	WebhookTimeout time.Duration
	// WebhookInFlight bounds the requests in flight to one webhook (across
	// instances). Default 4.
	WebhookInFlight int
	// WebhookBackoff is the delay before each retry of a failed delivery;
	// the last repeats. Default 1s, 5s, 30s, 2m, 10m.
	WebhookBackoff []time.Duration
	// WebhookRetryFor is how long a failing delivery is retried, counted
	// from when the alert was stored; then it is dropped and counted as
	// expired. Default 24 hours.
	WebhookRetryFor time.Duration
	// HistoryCache is how many recently active pathways' histories are
	// kept in memory, so that most events need no load. Default 4096.
	HistoryCache int
	// MaxWebhooks bounds the webhooks of one organisation. Default 10.
	MaxWebhooks int
	// AllowLoopback lets webhooks point at loopback addresses, over plain
	// http. For tests and single-host trials; otherwise webhooks need https
	// and a non-loopback, non-link-local address.
	AllowLoopback bool
	// WebhookProxy, when set, is the HTTP proxy webhooks go through. The
	// proxy in the environment (HTTPS_PROXY) is never used: only the
	// proxy's address would be checked, not the receivers'.
	WebhookProxy *url.URL
	// Resolver resolves webhook host names. Default: net.DefaultResolver.
	Resolver *net.Resolver
	// Formats are the delivery formats webhooks may be registered with
	// besides the Alert JSON, by name (HookOptions.Format): the FHIR
	// facade's subscription notifications.
	Formats map[string]Formatter
}

// egress is the policy webhooks are held to (egress.go).
func (c Config) egress() egress {
	r := c.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	return egress{allowLoopback: c.AllowLoopback, resolver: r}
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Retention == 0 {
		c.Retention = 30 * 24 * time.Hour
	}
	if c.DuplicateWindow == 0 {
		c.DuplicateWindow = 20 * time.Minute
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = 10 * time.Second
	}
	if c.WebhookInFlight == 0 {
		c.WebhookInFlight = 4
	}
	if len(c.WebhookBackoff) == 0 {
		c.WebhookBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute}
	}
	if c.WebhookRetryFor == 0 {
		c.WebhookRetryFor = 24 * time.Hour
	}
	if c.MaxWebhooks == 0 {
		c.MaxWebhooks = 10
	}
	if c.HistoryCache == 0 {
		c.HistoryCache = 4096
	}
	return c
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case c.Store == nil:
		return errors.New("alerts: config needs the event store")
	case d.Retention < time.Minute:
		return errors.New("alerts: retention must be at least a minute")
	case d.DuplicateWindow < time.Second || d.DuplicateWindow > d.Retention:
		return errors.New("alerts: duplicate window must be between 1s and the retention")
	case d.Heartbeat < 0 || d.WebhookTimeout < 0 || d.WebhookRetryFor < 0:
		return errors.New("alerts: durations must not be negative")
	case d.WebhookInFlight < 1 || d.WebhookInFlight > 256:
		return errors.New("alerts: webhook in-flight bound must be 1 to 256")
	case d.MaxWebhooks < 1:
		return errors.New("alerts: max webhooks must be at least 1")
	case d.HistoryCache < 1:
		return errors.New("alerts: history cache must hold at least one pathway")
	}
	for _, b := range d.WebhookBackoff {
		if b <= 0 {
			return errors.New("alerts: webhook backoff delays must be positive")
		}
	}
	return nil
}

// Service makes alerts from the event log and delivers them.
type Service struct {
	cfg    Config
	store  *engine.Store
	stream *engine.Journal
	hooks  *engine.Bucket
	// counters number the deliveries of formatted webhooks (format.go).
	counters *engine.Bucket
	// seal seals webhook secrets; legacy opens those of earlier releases
	// (sealers).
	seal, legacy cipher.AEAD
	views        Viewer
	dir          *events.Directory
	log          *slog.Logger
	m            *metrics
	client       *http.Client
	hist         *histories

	mu   sync.Mutex
	last map[events.OrgID]position // the last alert this instance stored per addressee
	// turns serialise this instance's publishes to one addressee
	// (publishOne): its reactor workers would otherwise race each other
	// for the addressee's next number, and the loser pays a refused
	// write, a read and a back-off (2 % of the bench's alerts, its
	// p99). One lock per addressee, so that no addressee waits for
	// another's; there are as many as the directory has organisations
	// alerted. Instances still settle between themselves with the
	// expected-sequence check.
	turns map[events.OrgID]*sync.Mutex
}

// position is where an organisation's last alert stands: its stream
// sequence and its counter.
type position struct{ seq, counter uint64 }

// New creates or updates the alert stream and the webhook bucket and
// returns the service. Start it with Run.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.Views == nil {
		g, err := projections.NewGaps(projections.DefaultRules())
		if err != nil {
			return nil, fmt.Errorf("alerts: default rules: %w", err)
		}
		cfg.Views = g
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	seal, legacy, err := sealers(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, store: cfg.Store, seal: seal, legacy: legacy,
		views: cfg.Views, dir: cfg.Directory, log: cfg.Logger, m: m, client: webhookClient(cfg), last: make(map[events.OrgID]position), turns: make(map[events.OrgID]*sync.Mutex),
		hist: newHistories(cfg.HistoryCache),
	}
	s.stream, err = cfg.Store.Journal(ctx, engine.JournalConfig{
		Name:        Stream,
		Description: "Stafet handoff alerts, one per addressee; republished for plain NATS subscribers",
		Subjects:    []string{StoredPrefix + ".>"},
		MaxAge:      cfg.Retention,
		Duplicates:  cfg.DuplicateWindow,
		Republish: &engine.Republish{
			Source:      StoredPrefix + ".*.*.*",
			Destination: SubjectPrefix + ".{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: stream %s: %w", Stream, err)
	}
	if s.hooks, err = cfg.Store.Bucket(ctx, WebhookBucket, "webhook registrations (secrets sealed)"); err != nil {
		return nil, fmt.Errorf("alerts: bucket %s: %w", WebhookBucket, err)
	}
	if s.counters, err = cfg.Store.Bucket(ctx, CounterBucket, "event numbers of formatted webhooks"); err != nil {
		return nil, fmt.Errorf("alerts: bucket %s: %w", CounterBucket, err)
	}
	if err := s.migrateSecrets(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// reactorWorkers is how many events an instance turns into alerts at
// once (engine.ReactOptions.Workers: a pathway's events stay in order).
// On a cluster each stored alert waits for a Raft round; one at a time,
// a burst of a thousand events a second queued for seconds (the bench's
// cluster phase).
const reactorWorkers = 8

// Run makes alerts from new events and delivers webhooks until ctx ends.
// Every instance may run it: the events are shared out among the
// instances through one durable consumer, and so are each webhook's
// deliveries.
func (s *Service) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	parts := []func(context.Context) error{
		func(ctx context.Context) error { return s.hist.tail(ctx, s.store.Log()) },
		func(ctx context.Context) error {
			return s.store.Reactors().React(ctx, Reactor, s.handle, engine.ReactOptions{FromNow: true, Workers: reactorWorkers})
		},
		s.runWebhooks,
	}
	errc := make(chan error, len(parts))
	for _, run := range parts {
		go func() { errc <- run(ctx) }()
	}
	err := <-errc
	cancel()
	for range len(parts) - 1 {
		err = errors.Join(err, <-errc)
	}
	if parent.Err() != nil {
		// Stopping: a part that was setting up when the context ended
		// says so (context canceled); nothing failed.
		return nil
	}
	return err
}

// handle turns one event into its alerts and stores them. It is
// idempotent: the same event gives alerts with the same ids, which the
// stream takes once.
func (s *Service) handle(ctx context.Context, e events.Envelope) error {
	if e.Type == events.TypePathwayOpened {
		return nil
	}
	history, ok := s.hist.upTo(e.Pathway, e.Seq, time.Second)
	if !ok {
		s.m.loads.Inc()
		loaded, err := s.store.Log().LoadUpTo(ctx, e.Pathway, e.Seq)
		if err != nil {
			return err
		}
		s.hist.loaded(e.Pathway, loaded)
		history = loaded
		// The pathway as Stafet knew it when e was recorded, whatever
		// LoadUpTo returns beyond it.
		for len(history) > 0 && history[len(history)-1].Seq > e.Seq {
			history = history[:len(history)-1]
		}
	}
	if len(history) == 0 || history[len(history)-1].Seq != e.Seq {
		// A replica that has not caught up yet; the reactor retries.
		return fmt.Errorf("alerts: event %d not readable yet", e.Seq)
	}
	return s.publish(ctx, InBody(s.dir, Derive(s.views, history), history))
}

// InBody sets each alert's Cluster to the body its pathway belongs to at
// the alert's valid time (Config.Directory); a nil directory changes
// nothing.
func InBody(d *events.Directory, alerts []Alert, history []events.Envelope) []Alert {
	if d == nil {
		return alerts
	}
	var municipality events.OrgID
	for i := range history {
		switch p := history[i].Payload.(type) {
		case *events.PathwayOpened:
			municipality = cmp.Or(p.Municipality, municipality)
		case *events.PatientAdmitted:
			municipality = cmp.Or(municipality, p.Notified)
		}
	}
	for i := range alerts {
		alerts[i].Cluster = d.BodyOf(alerts[i].Cluster, municipality, alerts[i].OccurredAt)
	}
	return alerts
}

// publish stores alerts. Each addressee's alerts are numbered without
// holes: an alert is written only if the addressee's last alert is still
// the one its counter follows (an expected-last-sequence check on the
// addressee's subjects), so instances publishing at once cannot take the
// same number. The alert id de-duplicates a second handling of an event.
func (s *Service) publish(ctx context.Context, alerts []Alert) error {
	for i := range alerts {
		if err := s.publishOne(ctx, &alerts[i]); err != nil {
			return err
		}
	}
	return nil
}

const maxPublishAttempts = 16

func (s *Service) publishOne(ctx context.Context, a *Alert) error {
	turn := s.turn(a.Org)
	turn.Lock()
	defer turn.Unlock()
	filter := StoredPrefix + ".*." + a.Org.Token() + ".*"
	var lastErr error
	for attempt := 0; attempt < maxPublishAttempts; attempt++ {
		pos, err := s.position(ctx, a.Org, filter)
		if err != nil {
			return err
		}
		a.Counter = pos.counter + 1
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("alerts: encode: %w", err)
		}
		rec := engine.Record{Subject: storedSubject(a), Data: data, MsgID: a.ID,
			Header: map[string]string{hdrCounter: strconv.FormatUint(a.Counter, 10)}}
		ack, err := s.stream.AppendAfter(ctx, rec, filter, pos.seq)
		if errors.Is(err, engine.ErrConflict) {
			// Another instance wrote to this addressee, or this is a
			// retried publish that landed: read the position again.
			s.forget(a.Org)
			s.m.conflicts.Inc()
			lastErr = err
			time.Sleep(time.Duration(attempt) * 2 * time.Millisecond)
			continue
		}
		if err != nil {
			s.forget(a.Org)
			return fmt.Errorf("alerts: publish: %w", err)
		}
		if ack.Duplicate {
			s.forget(a.Org)
			return nil
		}
		s.remember(a.Org, position{seq: ack.Seq, counter: a.Counter})
		s.m.published.WithLabelValues(string(a.Kind)).Inc()
		if !a.RecordedAt.IsZero() {
			s.m.delay.Observe(time.Since(a.RecordedAt).Seconds())
		}
		return nil
	}
	return fmt.Errorf("alerts: publish gave up after %d attempts: %w", maxPublishAttempts, lastErr)
}

// turn is the lock that orders this instance's publishes to org.
func (s *Service) turn(org events.OrgID) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.turns[org]
	if !ok {
		t = new(sync.Mutex)
		s.turns[org] = t
	}
	return t
}

func (s *Service) forget(org events.OrgID) {
	s.mu.Lock()
	delete(s.last, org)
	s.mu.Unlock()
}

func (s *Service) remember(org events.OrgID, p position) {
	s.mu.Lock()
	s.last[org] = p
	s.mu.Unlock()
}

// position returns where the addressee's last alert stands, from memory
// or from the stream (the last message on its subjects).
func (s *Service) position(ctx context.Context, org events.OrgID, filter string) (position, error) {
	s.mu.Lock()
	p, ok := s.last[org]
	s.mu.Unlock()
	if ok {
		return p, nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
	}
	last, ok, err := s.stream.Last(ctx, filter)
	if err != nil || !ok {
		if err != nil {
			err = fmt.Errorf("alerts: last alert of %s: %w", org, err)
		}
		return position{}, err
	}
	counter, err := strconv.ParseUint(last.Header[hdrCounter], 10, 64)
	if err != nil {
		return position{}, fmt.Errorf("alerts: last alert of %s: %w", org, err)
	}
	return position{seq: last.Seq, counter: counter}, nil
}

// kindOf returns the kind token of a stored or republished subject.
func kindOf(subject string) Kind {
	return Kind(subject[strings.LastIndexByte(subject, '.')+1:])
}

// BrokeGlass alerts every party of a pathway that an organisation without
// a current or recent care relationship read it, giving a reason
// (httpapi.Server.ReadPathway): the Danish access-logging rules expect
// those responsible for the patient to hear of such reads. It returns once
// the alerts are stored. The alerts' ids derive from the access record,
// so a retried call stores them once.
func (s *Service) BrokeGlass(ctx context.Context, history []events.Envelope, rec engine.AccessRecord) error {
	if len(history) == 0 {
		return nil
	}
	last := &history[len(history)-1]
	var out []Alert
	for _, org := range events.Parties(history) {
		if string(org) == rec.Reader {
			continue
		}
		about := rec.Reader + "|" + rec.What + "|" + rec.At.Format(time.RFC3339Nano)
		out = append(out, Alert{
			ID: alertID(rec.Pathway, BrokeGlass, org, about), Kind: BrokeGlass, Cluster: clusterOf(history), Org: org,
			Pathway: rec.Pathway, Access: &AccessInfo{Org: events.OrgID(rec.Reader), What: rec.What, Reason: rec.Reason},
			EventID: last.ID, EventType: last.Type, EventSeq: last.Seq,
			OccurredAt: rec.At, RecordedAt: rec.At,
		})
	}
	return s.publish(ctx, InBody(s.dir, out, history))
}
