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

	"github.com/stafet/stafet/events"
)

// TestReplayOutlivesItsConsumer: when the server ends the replay's
// consumer mid-read (deleted here; a leader change or a restart in a
// cluster), the reader goes on from the last message it handed on with a
// new one — every event once and in order — and leaves no consumer
// behind.
func TestReplayOutlivesItsConsumer(t *testing.T) {
	defer func(n int) { pullBatch = n }(pullBatch)
	// Many pulls and the applier a batch behind the reader: the deletion
	// lands mid-read.
	pullBatch = 20
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := &syncBuffer{}
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Durability: Bulk, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const n = 3 * decodeBatch
	for i := range n {
		c := events.Command{Pathway: events.NewID(), Actor: events.Actor{Org: "sor:6620000000001"}, OccurredAt: time.Now(),
			Payloads: []events.Payload{&events.PathwayOpened{Patient: events.PatientRef(fmt.Sprintf("p%032x", i)), Cluster: "aarhus", Municipality: "kommune:0751"}}}
		if _, err := s.Log().Execute(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	deleted := 0
	p := &deleting{at: decodeBatch + 1, del: func() error {
		names := s.Log().stream.ConsumerNames(ctx)
		for name := range names.Name() {
			if err := s.Log().stream.DeleteConsumer(ctx, name); err != nil {
				return err
			}
			deleted++
		}
		return names.Err()
	}}
	st, err := s.Log().Replay(ctx, ReplayOptions{}, p)
	if err != nil {
		t.Fatal(err)
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	if deleted == 0 {
		t.Fatal("no consumer to delete mid-read: the test proves nothing")
	}
	if !strings.Contains(logs.String(), "a new consumer takes over the read") {
		t.Errorf("the read ended before the deletion, or went on without a new consumer; logs:\n%s", logs.String())
	}
	if p.events != n || st.Events != n {
		t.Errorf("replayed %d events (stats %d); want %d", p.events, st.Events, n)
	}
	left := s.Log().stream.ConsumerNames(ctx)
	for name := range left.Name() {
		t.Errorf("consumer %s left after the replay; want none", name)
	}
	if err := left.Err(); err != nil {
		t.Error(err)
	}
}

// deleting counts events, checks their order and calls del once, at the
// event numbered at.
type deleting struct {
	at, events int
	last       uint64
	del        func() error
	err        error
}

func (d *deleting) Apply(e events.Envelope) error {
	if e.Seq != d.last+1 && d.err == nil {
		d.err = fmt.Errorf("seq %d after %d", e.Seq, d.last)
	}
	d.last = e.Seq
	if d.events++; d.events == d.at && d.err == nil {
		d.err = d.del()
	}
	return nil
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
