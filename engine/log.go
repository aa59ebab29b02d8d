package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Log is the event log, STAFET_EVENTS: the single source of truth. It
// appends commands with per-pathway optimistic concurrency and
// idempotency (Execute, Append), loads one pathway (Load, LoadUpTo),
// replays the log into projections (Replay) and keeps them current
// (NewHost). Get it from Store.Log.
type Log struct {
	*conn
	stream jetstream.Stream
	idem   jetstream.KeyValue
	codec  *events.Codec
	locks  [256]sync.Mutex
	cache  *stateCache
	// pathways is told when a pathway closes (markPatient).
	pathways *PathwayIndex
	// access records joins (Execute).
	access *AccessLog
	// appending counts appends between their publish and their index
	// write (markIndexedOnStop).
	appending atomic.Int64
	// indexPending counts index writes the server refused or never
	// acknowledged, being retried (indexWriteFailed).
	indexPending atomic.Int64
	// closing ends the retries when the store closes.
	closing chan struct{}
	// chainers seal and check the chain (chain.go), from chainFrom on;
	// checkpoints is STAFET_CHECKPOINTS (checkpoint.go). Set at open.
	chainers    *chainers
	chainFrom   uint64
	checkpoints jetstream.Stream

	stats Stats
}

// Stats counts what the log did since the store opened, for metrics.
type Stats struct {
	Appends, Events, Conflicts, Duplicates, Rejected atomic.Uint64
	// Joins counts organisations that joined a pathway they were not
	// party to by starting their own care (events.StartsCare).
	Joins atomic.Uint64
	// IndexWriteFailures counts idempotency index writes the server
	// refused or never acknowledged; each is retried until it is stored.
	IndexWriteFailures atomic.Uint64
	// ReaderRestarts counts the consumers a replay's reader replaced
	// because the server ended one, skipped a delivery or fell silent
	// (pull.go): each is recovered from, but many mean a sick cluster.
	ReaderRestarts atomic.Uint64
}

// Stats returns the log's counters.
func (s *Log) Stats() *Stats { return &s.stats }

// Codec returns the event codec.
func (s *Log) Codec() *events.Codec { return s.codec }

// LastSeq returns the log's last sequence number.
func (s *Log) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("engine: stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

func (s *Log) lock(pathway uuid.UUID) *sync.Mutex {
	return &s.locks[pathway[15]]
}
