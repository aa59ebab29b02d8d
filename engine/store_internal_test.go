package engine

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestTogether: every function runs, at once (each waits for all to have
// started), and every error comes back.
func TestTogether(t *testing.T) {
	var started atomic.Int32
	wait := func(err error) func() error {
		return func() error {
			started.Add(1)
			deadline := time.Now().Add(5 * time.Second)
			for started.Load() < 3 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if started.Load() < 3 {
				return errors.New("not run at once")
			}
			return err
		}
	}
	a, b := errors.New("a"), errors.New("b")
	err := together(wait(a), wait(nil), wait(b))
	if !errors.Is(err, a) || !errors.Is(err, b) || started.Load() != 3 {
		t.Errorf("together: %v after %d started; want a and b after 3", err, started.Load())
	}
}
