package engine

import (
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// The contracts a projection meets to be replayed (Log.Replay) and hosted
// (Log.NewHost). Engine declares them, so it and package projections
// never import each other. A projection implements Projection, and any
// of the optional abilities below; the engine checks for them at run
// time.

// Projection is anything that folds events: the engine feeds it every
// event in log order, from one goroutine.
type Projection interface {
	Apply(events.Envelope) error
}

// Snapshotter is a projection that can save and restore its whole state.
// Restore replaces the state; the bytes are the projection's own.
type Snapshotter interface {
	Snapshot() ([]byte, error)
	Restore([]byte) error
}

// Refolder is a projection that can fold one pathway again. After an
// event that changes a pathway's past (a Correction, the operator's
// decision about a quarantined message), the engine calls Refold with
// what the projection folded of the pathway so far (before) and the
// history it should hold instead (after), which ends with that event.
// Quarantined messages are stand-ins in both.
//
// A projection must leave its state unchanged when Apply or Refold
// returns an error: the engine then quarantines the event, and skipping
// it must be skipping it cleanly.
type Refolder interface {
	Refold(pathway uuid.UUID, before, after []events.Envelope) error
}

// Differ is a projection that can describe how it differs from another
// instance of itself, for rebuild reports.
type Differ interface {
	Diff(old Projection) string
}

// Scheduler is a projection that knows the deadlines still running on its
// pathways: Due lists those with after < At ≤ before. A deadline drops out
// once its DeadlineElapsed is applied. Reactors.RunDeadlines records each
// as it passes.
type Scheduler interface {
	Due(after, before time.Time) []events.Deadline
}
