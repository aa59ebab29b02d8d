package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket is a key-value bucket of the store's own beside the event log,
// for what an adapter keeps (organisation tokens, webhook registrations):
// created with the store's replication, file storage, one revision per
// key. Get it from Store.Bucket.
type Bucket struct {
	*conn
	name string
	kv   jetstream.KeyValue
}

// ErrKeyExists is returned by Bucket.Create for a key that has a value.
var ErrKeyExists = errors.New("engine: key exists")

// Bucket creates (or checks) the bucket name and returns it.
func (s *Store) Bucket(ctx context.Context, name, description string) (*Bucket, error) {
	kv, err := s.bucket(ctx, name, description, 1)
	if err != nil {
		return nil, err
	}
	return &Bucket{conn: s.conn, name: name, kv: kv}, nil
}

// Get returns a key's value; ok is false if it has none.
func (b *Bucket) Get(ctx context.Context, key string) (value []byte, ok bool, err error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return e.Value(), true, nil
}

// Create sets a key that has no value; ErrKeyExists if it has one. It
// returns once the server has stored the value; it is on disk once a
// Commit begun after that returns.
func (b *Bucket) Create(ctx context.Context, key string, value []byte) error {
	_, err := b.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return ErrKeyExists
	}
	if err != nil {
		return fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return nil
}

// Put sets a key's value (on disk as Create's).
func (b *Bucket) Put(ctx context.Context, key string, value []byte) error {
	if _, err := b.kv.Put(ctx, key, value); err != nil {
		return fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return nil
}

// Purge removes a key and every revision of it.
func (b *Bucket) Purge(ctx context.Context, key string) error {
	if err := b.kv.Purge(ctx, key); err != nil {
		return fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return nil
}

// Keys lists the keys that have a value.
func (b *Bucket) Keys(ctx context.Context) ([]string, error) {
	lister, err := b.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	var out []string
	for k := range lister.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// Change is a key's new value, or its removal, as Watch reports it.
type Change struct {
	Key     string
	Value   []byte
	Removed bool
}

// Watch calls fn with every key's value, then with every change, on any
// instance, until ctx ends; it returns then, or when the watch fails.
// fn runs on Watch's goroutine, in order.
func (b *Bucket) Watch(ctx context.Context, fn func(Change)) error {
	w, err := b.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("engine: watch bucket %s: %w", b.name, err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("engine: watch bucket %s: ended", b.name)
			}
			if u == nil {
				continue // the values at the start are all in
			}
			fn(Change{Key: u.Key(), Value: u.Value(), Removed: u.Operation() != jetstream.KeyValuePut})
		}
	}
}

// Entry returns a key's value with its revision, for Update; ok is false
// if it has none.
func (b *Bucket) Entry(ctx context.Context, key string) (value []byte, revision uint64, ok bool, err error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return e.Value(), e.Revision(), true, nil
}

// Update sets a key's value if it is still at revision (0: the key has
// no value), a compare-and-set; else ErrConflict: read it again (Entry)
// and retry.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, revision uint64) error {
	var err error
	if revision == 0 {
		_, err = b.kv.Create(ctx, key, value)
	} else {
		_, err = b.kv.Update(ctx, key, value, revision)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("%w: bucket %s key %s", ErrConflict, b.name, key)
	case err != nil:
		return fmt.Errorf("engine: bucket %s: %w", b.name, err)
	}
	return nil
}
