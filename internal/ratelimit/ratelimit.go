package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Keyed is a token bucket per key: Per tokens a second, up to Burst.
type Keyed struct {
	per   rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

// New returns buckets filling at per tokens a second, holding burst.
func New(per float64, burst int) *Keyed {
	return &Keyed{per: rate.Limit(per), burst: burst, buckets: make(map[string]*bucket)}
}

// forgetAfter: a key unused this long, and full again, is forgotten, so
// many passing senders do not grow the map for ever.
const forgetAfter = 10 * time.Minute

func (k *Keyed) bucket(key string, now time.Time) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= 1024 {
			k.forget(now)
		}
		b = &bucket{lim: rate.NewLimiter(k.per, k.burst)}
		k.buckets[key] = b
	}
	b.used = now
	return b.lim
}

func (k *Keyed) forget(now time.Time) {
	for key, b := range k.buckets {
		if now.Sub(b.used) > forgetAfter && b.lim.TokensAt(now) >= float64(k.burst) {
			delete(k.buckets, key)
		}
	}
}

// Allow takes n tokens from key's bucket if it has them (n above the
// burst counts as the burst); false, and the wait until it would have
// them, if not.
func (k *Keyed) Allow(key string, n int) (bool, time.Duration) {
	if k == nil {
		return true, 0
	}
	now := time.Now()
	r := k.bucket(key, now).ReserveN(now, min(n, k.burst))
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Wait takes one token from key's bucket, waiting for it as long as ctx
// lets it.
func (k *Keyed) Wait(ctx context.Context, key string) error {
	if k == nil {
		return nil
	}
	return k.bucket(key, time.Now()).Wait(ctx)
}
