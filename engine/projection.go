package engine

import (
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

// Refolder is a projection that can rebuild one pathway from its history.
// After applying a Correction, the engine calls Refold with the pathway's
// events up to and including the Correction, so the projection can forget
// the annulled event as if it never was.
type Refolder interface {
	Refold(pathway uuid.UUID, history []events.Envelope) error
}

// Differ is a projection that can describe how it differs from another
// instance of itself, for rebuild reports.
type Differ interface {
	Diff(old Projection) string
}
