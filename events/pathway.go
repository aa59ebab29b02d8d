package events

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
)

// OfferStatus is where a handoff offer stands.
type OfferStatus string

// Offer statuses.
const (
	OfferPending   OfferStatus = "pending"
	OfferAccepted  OfferStatus = "accepted"
	OfferRejected  OfferStatus = "rejected"
	OfferWithdrawn OfferStatus = "withdrawn"
)

// Offer is a handoff offer as the pathway rules see it.
type Offer struct {
	ID       string
	From, To OrgID
	What     Responsibility
	Deadline time.Time
	Status   OfferStatus
}

// Pathway is the write-side state of one pathway: just enough to decide
// whether a command keeps the pathway rules. Build it with Fold; it is
// deterministic (no clock, no I/O).
type Pathway struct {
	id           uuid.UUID
	opened       bool
	closed       bool
	cluster      string
	patient      PatientRef
	municipality OrgID
	gp           OrgID
	hospital     OrgID
	admitted     bool
	onLeave      bool
	died         bool
	holders      map[Responsibility]OrgID
	offers       map[string]*Offer
	// parties are the organisations the live events name (Parties): who
	// may write to the pathway without starting care of its own.
	parties map[OrgID]bool
	// closedAt is the valid time of the PathwayClosed.
	closedAt  time.Time
	documents map[string]DocumentKind
	// links maps each identity a live PatientIdentityLinked joined to
	// this pathway's patient (either side of it) to that event and the
	// pathway it named.
	links    map[PatientRef]link
	events   map[uuid.UUID]Type
	annulled map[uuid.UUID]bool
	// annulledSeqs are stored messages the operator annulled from the
	// quarantine (QuarantineResolved).
	annulledSeqs map[uint64]bool
	sources      map[string]uint64
	lastSeq      uint64
	// history is what was folded, so a Correction can fold again without
	// the annulled event.
	history []Envelope
	// trimmed means history was dropped (Trim): the state serves every
	// command but a Correction, which needs the history to fold again.
	trimmed bool
	// stale is set when a Correction was applied to a trimmed state.
	stale bool
}

// Fold builds a pathway's state from its history in log order. Events
// annulled by a Correction anywhere in the history are skipped, so a
// correction rolls the pathway back as if the annulled event never was;
// so are messages the operator annulled from the quarantine, and the
// stand-ins of quarantined ones carry no state.
func Fold(history []Envelope) *Pathway {
	p := newPathway()
	for i := range history {
		if id, ok := history[i].Annuls(); ok {
			p.annulled[id] = true
		}
		if r, ok := history[i].Payload.(*QuarantineResolved); ok && r.Decision == Annul {
			p.annulledSeqs[r.Seq] = true
		}
	}
	for i := range history {
		p.evolve(&history[i])
	}
	p.history = history
	return p
}

func newPathway() *Pathway {
	return &Pathway{
		holders:      make(map[Responsibility]OrgID),
		offers:       make(map[string]*Offer),
		parties:      make(map[OrgID]bool),
		documents:    make(map[string]DocumentKind),
		links:        make(map[PatientRef]link),
		events:       make(map[uuid.UUID]Type),
		annulled:     make(map[uuid.UUID]bool),
		annulledSeqs: make(map[uint64]bool),
		sources:      make(map[string]uint64),
	}
}

// ID returns the pathway id, or uuid.Nil before it is opened.
func (p *Pathway) ID() uuid.UUID { return p.id }

// Opened reports whether the pathway has been opened.
func (p *Pathway) Opened() bool { return p.opened }

// Closed reports whether the pathway has been closed.
func (p *Pathway) Closed() bool { return p.closed }

// Cluster returns the health cluster the pathway was opened in.
func (p *Pathway) Cluster() string { return p.cluster }

// Patient returns the patient's pseudonym.
func (p *Pathway) Patient() PatientRef { return p.patient }

// Hospital returns the hospital that holds the stay, if admitted.
func (p *Pathway) Hospital() OrgID { return p.hospital }

// Admitted reports whether the patient is in hospital now.
func (p *Pathway) Admitted() bool { return p.admitted }

// Holder returns who holds a responsibility now, or "".
func (p *Pathway) Holder(r Responsibility) OrgID { return p.holders[r] }

// Offer returns an offer by id.
func (p *Pathway) Offer(id string) (Offer, bool) {
	o, ok := p.offers[id]
	if !ok {
		return Offer{}, false
	}
	return *o, true
}

// Annulled reports whether a Correction annulled the event with id.
func (p *Pathway) Annulled(id uuid.UUID) bool { return p.annulled[id] }

// LastSeq returns the log sequence of the last event folded in.
func (p *Pathway) LastSeq() uint64 { return p.lastSeq }

// SourceSeq reports whether an event from the source message with key k
// (Source.Key) is in the pathway already, and the sequence of the first.
// It makes a resend idempotent however long after the original it comes.
func (p *Pathway) SourceSeq(k string) (uint64, bool) {
	seq, ok := p.sources[k]
	return seq, ok
}

// Municipality returns the patient's municipality of residence, if known.
func (p *Pathway) Municipality() OrgID { return p.municipality }

// GP returns the patient's general practice, if known.
func (p *Pathway) GP() OrgID { return p.gp }

// Apply folds one more event into the state. Envelopes must come in log
// order. A Correction, or the operator's decision about a quarantined
// message, folds the whole history again.
func (p *Pathway) Apply(e *Envelope) {
	corrects := e.ChangesPast()
	if p.trimmed {
		if corrects {
			// Without the history there is nothing to fold again: the
			// state would be wrong, so it says so instead.
			p.stale = true
		}
		p.evolve(e)
		return
	}
	p.history = append(p.history, *e)
	if corrects {
		*p = *Fold(p.history)
		return
	}
	p.evolve(e)
}

// Trim drops the folded history. A write side that keeps many pathways'
// state in memory keeps them trimmed: the history is most of a state's
// size (an envelope per event) and only a Correction needs it. Decide
// refuses a Correction on a trimmed pathway with ErrHistoryTrimmed; load
// the history and fold it to decide one.
func (p *Pathway) Trim() {
	p.history = nil
	p.trimmed = true
}

// Trimmed reports whether Trim dropped the history.
func (p *Pathway) Trimmed() bool { return p.trimmed }

func (p *Pathway) evolve(e *Envelope) {
	if e.Seq > p.lastSeq {
		p.lastSeq = e.Seq
	}
	p.events[e.ID] = e.Payload.Type()
	if d, ok := e.Payload.(*DocumentSent); ok {
		// Known even if later annulled: an acknowledgement of a cancelled
		// message still confirms its delivery.
		p.documents[d.Document] = d.Kind
	}
	if k := e.Source.Key(); k != "" {
		if _, seen := p.sources[k]; !seen {
			p.sources[k] = e.Seq
		}
	}
	if p.annulled[e.ID] || p.annulledSeqs[e.Seq] {
		return
	}
	var buf [4]OrgID
	for _, org := range e.parties(buf[:0]) {
		p.parties[org] = true
	}
	switch v := e.Payload.(type) {
	case *PathwayOpened:
		p.id, p.opened, p.cluster, p.patient = e.Pathway, true, v.Cluster, v.Patient
		p.municipality, p.gp = v.Municipality, v.GP
	case *PatientAdmitted:
		p.hospital, p.admitted = v.Hospital, true
		p.holders[HospitalStay] = v.Hospital
		if v.Notified != "" && p.municipality == "" {
			p.municipality = v.Notified
		}
	case *PatientTransferred:
		p.hospital = v.To
		p.holders[HospitalStay] = v.To
	case *LeaveStarted:
		p.onLeave = true
	case *LeaveEnded:
		p.onLeave = false
	case *PatientDischarged:
		p.admitted, p.onLeave = false, false
		delete(p.holders, HospitalStay)
	case *PatientDied:
		p.died, p.admitted = true, false
	case *HandoffOffered:
		p.offers[v.Offer] = &Offer{ID: v.Offer, From: v.From, To: v.To, What: v.What, Deadline: v.Deadline, Status: OfferPending}
	case *HandoffAccepted:
		if o := p.offers[v.Offer]; o != nil {
			o.Status = OfferAccepted
			p.holders[o.What] = o.To
		}
	case *HandoffRejected:
		p.setStatus(v.Offer, OfferRejected)
	case *HandoffWithdrawn:
		p.setStatus(v.Offer, OfferWithdrawn)
	case *ResponsibilityReleased:
		if p.holders[v.What] == v.By {
			delete(p.holders, v.What)
		}
	case *DocumentSent:
		p.documents[v.Document] = v.Kind
	case *DocumentRequested:
		p.documents[v.Document] = v.Kind
	case *PathwayClosed:
		p.closed, p.closedAt = true, e.OccurredAt
	case *PatientIdentityLinked:
		for _, r := range []PatientRef{v.Patient, v.Other} {
			if r != p.patient {
				p.links[r] = link{event: e.ID, joined: v.Joined}
			}
		}
	}
}

func (p *Pathway) setStatus(offer string, s OfferStatus) {
	if o := p.offers[offer]; o != nil {
		o.Status = s
	}
}

// Command asks for one or more events to be appended to a pathway. The
// pathway rules decide whether they may be, in order, each against the
// state the earlier ones leave.
type Command struct {
	Pathway     uuid.UUID
	Actor       Actor
	Source      Source
	OccurredAt  time.Time
	Correlation string
	Causation   string
	Payloads    []Payload
}

// Decide checks a command against the pathway rules and returns the
// events to append, or a *ValidationError naming a bad field, a
// *RuleError naming the broken rule, or ErrUnknownPathway. It is pure:
// the same state and command always give the same answer (event ids are
// the only fresh values).
func Decide(p *Pathway, cmd Command) ([]Envelope, error) {
	if cmd.Pathway == uuid.Nil {
		return nil, &ValidationError{Field: "pathway", Reason: "missing"}
	}
	if cmd.OccurredAt.IsZero() {
		return nil, &ValidationError{Field: "occurred_at", Reason: "missing"}
	}
	if len(cmd.Payloads) == 0 {
		return nil, &ValidationError{Field: "data", Reason: "no events in command"}
	}
	if err := orgOpt("actor.org", cmd.Actor.Org); err != nil {
		return nil, err
	}
	if p.trimmed && (p.stale || cmd.Corrects()) {
		return nil, ErrHistoryTrimmed
	}
	// The rules only read the state. A command of several payloads
	// decides each on the state the ones before it left, so those are
	// applied to a scratch copy (the command is all or nothing); a
	// command of one payload, the common case, needs no copy.
	s := p
	out := make([]Envelope, 0, len(cmd.Payloads))
	for i, pl := range cmd.Payloads {
		if pl == nil {
			return nil, &ValidationError{Field: fmt.Sprintf("data[%d]", i), Reason: "missing payload"}
		}
		if err := pl.Validate(); err != nil {
			return nil, prefix(fmt.Sprintf("data[%d]", i), err)
		}
		pl, err := s.check(cmd, pl)
		if err != nil {
			// A wrong kind of organisation names the field within the
			// payload, like the payload's own Validate.
			if _, ok := err.(*ValidationError); ok {
				err = prefix(fmt.Sprintf("data[%d]", i), err)
			}
			return nil, err
		}
		e := Envelope{
			ID: NewID(), Pathway: cmd.Pathway, Type: pl.Type(), OccurredAt: cmd.OccurredAt,
			Source: cmd.Source, Actor: cmd.Actor, Correlation: cmd.Correlation, Causation: cmd.Causation, Payload: pl,
		}
		if i < len(cmd.Payloads)-1 {
			if s == p {
				s = p.clone()
			}
			s.Apply(&e)
		}
		out = append(out, e)
	}
	return out, nil
}

// check applies the rules to one payload. It may turn the payload into
// another, as MedCom's rules prescribe (an admission at another hospital
// while admitted is a transfer).
func (p *Pathway) check(cmd Command, pl Payload) (Payload, error) {
	if _, ok := pl.(*PathwayOpened); ok {
		if p.opened {
			return nil, &RuleError{"already-open", "the pathway is already open"}
		}
		return pl, nil
	}
	switch pl.(type) {
	case *QuarantineResolved, *Quarantined:
		return nil, &RuleError{"quarantine-by-operator", "the quarantine is resolved by the operator (stafet quarantine resolve), not by a command"}
	}
	if !p.opened {
		return nil, fmt.Errorf("%w: %s", ErrUnknownPathway, cmd.Pathway)
	}
	if err := p.MayWrite(cmd.Actor.Org, pl); err != nil {
		return nil, err
	}
	if c, ok := pl.(*Correction); ok {
		return pl, p.checkCorrection(c)
	}
	if p.closed {
		return nil, &RuleError{"closed", "nothing but a Correction may follow PathwayClosed"}
	}
	switch v := pl.(type) {
	case *PatientAdmitted:
		return p.checkAdmission(v)
	case *PatientTransferred:
		return pl, p.checkTransfer(v)
	case *LeaveStarted:
		return pl, p.checkLeave(v.Hospital, true)
	case *LeaveEnded:
		return pl, p.checkLeave(v.Hospital, false)
	case *DischargeExpected:
		return pl, p.checkAtHospital(v.Hospital)
	case *ReadyForDischarge:
		return pl, p.checkAtHospital(v.Hospital)
	case *PatientDischarged:
		return pl, p.checkAtHospital(v.Hospital)
	case *PatientDied:
		if p.died {
			return nil, &RuleError{"already-dead", "the patient's death is already recorded"}
		}
	case *HandoffOffered:
		return pl, p.checkOffer(v)
	case *HandoffAccepted:
		return pl, p.checkAnswer(cmd, v.Offer, v.By, true)
	case *HandoffRejected:
		return pl, p.checkAnswer(cmd, v.Offer, v.By, false)
	case *HandoffWithdrawn:
		return pl, p.checkWithdraw(cmd, v)
	case *ResponsibilityReleased:
		if p.holders[v.What] != v.By {
			return nil, &RuleError{"only-holder-releases", fmt.Sprintf("%s does not hold %s", v.By, v.What)}
		}
	case *DocumentSent:
		if _, ok := p.documents[v.Document]; ok && v.Kind != p.documents[v.Document] {
			return nil, &RuleError{"document-kind-fixed", fmt.Sprintf("document %s was %s", v.Document, p.documents[v.Document])}
		}
	case *DocumentAcknowledged:
		if _, ok := p.documents[v.Document]; !ok {
			return nil, &RuleError{"unknown-document", fmt.Sprintf("no document %s on this pathway", v.Document)}
		}
	case *PatientIdentityMerged:
		if v.Survivor != p.patient {
			return nil, &RuleError{"merge-into-this-patient", "survivor must be this pathway's patient"}
		}
	case *PatientIdentityLinked:
		return pl, p.checkLink(v)
	}
	return pl, nil
}

// checkLink: a link names this pathway's patient, or an identity already
// linked to it, on one side, and an identity not yet linked on the other.
func (p *Pathway) checkLink(v *PatientIdentityLinked) error {
	mine := func(r PatientRef) bool { _, ok := p.Linked(r); return ok }
	switch {
	case !mine(v.Patient) && !mine(v.Other):
		return &RuleError{"link-this-patient", "neither identity is this pathway's patient"}
	case mine(v.Patient) && mine(v.Other):
		return &RuleError{"already-linked", "the two identities are linked on this pathway already"}
	}
	return nil
}

// Linked reports whether a patient identity is this pathway's patient or
// linked to it by a live PatientIdentityLinked, and that event (uuid.Nil
// for the pathway's own patient).
func (p *Pathway) Linked(r PatientRef) (uuid.UUID, bool) {
	if r == p.patient && r != "" {
		return uuid.Nil, true
	}
	l, ok := p.links[r]
	return l.event, ok
}

type link struct{ event, joined uuid.UUID }

// Links returns the identities linked to this pathway's patient by a
// live PatientIdentityLinked, each with the other pathway the link named
// (PatientIdentityLinked.joined; uuid.Nil when it named none).
func (p *Pathway) Links() map[PatientRef]uuid.UUID {
	if len(p.links) == 0 {
		return nil
	}
	out := make(map[PatientRef]uuid.UUID, len(p.links))
	for r, l := range p.links {
		out[r] = l.joined
	}
	return out
}

func (p *Pathway) checkAdmission(v *PatientAdmitted) (Payload, error) {
	if p.died {
		return nil, &RuleError{"patient-dead", "the patient's death is recorded"}
	}
	if err := wantScheme("hospital", v.Hospital, SchemeSOR); err != nil {
		return nil, err
	}
	if p.admitted && p.hospital != v.Hospital {
		// MedCom: there is no transfer message; a new admission at another
		// hospital without a discharge is a transfer.
		return &PatientTransferred{From: p.hospital, To: v.Hospital, Department: v.Department}, nil
	}
	return v, nil
}

func (p *Pathway) checkTransfer(v *PatientTransferred) error {
	if err := wantScheme("to", v.To, SchemeSOR); err != nil {
		return err
	}
	return p.checkAtHospital(v.From)
}

func (p *Pathway) checkAtHospital(h OrgID) error {
	if !p.admitted {
		return &RuleError{"not-admitted", "the patient is not admitted"}
	}
	if h != p.hospital {
		return &RuleError{"not-admitting-hospital", fmt.Sprintf("the stay is held by %s, not %s", p.hospital, h)}
	}
	return nil
}

func (p *Pathway) checkLeave(h OrgID, start bool) error {
	if err := p.checkAtHospital(h); err != nil {
		return err
	}
	if start && p.onLeave {
		return &RuleError{"already-on-leave", "the patient is already on leave"}
	}
	if !start && !p.onLeave {
		return &RuleError{"not-on-leave", "the patient is not on leave"}
	}
	return nil
}

func (p *Pathway) checkOffer(v *HandoffOffered) error {
	if _, ok := p.offers[v.Offer]; ok {
		return &RuleError{"offer-id-unique", fmt.Sprintf("offer %s exists", v.Offer)}
	}
	if err := wantScheme("to", v.To, receiverSchemes(v.What)...); err != nil {
		return err
	}
	if p.holders[v.What] == v.To {
		return &RuleError{"already-holds", fmt.Sprintf("%s already holds %s", v.To, v.What)}
	}
	return nil
}

func (p *Pathway) checkAnswer(cmd Command, offer string, by OrgID, accept bool) error {
	o, err := p.pendingOffer(offer)
	if err != nil {
		return err
	}
	if by != o.To || (cmd.Actor.Org != "" && cmd.Actor.Org != by) {
		return &RuleError{"only-addressee-answers", fmt.Sprintf("offer %s is addressed to %s", offer, o.To)}
	}
	if h := p.holders[o.What]; accept && h != "" && h != o.From && h != o.To {
		return &RuleError{"one-holder", fmt.Sprintf("%s holds %s; it must release it first", h, o.What)}
	}
	return nil
}

func (p *Pathway) checkWithdraw(cmd Command, v *HandoffWithdrawn) error {
	o, err := p.pendingOffer(v.Offer)
	if err != nil {
		return err
	}
	if v.By != o.From || (cmd.Actor.Org != "" && cmd.Actor.Org != v.By) {
		return &RuleError{"only-sender-withdraws", fmt.Sprintf("offer %s was sent by %s", v.Offer, o.From)}
	}
	return nil
}

func (p *Pathway) pendingOffer(id string) (*Offer, error) {
	o := p.offers[id]
	if o == nil {
		return nil, &RuleError{"unknown-offer", fmt.Sprintf("no offer %s on this pathway", id)}
	}
	if o.Status != OfferPending {
		return nil, &RuleError{"offer-not-pending", fmt.Sprintf("offer %s is %s", id, o.Status)}
	}
	return o, nil
}

func (p *Pathway) checkCorrection(c *Correction) error {
	t, ok := p.events[c.Annuls]
	switch {
	case !ok:
		return &RuleError{"unknown-event", fmt.Sprintf("no event %s on this pathway", c.Annuls)}
	case t == TypeCorrection:
		return &RuleError{"correct-a-correction", "a Correction cannot be annulled; append the event again"}
	case t == TypePathwayOpened:
		return &RuleError{"correct-opening", "PathwayOpened cannot be annulled; close the pathway instead"}
	case t == TypeDeadlineElapsed:
		// The deadline did pass; annulling the record would make the
		// scheduler's next (idempotent) record of it a no-op, and the
		// deadline would never be recorded again.
		return &RuleError{"correct-deadline", "a DeadlineElapsed records a fact of the clock and cannot be annulled"}
	case p.annulled[c.Annuls]:
		return &RuleError{"already-annulled", fmt.Sprintf("event %s is already annulled", c.Annuls)}
	}
	return nil
}

// receiverSchemes says which kinds of organisation can take a
// responsibility: municipal services go to municipalities, GP follow-up to
// a practice, a hospital stay to a hospital. The tasks that move to the
// regions on 1 January 2027 (events/reference/handoff_receivers.csv) go to
// a municipality before and to a region or one of its units after; the
// rule holds on both sides of the date, the directory says who receives
// when.
func receiverSchemes(r Responsibility) []string {
	switch r {
	case GPFollowUp:
		return []string{SchemeYder, SchemeSOR}
	case HospitalStay:
		return []string{SchemeSOR}
	case MunicipalBed, AcuteNursing, SpecialisedRehabilitation:
		return []string{SchemeKommune, SchemeRegion, SchemeSOR}
	}
	return []string{SchemeKommune}
}

func wantScheme(field string, id OrgID, schemes ...string) error {
	for _, s := range schemes {
		if id.Scheme() == s {
			return nil
		}
	}
	return &ValidationError{Field: field, Reason: fmt.Sprintf("%s is the wrong kind of organisation here (want %v)", id, schemes)}
}

// ErrHistoryTrimmed is Decide's answer to a Correction on a trimmed
// pathway state (see Trim): fold the pathway's history and decide again.
var ErrHistoryTrimmed = errors.New("events: the pathway state has no history; a Correction needs it")

// Corrects reports whether the command holds a Correction, which folds
// the pathway's history again and so needs all of it.
func (c Command) Corrects() bool {
	for _, pl := range c.Payloads {
		if _, ok := pl.(*Correction); ok {
			return true
		}
	}
	return false
}

func (p *Pathway) clone() *Pathway {
	c := *p
	c.holders = maps.Clone(p.holders)
	c.parties = maps.Clone(p.parties)
	c.documents = maps.Clone(p.documents)
	c.links = maps.Clone(p.links)
	c.events = maps.Clone(p.events)
	c.annulled = maps.Clone(p.annulled)
	c.annulledSeqs = maps.Clone(p.annulledSeqs)
	c.sources = maps.Clone(p.sources)
	c.history = slices.Clone(p.history)
	c.offers = make(map[string]*Offer, len(p.offers))
	for k, o := range p.offers {
		oc := *o
		c.offers[k] = &oc
	}
	return &c
}
