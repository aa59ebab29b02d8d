package projections

import (
	"cmp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// Bitemporal as-of. Every event has two times: OccurredAt (valid time,
// when it happened) and RecordedAt (record time, when Stafet appended
// it). A late message has a RecordedAt well after its OccurredAt, and a
// Correction annuls an earlier event from its own RecordedAt on. So
// "what did Stafet know at T" and "what is now known to have been true at
// T" differ, and each is a history to fold (PathwayView, or any
// projection's Apply).

// AsOfRecorded returns the events Stafet had recorded by t (RecordedAt ≤
// t; an event not yet recorded counts as recorded when it occurred), in
// log order: the history as Stafet knew it at t. Corrections recorded by
// t are kept, so a fold of the result applies them.
func AsOfRecorded(history []events.Envelope, t time.Time) []events.Envelope {
	var out []events.Envelope
	for _, e := range history {
		rec := e.RecordedAt
		if rec.IsZero() {
			rec = e.OccurredAt
		}
		if !rec.After(t) {
			out = append(out, e)
		}
	}
	return out
}

// AsOfValid returns the history as it is now known to have been at t:
// every event known now, with the Corrections applied (the annulled
// events and the Corrections themselves left out), that occurred by t,
// ordered by OccurredAt and then log sequence. A late-arriving message
// takes its place by when it happened. PathwayOpened goes first whatever
// its time, as a pathway's events presuppose it.
func AsOfValid(history []events.Envelope, t time.Time) []events.Envelope {
	a := events.AnnulmentsOf(history)
	var out []events.Envelope
	for _, e := range history {
		if !a.Folded(&e) || e.OccurredAt.After(t) {
			continue
		}
		out = append(out, e)
	}
	opened := func(e *events.Envelope) int {
		if _, ok := e.Payload.(*events.PathwayOpened); ok {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b events.Envelope) int {
		return cmp.Or(cmp.Compare(opened(&a), opened(&b)), a.OccurredAt.Compare(b.OccurredAt), cmp.Compare(a.Seq, b.Seq))
	})
	return out
}

// View is one pathway folded from a history: custody, gaps and the
// deadlines still running. Unlike the projections it keeps the detail of
// a closed pathway.
type View struct {
	Owner OwnerView
	Gaps  []Gap
	Due   []Deadline
}

// PathwayOwner folds one pathway's history (in log order, Corrections
// applied) into its custody. It is pure; the chain is kept even when the
// pathway is closed.
func PathwayOwner(history []events.Envelope) OwnerView {
	if len(history) == 0 {
		return OwnerView{}
	}
	syms := newSymbols()
	c := foldCustody(syms, history)
	if c == nil {
		return OwnerView{Pathway: history[0].Pathway}
	}
	return c.view(syms, history[0].Pathway)
}

// PathwayView folds one pathway's history with g's rules and returns it
// as it stands at now. It reads only g's rules, not its state: fold
// AsOfRecorded or AsOfValid of a history to see a pathway as of a time.
func (g *Gaps) PathwayView(history []events.Envelope, now time.Time) View {
	if len(history) == 0 {
		return View{}
	}
	id := history[0].Pathway
	v := View{Owner: PathwayOwner(history)}
	x := env{rs: g.rs, syms: newSymbols(), sign: 1, pathway: id}
	t := foldTrack(&x, history)
	if t == nil {
		return v
	}
	one := &Gaps{rs: g.rs, syms: x.syms, paths: map[uuid.UUID]*track{id: t}, st: newStats()}
	v.Gaps = one.ForPathway(id, now)
	v.Due = one.Due(time.Time{}, maxTime)
	return v
}

// maxTime is later than any deadline.
var maxTime = time.Unix(1<<62/int64(time.Second), 0)
