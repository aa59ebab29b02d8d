package simulator

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/stafet/stafet/events"
)

// Answer is how the addressee of an offer answers it.
type Answer string

// Answers.
const (
	OnTime Answer = "on-time" // accepted before the deadline
	Late   Answer = "late"    // accepted after the deadline
	Never  Answer = "never"   // not answered
	Reject Answer = "reject"  // rejected, with a reason
)

// Decision is the model's draw for one offer.
type Decision struct {
	Answer Answer
	// After is how long after the offer was made the answer comes (zero
	// for Never).
	After time.Duration
	// Reason is the rejection's reason.
	Reason string
}

// Decide draws how the addressee answers an offer of what, with window the
// time from the offer to its deadline (zero or less when it has none; a
// day of simulated time is used then). The draw depends only on the seed
// and the offer id, so the driver, which learns offers from worklists, and
// Workload decide alike, and a restarted driver answers as before. Times
// are in the caller's clock: pass a wire-time window to get a wire-time
// After.
func (m *Model) Decide(offer string, what events.Responsibility, window time.Duration) Decision {
	if window <= 0 {
		window = m.WireDuration(24 * time.Hour)
	}
	h := fnv.New64a()
	h.Write([]byte(offer))
	r := rand.New(rand.NewPCG(m.seed, h.Sum64()))
	a := m.mix.answers(what)
	x := r.Float64()
	frac := func(lo, hi float64) time.Duration {
		return time.Duration((lo + r.Float64()*(hi-lo)) * float64(window))
	}
	switch {
	case x < a.OnTime:
		return Decision{Answer: OnTime, After: frac(0.05, 0.9)}
	case x < a.OnTime+a.Late:
		return Decision{Answer: Late, After: frac(1.1, 2.5)}
	case x < a.OnTime+a.Late+a.Reject:
		return Decision{Answer: Reject, After: frac(0.05, 0.8), Reason: pick(r, rejectReasons)}
	}
	return Decision{Answer: Never}
}

var rejectReasons = []string{
	"borgeren er ikke bosat i kommunen",
	"ikke visiteret: mangler oplysninger om plejebehov",
	"ingen ledig plads; tilbydes fra i morgen",
	"borgeren har takket nej til tilbuddet",
	"genoptræningsplanen mangler",
}
