package alerts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stafet/stafet/engine"

	"github.com/stafet/stafet/events"
)

var (
	// ErrNoWebhook is returned for a webhook that does not exist, or that
	// belongs to another organisation.
	ErrNoWebhook = errors.New("alerts: no such webhook")
	// ErrTooManyWebhooks is returned when an organisation already has
	// Config.MaxWebhooks webhooks.
	ErrTooManyWebhooks = errors.New("alerts: too many webhooks for this organisation")
)

// Webhook is a registered receiver of one organisation's alerts. Its
// secret is shown once, by Register.
type Webhook struct {
	ID      string       `json:"id"`
	Org     events.OrgID `json:"org"`
	URL     string       `json:"url"`
	Created time.Time    `json:"created"`
	HookOptions
}

// HookOptions are what a registration may ask for beyond its URL. The
// zero value is a plain webhook: every alert of the organisation, as the
// Alert JSON.
type HookOptions struct {
	// Kinds, when set, are the only kinds delivered.
	Kinds []Kind `json:"kinds,omitempty"`
	// Format names the Formatter (Config.Formats) that writes the
	// deliveries; "" is the Alert JSON. A formatted webhook gets its
	// alerts one at a time, in order, numbered 1, 2, 3, … per webhook.
	Format string `json:"format,omitempty"`
	// Settings are the format's own, kept with the registration (a FHIR
	// subscription's topic and payload content).
	Settings json.RawMessage `json:"settings,omitempty"`
}

// webhookRecord is a webhook as kept in WebhookBucket: the secret sealed
// with a key derived from the deployment secret, bound to the webhook id.
type webhookRecord struct {
	Webhook
	Secret []byte `json:"secret"`
}

func consumerName(id string) string { return "webhook-" + id }

// Register adds a webhook for org's alerts from now on and returns it with
// its signing secret, which is not shown again. The url must be https (or,
// with Config.AllowLoopback, http to a loopback address).
func (s *Service) Register(ctx context.Context, org events.OrgID, rawURL string) (Webhook, string, error) {
	return s.RegisterWith(ctx, org, rawURL, HookOptions{})
}

// RegisterWith is Register with options: the kinds delivered and the
// format they are written in.
func (s *Service) RegisterWith(ctx context.Context, org events.OrgID, rawURL string, opts HookOptions) (Webhook, string, error) {
	if err := org.Validate(); err != nil {
		var ve *events.ValidationError
		errors.As(err, &ve)
		reason := err.Error()
		if ve != nil {
			reason = ve.Reason
		}
		return Webhook{}, "", &events.ValidationError{Field: "org", Reason: reason}
	}
	if err := s.checkURL(ctx, rawURL); err != nil {
		return Webhook{}, "", err
	}
	for _, k := range opts.Kinds {
		if !k.valid() {
			return Webhook{}, "", &events.ValidationError{Field: "kinds", Reason: "unknown alert kind " + string(k)}
		}
	}
	inFlight := s.cfg.WebhookInFlight
	if opts.Format != "" {
		if s.cfg.Formats[opts.Format] == nil {
			return Webhook{}, "", &events.ValidationError{Field: "format", Reason: "unknown format " + opts.Format}
		}
		inFlight = 1 // numbered in order
	}
	have, err := s.List(ctx, org)
	if err != nil {
		return Webhook{}, "", err
	}
	if len(have) >= s.cfg.MaxWebhooks {
		return Webhook{}, "", ErrTooManyWebhooks
	}
	key := make([]byte, 32)
	rand.Read(key)
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(key)
	w := Webhook{ID: events.NewID().String(), Org: org, URL: rawURL, Created: time.Now().UTC().Truncate(time.Second), HookOptions: opts}
	rec, err := s.sealRecord(w, secret)
	if err != nil {
		return Webhook{}, "", err
	}
	// The consumer first: it starts at the next alert, and exists before
	// any instance's watcher sees the registration.
	err = s.stream.AddConsumer(ctx, engine.ConsumerConfig{
		Name:        consumerName(w.ID),
		Description: "webhook of " + string(org),
		Filters:     storedFilters(org, false, opts.Kinds),
		// Longer than a request, so an alert is redelivered only when the
		// instance delivering it went away.
		AckWait:     s.cfg.WebhookTimeout + 20*time.Second,
		MaxInFlight: inFlight,
	})
	if err != nil {
		return Webhook{}, "", fmt.Errorf("alerts: webhook consumer: %w", err)
	}
	if err := s.hooks.Create(ctx, w.ID, rec); err != nil {
		s.stream.RemoveConsumer(context.WithoutCancel(ctx), consumerName(w.ID))
		return Webhook{}, "", fmt.Errorf("alerts: register webhook: %w", err)
	}
	if err := s.store.Commit(ctx); err != nil {
		return Webhook{}, "", fmt.Errorf("alerts: register webhook: %w", err)
	}
	s.log.Info("webhook registered", "webhook", w.ID, "org", org)
	return w, secret, nil
}

// Hook returns one of org's webhooks; org "" may read any (for the
// operator). Another organisation's webhook is ErrNoWebhook.
func (s *Service) Hook(ctx context.Context, org events.OrgID, id string) (Webhook, error) {
	rec, err := s.record(ctx, id)
	if err != nil {
		return Webhook{}, err
	}
	if org != "" && rec.Org != org {
		return Webhook{}, ErrNoWebhook
	}
	return rec.Webhook, nil
}

// List returns org's webhooks, oldest first; org "" lists every
// organisation's (for the operator).
func (s *Service) List(ctx context.Context, org events.OrgID) ([]Webhook, error) {
	keys, err := s.hooks.Keys(ctx)
	if err != nil {
		return nil, fmt.Errorf("alerts: list webhooks: %w", err)
	}
	var out []Webhook
	for _, k := range keys {
		rec, err := s.record(ctx, k)
		if errors.Is(err, ErrNoWebhook) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if org == "" || rec.Org == org {
			out = append(out, rec.Webhook)
		}
	}
	slices.SortFunc(out, func(a, b Webhook) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Delete removes one of org's webhooks and its pending deliveries; org ""
// may delete any (for the operator). Another organisation's webhook is
// ErrNoWebhook, as if it did not exist.
func (s *Service) Delete(ctx context.Context, org events.OrgID, id string) error {
	rec, err := s.record(ctx, id)
	if err != nil {
		return err
	}
	if org != "" && rec.Org != org {
		return ErrNoWebhook
	}
	if err := s.hooks.Purge(ctx, id); err != nil {
		return fmt.Errorf("alerts: delete webhook: %w", err)
	}
	if err := s.stream.RemoveConsumer(ctx, consumerName(id)); err != nil {
		return fmt.Errorf("alerts: delete webhook consumer: %w", err)
	}
	if err := s.counters.Purge(ctx, id); err != nil {
		return fmt.Errorf("alerts: delete webhook counter: %w", err)
	}
	s.log.Info("webhook deleted", "webhook", id, "org", rec.Org)
	return nil
}

func (s *Service) record(ctx context.Context, id string) (webhookRecord, error) {
	if !validID(id) {
		return webhookRecord{}, ErrNoWebhook
	}
	v, ok, err := s.hooks.Get(ctx, id)
	if err != nil {
		return webhookRecord{}, fmt.Errorf("alerts: webhook %s: %w", id, err)
	}
	if !ok {
		return webhookRecord{}, ErrNoWebhook
	}
	return decodeRecord(v)
}

func decodeRecord(b []byte) (webhookRecord, error) {
	var rec webhookRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return webhookRecord{}, fmt.Errorf("alerts: webhook record: %w", err)
	}
	return rec, nil
}

// validID accepts the shape of the ids Register makes (a UUID), which
// are also safe as KV keys and consumer names.
func validID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-') {
			return false
		}
	}
	return true
}

// checkURL accepts https URLs, and http to loopback when AllowLoopback,
// whose host the egress policy allows (egress.go). Where the name
// resolves is checked again at every connection.
func (s *Service) checkURL(ctx context.Context, raw string) error {
	bad := func(reason string) error { return &events.ValidationError{Field: "url", Reason: reason} }
	if len(raw) > 2048 {
		return bad("longer than 2048 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return bad("want an absolute https URL")
	}
	if u.User != nil {
		return bad("must not hold credentials; verify the Stafet-Signature header instead")
	}
	if u.Fragment != "" {
		return bad("must not have a fragment")
	}
	policy := s.cfg.egress()
	if err := policy.checkRegistration(ctx, u.Hostname()); err != nil {
		return bad(strings.TrimPrefix(err.Error(), "alerts: "))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.cfg.AllowLoopback && isLoopbackHost(u.Hostname()):
	default:
		return bad("want https")
	}
	return nil
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// sealers are the AEADs of webhook secrets: the current one, under the
// alert service's own data key from the Vault (wrapped under the KEK,
// rotated with it), and the one of earlier releases, derived from the
// pseudonym secret, which now only reads records not yet moved
// (migrateSecrets). A copy of the bucket alone cannot sign alerts.
func sealers(ctx context.Context, store *engine.Store) (current, legacy cipher.AEAD, err error) {
	key, err := store.Vault().ServiceKey(ctx, webhookKeyName)
	if err != nil {
		return nil, nil, fmt.Errorf("alerts: the webhook secrets' key: %w", err)
	}
	if current, err = aead(key); err != nil {
		return nil, nil, err
	}
	if secret := store.Config().Secret; len(secret) > 0 {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("stafet/alerts/webhook-secrets/v1"))
		if legacy, err = aead(mac.Sum(nil)); err != nil {
			return nil, nil, err
		}
	}
	return current, legacy, nil
}

// webhookKeyName names the alert service's data key (engine.Vault.ServiceKey).
const webhookKeyName = "webhooks"

func aead(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("alerts: sealer: %w", err)
	}
	return cipher.NewGCM(block)
}

// migrateSecrets re-seals, under the current key, every webhook secret an
// earlier release sealed under the pseudonym secret, so that the
// pseudonym secret keys nothing but pseudonyms. A record changed or
// deleted meanwhile is left to the next start.
func (s *Service) migrateSecrets(ctx context.Context) error {
	keys, err := s.hooks.Keys(ctx)
	if err != nil {
		return fmt.Errorf("alerts: webhook secrets: %w", err)
	}
	for _, k := range keys {
		v, rev, ok, err := s.hooks.Entry(ctx, k)
		if err != nil || !ok {
			continue
		}
		rec, err := decodeRecord(v)
		if err != nil || s.openWith(s.seal, rec) == nil {
			continue
		}
		secret, err := s.openSecret(rec)
		if err != nil {
			s.log.Warn("webhook secret unreadable; the webhook cannot sign until it is registered again", "webhook", rec.ID)
			continue
		}
		b, err := s.sealRecord(rec.Webhook, string(secret))
		if err != nil {
			return err
		}
		if err := s.hooks.Update(ctx, k, b, rev); err == nil {
			s.log.Info("webhook secret moved to the alert service's own key", "webhook", rec.ID)
		}
	}
	return nil
}

func (s *Service) sealRecord(w Webhook, secret string) ([]byte, error) {
	nonce := make([]byte, s.seal.NonceSize())
	rand.Read(nonce)
	sealed := s.seal.Seal(nonce, nonce, []byte(secret), []byte(w.ID))
	return json.Marshal(webhookRecord{Webhook: w, Secret: sealed})
}

func (s *Service) openSecret(rec webhookRecord) ([]byte, error) {
	secret, err := s.open(s.seal, rec)
	if err != nil && s.legacy != nil {
		if old, lerr := s.open(s.legacy, rec); lerr == nil {
			return old, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("alerts: webhook secret of %s: %w", rec.ID, err)
	}
	return secret, nil
}

// openWith reports whether gcm opens rec's secret.
func (s *Service) openWith(gcm cipher.AEAD, rec webhookRecord) error {
	_, err := s.open(gcm, rec)
	return err
}

func (s *Service) open(gcm cipher.AEAD, rec webhookRecord) ([]byte, error) {
	n := gcm.NonceSize()
	if len(rec.Secret) < n {
		return nil, errors.New("too short")
	}
	return gcm.Open(nil, rec.Secret[:n], rec.Secret[n:], []byte(rec.ID))
}
