package engine

import (
	"time"

	"github.com/stafet/stafet/events"
)

// View runs fn with the hosted projection as its own type P, under the
// host's read lock (Host.Read), and reports whether the projection is a
// P. It saves callers that know the projection's type (a service hosting
// a projections.Set) a type assertion of their own; after a Rebuild it
// sees the projection swapped in.
func View[P any](h *Host, fn func(P)) bool {
	ok := false
	h.Read(func(p Projection) {
		var v P
		if v, ok = p.(P); ok {
			fn(v)
		}
	})
	return ok
}

// Due lists the running deadlines of the hosted projection if it is a
// Scheduler (none otherwise), read under the host's lock: a Host is the
// Scheduler Reactors.RunDeadlines reads.
func (h *Host) Due(after, before time.Time) []events.Deadline {
	var out []events.Deadline
	View(h, func(s Scheduler) { out = s.Due(after, before) })
	return out
}
