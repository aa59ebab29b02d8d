package engine_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// syncBuffer is a log sink safe for the store's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// After a clean stop the idempotency index is known to be complete: the
// next start does not re-read the last minutes of log, and a resent
// opening is still recognised.
func TestCleanStopSkipsIndexReconcile(t *testing.T) {
	dir := t.TempDir()
	var logs syncBuffer
	cfg := engine.Config{DataDir: dir, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	ctx := context.Background()
	s := openStore(t, cfg)
	var opens []events.Command
	for i := 0; i < 20; i++ {
		c := cmd(events.NewID(), hospital, t0, &events.PathwayOpened{Patient: patient(t, "0102030405"), Cluster: "aarhus", Municipality: aarhus})
		c.Source = events.Source{System: "hl7v2", Org: hospital, MessageID: "A01-" + c.Pathway.String()}
		if _, err := s.Log().Execute(ctx, c); err != nil {
			t.Fatal(err)
		}
		opens = append(opens, c)
	}
	s.Close()

	logs.mu.Lock()
	logs.b.Reset()
	logs.mu.Unlock()
	s = openStore(t, cfg)
	if out := logs.String(); !strings.Contains(out, "idempotency index up to date") || strings.Contains(out, "idempotency index reconciled") {
		t.Errorf("start after a clean stop re-read the log:\n%s", out)
	}
	for _, c := range opens {
		res, err := s.Log().Execute(ctx, c)
		if err != nil || !res.Duplicate {
			t.Fatalf("resent opening: got %+v, %v; want a duplicate", res, err)
		}
	}
}
