package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/stafet/stafet/internal/ratelimit"
)

func TestKeyed(t *testing.T) {
	t.Run("a key over its burst is refused, with the wait", func(t *testing.T) {
		k := ratelimit.New(1, 3)
		for i := range 3 {
			if ok, _ := k.Allow("a", 1); !ok {
				t.Fatalf("token %d refused within the burst", i+1)
			}
		}
		ok, wait := k.Allow("a", 1)
		if ok || wait <= 0 || wait > time.Second {
			t.Errorf("fourth: %v, wait %v; want refused, about 1 s", ok, wait)
		}
		if ok, _ := k.Allow("b", 1); !ok {
			t.Error("another key refused: keys share no bucket")
		}
	})
	t.Run("more than the burst at once counts as the burst", func(t *testing.T) {
		k := ratelimit.New(1, 10)
		if ok, _ := k.Allow("a", 1000); !ok {
			t.Error("a full bucket refused a big take")
		}
		if ok, _ := k.Allow("a", 1); ok {
			t.Error("an empty bucket allowed a take")
		}
	})
	t.Run("wait paces a key", func(t *testing.T) {
		k := ratelimit.New(20, 1)
		start := time.Now()
		for range 5 {
			if err := k.Wait(context.Background(), "a"); err != nil {
				t.Fatal(err)
			}
		}
		if took := time.Since(start); took < 150*time.Millisecond {
			t.Errorf("5 tokens at 20/s with a burst of 1 took %v; want ≥ 200 ms", took)
		}
	})
}
