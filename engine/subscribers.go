package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// SubscriberBucket holds the subscribers' NATS users of the embedded
// server, by public key: public keys and what each may read, never a seed.
const SubscriberBucket = "stafet_subscribers"

// SubscriberRecord is a subscriber as the bucket keeps it.
type SubscriberRecord struct {
	Subscriber
	// Label says whom the user is for (an organisation id), for operators.
	Label  string    `json:"label"`
	Issued time.Time `json:"issued"`
}

// Subscribers issues and revokes the NATS users that may subscribe to
// exported subjects (alerts). On the embedded server a change takes effect
// at once: a revoked user's connections are closed. An external cluster
// reads its users from its configuration: Conf renders them for its
// subscribers.conf, and the operator reloads the servers (docs/deploy).
type Subscribers struct {
	kv      jetstream.KeyValue
	exports []string
	apply   func([]Subscriber) error // nil for an external cluster
	mu      sync.Mutex
}

// Issue creates a NATS user that may subscribe to subjects, and returns
// its seed: shown once, never stored.
func (s *Subscribers) Issue(ctx context.Context, label string, subjects []string) (seed []byte, rec SubscriberRecord, err error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, rec, err
	}
	pub, _ := kp.PublicKey()
	rec = SubscriberRecord{Subscriber: Subscriber{Key: pub, Subjects: subjects}, Label: label, Issued: time.Now().UTC()}
	if err := rec.Validate(s.exports); err != nil {
		return nil, rec, err
	}
	b, _ := json.Marshal(rec)
	if _, err := s.kv.Create(ctx, pub, b); err != nil {
		return nil, rec, fmt.Errorf("engine: issue subscriber: %w", err)
	}
	if s.apply != nil {
		if err := s.sync(ctx); err != nil {
			return nil, rec, err
		}
	}
	seed, _ = kp.Seed()
	return seed, rec, nil
}

// Revoke removes a NATS user; its open connections are closed.
func (s *Subscribers) Revoke(ctx context.Context, key string) error {
	if !nkeys.IsValidPublicUserKey(key) {
		return fmt.Errorf("engine: %q is not a public user NKey", key)
	}
	if err := s.kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("engine: revoke subscriber: %w", err)
	}
	if s.apply == nil {
		return nil
	}
	return s.sync(ctx)
}

// Live reports whether issuing and revoking take effect by themselves
// (the embedded server), or need the cluster's configuration reloaded.
func (s *Subscribers) Live() bool { return s.apply != nil }

// Conf renders the subscribers as the users of the SUBSCRIBERS account, in
// nats-server's configuration syntax: docs/deploy/subscribers.conf of an
// external cluster. The permissions are those the embedded server gives.
func (s *Subscribers) Conf(ctx context.Context) ([]byte, error) {
	recs, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("# Organisations' NATS users, from stafet token nats-conf. Copy to every\n# node and reload: nats-server --signal reload.\nusers: [\n")
	for _, r := range recs {
		if r.Validate(s.exports) != nil {
			continue
		}
		u, _ := confJSON(subscriberUser(r.Subscriber))
		fmt.Fprintf(&b, "  # %s, issued %s\n  %s\n", confComment(r.Label), r.Issued.Format(time.RFC3339), bytes.TrimSpace(u))
	}
	b.WriteString("]\n")
	return b.Bytes(), nil
}

// confComment keeps a label on its comment line.
func confComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// List returns the subscribers, oldest first.
func (s *Subscribers) List(ctx context.Context) ([]SubscriberRecord, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: list subscribers: %w", err)
	}
	var out []SubscriberRecord
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("engine: list subscribers: %w", err)
		}
		var rec SubscriberRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("engine: subscriber %s: %w", k, err)
		}
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Issued.Before(out[j].Issued) })
	return out, nil
}

// sync hands the bucket's subscribers to the server. Every change goes
// through it under one lock, so the server never gets an older list after
// a newer one.
func (s *Subscribers) sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.List(ctx)
	if err != nil {
		return err
	}
	subs := make([]Subscriber, 0, len(recs))
	for _, r := range recs {
		if r.Validate(s.exports) == nil {
			subs = append(subs, r.Subscriber)
		}
	}
	return s.apply(subs)
}

// setupSubscribers opens the bucket and, on the embedded server, loads the
// subscribers issued before this start.
func (s *Store) setupSubscribers(ctx context.Context) error {
	kv, err := s.bucket(ctx, SubscriberBucket, "NATS users that may subscribe to alerts (public keys only)", 1)
	if err != nil {
		return err
	}
	s.subs = &Subscribers{kv: kv, exports: s.cfg.Exports}
	if s.ns != nil {
		s.subs.apply = s.reloadSubscribers
		return s.subs.sync(ctx)
	}
	return nil
}

// Subscribers returns the handle that issues and revokes alert
// subscribers' NATS users.
func (s *Store) Subscribers() *Subscribers { return s.subs }

// reloadSubscribers reloads the embedded server's accounts with subs; the
// server closes the connections of users no longer present.
func (s *Store) reloadSubscribers(subs []Subscriber) error {
	opts, err := s.embeddedOptions(subs)
	if err != nil {
		return err
	}
	if err := s.ns.ReloadOptions(opts); err != nil {
		return fmt.Errorf("engine: reload NATS users: %w", err)
	}
	return nil
}
