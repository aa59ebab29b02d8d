package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/events"
)

// TestReplayOutlivesItsConsumer: when the server ends the replay
// reader's consumer mid-read (deleted here; a leader change or a restart
// in a cluster), the reader goes on from the last message it handed on
// with a new one — every message once and in order — and leaves no
// consumer behind.
func TestReplayOutlivesItsConsumer(t *testing.T) {
	defer func(n int) { pullBatch = n }(pullBatch)
	pullBatch = 20 // many pulls: the deletion lands mid-read
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, logs := openLogged(ctx, t)
	const n = 300
	for i := range n {
		c := events.Command{Pathway: events.NewID(), Actor: events.Actor{Org: "sor:6620000000001"}, OccurredAt: time.Now(),
			Payloads: []events.Payload{&events.PathwayOpened{Patient: events.PatientRef(fmt.Sprintf("p%032x", i)), Cluster: "aarhus", Municipality: "kommune:0751"}}}
		if _, err := s.Log().Execute(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deleted := 0
	var got []uint64
	done := make(chan struct{})
	stop, errc, err := s.Log().readRange(ctx, 1, func(m *nats.Msg, seq, _ uint64) {
		got = append(got, seq)
		if len(got) == 50 {
			// Mid-read: more is asked for than has arrived.
			names := s.Log().stream.ConsumerNames(ctx)
			for name := range names.Name() {
				if err := s.Log().stream.DeleteConsumer(ctx, name); err != nil {
					t.Error(err)
				}
				deleted++
			}
		}
		if len(got) == n {
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case err := <-errc:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatalf("read %d of %d messages", len(got), n)
	}
	stop()
	if deleted == 0 {
		t.Fatal("no consumer to delete mid-read: the test proves nothing")
	}
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("message %d has sequence %d; want every message once, in order", i+1, seq)
		}
	}
	if s.Log().Stats().ReaderRestarts.Load() == 0 {
		t.Error("no restart counted (stafet_replay_reader_restarts_total)")
	}
	if !strings.Contains(logs.String(), "a new consumer takes over the read") {
		t.Errorf("no new consumer took over; logs:\n%s", logs.String())
	}
	left := s.Log().stream.ConsumerNames(ctx)
	for name := range left.Name() {
		t.Errorf("consumer %s left after the read; want none", name)
	}
	if err := left.Err(); err != nil {
		t.Error(err)
	}
}

// openLogged opens a store in bulk mode, closed when t ends, whose log
// lines go to the buffer it returns.
func openLogged(ctx context.Context, t *testing.T) (*Store, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Durability: Bulk, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// syncBuffer lets the store's goroutines log into one buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
