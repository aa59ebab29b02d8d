package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/faulttest"
)

// After a clean stop the idempotency index is known to be complete: the
// next start does not re-read the last minutes of log, and a resent
// opening is still recognised.
func TestCleanStopSkipsIndexReconcile(t *testing.T) {
	dir := t.TempDir()
	var logs faulttest.Buffer
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

	logs.Reset()
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
