package fhir

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// folded is one pathway as the facade renders it: its history (cut as a
// read asked), folded into custody and the facts FHIR resources show.
// Every resource of the pathway carries the pathway's last sequence as
// its version: the position the engine's concurrency check works on.
type folded struct {
	id      uuid.UUID
	patient events.PatientRef
	owner   projections.OwnerView
	seq     uint64
	updated time.Time
	closed  time.Time
	offers  map[string]*offerFacts
	stays   []stay
	class   events.AdmissionClass
	onLeave bool
}

// offerFacts are what a Task shows beyond the chain of custody.
type offerFacts struct {
	reason  string    // of a rejection or withdrawal
	started time.Time // the owner began the service (ServiceStarted)
	overdue bool      // a DeadlineElapsed for the offer is recorded
}

// stay is one hospital's part of the hospital stay.
type stay struct {
	hospital   events.OrgID
	start, end time.Time
}

// fold folds a history (log order, as a read cut it).
func fold(history []events.Envelope) *folded {
	f := &folded{offers: make(map[string]*offerFacts), owner: projections.PathwayOwner(history)}
	if len(history) == 0 {
		return f
	}
	f.id = history[0].Pathway
	a := events.AnnulmentsOf(history)
	accepted := make(map[string]bool)
	for i := range history {
		e := &history[i]
		f.seq = max(f.seq, e.Seq)
		if e.RecordedAt.After(f.updated) {
			f.updated = e.RecordedAt
		}
		if !a.Folded(e) {
			continue
		}
		f.apply(e, accepted)
	}
	return f
}

func (f *folded) apply(e *events.Envelope, accepted map[string]bool) {
	t := e.OccurredAt
	switch v := e.Payload.(type) {
	case *events.PathwayOpened:
		f.patient = v.Patient
	case *events.PatientAdmitted:
		f.class = v.Class
		if n := len(f.stays); n == 0 || !f.stays[n-1].end.IsZero() || f.stays[n-1].hospital != v.Hospital {
			f.endStay(t)
			f.stays = append(f.stays, stay{hospital: v.Hospital, start: t})
		}
	case *events.PatientTransferred:
		f.endStay(t)
		f.stays = append(f.stays, stay{hospital: v.To, start: t})
	case *events.LeaveStarted:
		f.onLeave = true
	case *events.LeaveEnded:
		f.onLeave = false
	case *events.PatientDischarged, *events.PatientDied:
		f.endStay(t)
		f.onLeave = false
	case *events.HandoffOffered:
		f.offers[v.Offer] = &offerFacts{}
	case *events.HandoffAccepted:
		accepted[v.Offer] = true
	case *events.HandoffRejected:
		if o := f.offers[v.Offer]; o != nil {
			o.reason = v.Reason
		}
	case *events.HandoffWithdrawn:
		if o := f.offers[v.Offer]; o != nil {
			o.reason = v.Reason
		}
	case *events.ServiceStarted:
		for _, h := range f.owner.Chain {
			if o := f.offers[h.Offer]; o != nil && accepted[h.Offer] && h.To == v.By && h.What == v.What && o.started.IsZero() {
				o.started = t
			}
		}
	case *events.DeadlineElapsed:
		if o := f.offers[v.Ref]; o != nil {
			o.overdue = true
		}
	case *events.PathwayClosed:
		f.endStay(t)
		f.closed = t
	}
}

func (f *folded) endStay(t time.Time) {
	if n := len(f.stays); n > 0 && f.stays[n-1].end.IsZero() {
		f.stays[n-1].end = t
	}
}

// handoff returns the chain entry of an offer.
func (f *folded) handoff(offer string) (projections.Handoff, bool) {
	for _, h := range f.owner.Chain {
		if h.Offer == offer {
			return h, true
		}
	}
	return projections.Handoff{}, false
}

// Resource ids. A Task is a pathway's offer, an EpisodeOfCare a
// pathway's organisation, an Encounter a pathway's hospital stay. FHIR
// ids are at most 64 characters of [A-Za-z0-9.-]: an offer id may be
// anything, so a Task id carries a digest of it.

func taskID(pathway uuid.UUID, offer string) string {
	return pathway.String() + "." + offerKey(offer)
}

func offerKey(offer string) string {
	sum := sha256.Sum256([]byte(offer))
	return hex.EncodeToString(sum[:8])
}

func episodeID(pathway uuid.UUID, org events.OrgID) string {
	return pathway.String() + "." + org.Token()
}

// splitID reads "<pathway>.<key>".
func splitID(id string) (uuid.UUID, string, bool) {
	p, key, ok := strings.Cut(id, ".")
	u, err := uuid.Parse(p)
	if !ok || err != nil || key == "" || u.String() != p {
		return uuid.Nil, "", false
	}
	return u, key, true
}

// offerOf finds the offer whose key is key.
func (f *folded) offerOf(key string) (projections.Handoff, bool) {
	for _, h := range f.owner.Chain {
		if offerKey(h.Offer) == key {
			return h, true
		}
	}
	return projections.Handoff{}, false
}

// episode is one organisation's responsibility for the patient on a
// pathway: the responsibilities it held (periods) or was offered.
type episode struct {
	org     events.OrgID
	what    []events.Responsibility
	held    []period
	offered []period // from offer to answer (open while pending)
	pending bool
}

type period struct{ start, end time.Time }

// episodes lists the pathway's organisations that held or were offered
// a responsibility, sorted by organisation.
func (f *folded) episodes() []*episode {
	by := make(map[events.OrgID]*episode)
	get := func(org events.OrgID) *episode {
		if by[org] == nil {
			by[org] = &episode{org: org}
		}
		return by[org]
	}
	addWhat := func(e *episode, w events.Responsibility) {
		if !slices.Contains(e.what, w) {
			e.what = append(e.what, w)
		}
	}
	for _, s := range f.stays {
		e := get(s.hospital)
		addWhat(e, events.HospitalStay)
		e.held = append(e.held, period{s.start, s.end})
	}
	for _, h := range f.owner.Chain {
		e := get(h.To)
		addWhat(e, h.What)
		e.offered = append(e.offered, period{h.Offered, h.Answered})
		switch h.Status {
		case events.OfferPending:
			e.pending = true
		case events.OfferAccepted:
			e.held = append(e.held, period{h.Answered, h.Ended})
		}
	}
	out := make([]*episode, 0, len(by))
	for _, e := range by {
		if !f.closed.IsZero() {
			for i := range e.held {
				if e.held[i].end.IsZero() {
					e.held[i].end = f.closed
				}
			}
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *episode) int { return strings.Compare(string(a.org), string(b.org)) })
	return out
}

func (f *folded) episode(org events.OrgID) (*episode, bool) {
	for _, e := range f.episodes() {
		if e.org == org {
			return e, true
		}
	}
	return nil, false
}
