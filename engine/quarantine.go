package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/events"
)

// The quarantine (docs/operations.md). Every reader of the log — replay,
// the projection host, Load, the reactors — reads a stored message through
// readStored, which never fails: a message that does not decode or
// validate reads as an events.Quarantined stand-in. A message whose events
// make a projection fail is quarantined by the host (folder) and read as
// a stand-in in the histories it refolds. The same log gives the same
// quarantine on every replay and instance of one build; the operator's
// decision is an events.QuarantineResolved stored on the message's own
// subject.

// Quarantine is a host's record of a stored message it could not take in.
// It holds where the message is, why, and a hash of its bytes; never its
// content.
type Quarantine struct {
	Seq     uint64                  `json:"seq"`
	Subject string                  `json:"subject"`
	Cluster string                  `json:"cluster,omitempty"`
	Pathway uuid.UUID               `json:"pathway,omitzero"`
	Reason  events.QuarantineReason `json:"reason"`
	Detail  string                  `json:"detail"`
	Hash    string                  `json:"hash"`
	// At is when the message was stored.
	At         time.Time   `json:"at"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Resolution is the operator's decision about a quarantined message, as
// the host applied it.
type Resolution struct {
	Decision events.QuarantineDecision `json:"decision"`
	Reason   string                    `json:"reason,omitempty"`
	// Seq and At are the decision's own position and record time.
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"`
	// Unread: the decision is to take the message in, but this build still
	// cannot read it; an upgraded instance does.
	Unread bool `json:"unread,omitempty"`
}

// Open reports whether the message is still out of the history: not
// resolved, or taken in by decision but not readable by this build.
func (q *Quarantine) Open() bool { return q.Resolution == nil || q.Resolution.Unread }

// ErrNoQuarantine is returned for a sequence the quarantine does not hold.
var ErrNoQuarantine = errors.New("engine: no such quarantined message")

// SubjectPathway reads the cluster and pathway an event subject names
// (stafet.ev.<cluster>.<pathway>); ok is false for any other subject.
func SubjectPathway(subject string) (cluster string, pathway uuid.UUID, ok bool) {
	rest, found := strings.CutPrefix(subject, "stafet.ev.")
	if !found {
		return "", uuid.Nil, false
	}
	cluster, id, found := strings.Cut(rest, ".")
	if !found || events.ValidateClusterID(cluster) != nil {
		return "", uuid.Nil, false
	}
	pathway, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", uuid.Nil, false
	}
	return cluster, pathway, true
}

// decisionPathway is the pathway a decision about a message on subject is
// stored as: the one the subject names, else one derived from the
// subject, which no real pathway has (events need a pathway).
func decisionPathway(subject string) uuid.UUID {
	if _, id, ok := SubjectPathway(subject); ok {
		return id
	}
	return uuid.NewSHA1(subjectIDs, []byte(subject))
}

var subjectIDs = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:stafet:subject"))

// decodeFunc appends the events of a stored message to dst
// (events.Decoder.DecodeCommit).
type decodeFunc func(dst []events.Envelope, data []byte) ([]events.Envelope, error)

// decodeOne is a decodeFunc for an occasional message: a Decoder's string
// cache would cost more than it saves.
func (s *Log) decodeOne(dst []events.Envelope, data []byte) ([]events.Envelope, error) {
	evs, err := s.codec.DecodeCommit(data)
	return append(dst, evs...), err
}

// readStored appends the events of one stored message to dst, or its
// stand-in if it does not decode, an event fails validation, or it is not
// stafetd's (its chain does not check, chain.go). at is asked for only
// for a stand-in (the message's stored time).
func (r storedReader) readStored(decode decodeFunc, dst []events.Envelope, seq uint64, subject string, st stamp, data []byte, at func() time.Time) []events.Envelope {
	n := len(dst)
	out, err := decode(dst, data)
	if err == nil {
		for i := n; i < len(out); i++ {
			out[i].Seq = seq
			if err = out[i].Validate(); err != nil {
				break
			}
		}
	}
	var q *events.Quarantined
	if err != nil {
		q = events.Quarantine(seq, subject, data, err)
	} else if err = r.chain.check(seq, r.from, subject, st, data); err != nil {
		q = events.Quarantine(seq, subject, data, err)
		q.Reason = events.QuarantineUnauthentic
	} else {
		return out
	}
	_, pathway, _ := SubjectPathway(subject)
	return append(out[:n], q.Envelope(pathway, at()))
}

// storedReader checks what it reads against the chain: with chain's key,
// messages from sequence from on must carry the chain.
type storedReader struct {
	chain *chainer
	from  uint64
}

// StandIn reports whether e is the stand-in of a quarantined message.
func StandIn(e *events.Envelope) (*events.Quarantined, bool) {
	q, ok := e.Payload.(*events.Quarantined)
	return q, ok
}

// book is a host's quarantine: the records of one projection's run over
// the log, kept with its checkpoint. Its own lock lets the quarantine be
// read while the projection is busy (or stuck).
type book struct {
	mu   sync.Mutex
	recs map[uint64]*Quarantine
	// n is len(recs), read without the lock: has is asked for every
	// event folded, and the book is nearly always empty.
	n atomic.Int64
}

func newBook() *book { return &book{recs: make(map[uint64]*Quarantine)} }

// add records a stand-in; false if the message was recorded already.
func (b *book) add(e *events.Envelope, q *events.Quarantined) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.recs[q.Seq]; ok {
		return false
	}
	cluster, _, _ := SubjectPathway(q.Subject)
	b.recs[q.Seq] = &Quarantine{
		Seq: q.Seq, Subject: q.Subject, Cluster: cluster, Pathway: e.Pathway, Reason: q.Reason,
		Detail: q.Detail, Hash: q.Hash, At: e.RecordedAt,
	}
	b.n.Store(int64(len(b.recs)))
	return true
}

// get returns a copy of one record.
func (b *book) get(seq uint64) (Quarantine, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, ok := b.recs[seq]
	if !ok {
		return Quarantine{}, false
	}
	return q.clone(), true
}

func (b *book) has(seq uint64) bool {
	if b.n.Load() == 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.recs[seq]
	return ok
}

func (b *book) setResolution(seq uint64, r *Resolution) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.recs[seq]; ok {
		q.Resolution = r
	}
}

func (q *Quarantine) clone() Quarantine {
	c := *q
	if q.Resolution != nil {
		r := *q.Resolution
		c.Resolution = &r
	}
	return c
}

// list returns copies of the records, by sequence.
func (b *book) list() []Quarantine {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Quarantine, 0, len(b.recs))
	for _, q := range b.recs {
		out = append(out, q.clone())
	}
	slices.SortFunc(out, func(a, b Quarantine) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// open returns the records of the messages still out of the history.
func (b *book) open() map[uint64]Quarantine {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[uint64]Quarantine)
	for seq, q := range b.recs {
		if q.Open() {
			out[seq] = q.clone()
		}
	}
	return out
}

// substitute returns history with the events of every message in out
// replaced by its stand-in: what a projection folded of the pathway.
func substitute(history []events.Envelope, out map[uint64]Quarantine) []events.Envelope {
	res := make([]events.Envelope, 0, len(history))
	for i := range history {
		e := &history[i]
		q, ok := out[e.Seq]
		if !ok {
			res = append(res, *e)
			continue
		}
		if _, isStandIn := StandIn(e); isStandIn {
			res = append(res, *e)
			continue
		}
		if len(res) > 0 && res[len(res)-1].Seq == e.Seq {
			continue // one stand-in for the message's events
		}
		stand := &events.Quarantined{Seq: q.Seq, Subject: q.Subject, Reason: q.Reason, Detail: q.Detail, Hash: q.Hash}
		res = append(res, stand.Envelope(q.Pathway, q.At))
	}
	return res
}

func (b *book) marshal() []byte {
	data, _ := json.Marshal(b.list()) // plain data: cannot fail
	return data
}

func (b *book) unmarshal(data []byte) error {
	var qs []Quarantine
	if err := json.Unmarshal(data, &qs); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recs = make(map[uint64]*Quarantine, len(qs))
	for i := range qs {
		b.recs[qs[i].Seq] = &qs[i]
	}
	b.n.Store(int64(len(b.recs)))
	return nil
}

// folder feeds one projection and keeps its quarantine: a stand-in is
// recorded and passed on; an event the projection returns an error for is
// quarantined as a whole message and its stand-in passed on instead; the
// operator's decisions are applied in log order.
//
// A projection must leave its state unchanged when Apply or Refold
// returns an error, so that skipping the event is skipping it cleanly.
type folder struct {
	s    *Log
	name string
	p    Projection
	book *book
}

func (s *Log) newFolder(name string, p Projection) *folder {
	return &folder{s: s, name: name, p: p, book: newBook()}
}

// storeError is a failure to read the log while applying: not the
// event's fault, so it stops the projection instead of quarantining.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func (f *folder) apply(ctx context.Context, evs []events.Envelope) error {
	for i := range evs {
		if err := f.event(ctx, &evs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (f *folder) event(ctx context.Context, e *events.Envelope) error {
	if q, ok := StandIn(e); ok {
		return f.quarantine(e, q)
	}
	if f.book.has(e.Seq) {
		// An earlier event of this message failed: the message is out as
		// a whole.
		return nil
	}
	err := f.p.Apply(*e)
	if err == nil {
		err = f.changePast(ctx, e)
	}
	if err == nil {
		return nil
	}
	var se *storeError
	if errors.As(err, &se) {
		return err
	}
	stand, rerr := f.s.standInFor(ctx, e.Seq, err)
	if rerr != nil {
		return &storeError{rerr}
	}
	return f.quarantine(&stand, stand.Payload.(*events.Quarantined))
}

func (f *folder) quarantine(e *events.Envelope, q *events.Quarantined) error {
	if !f.book.add(e, q) {
		return nil
	}
	f.s.log.Error("event quarantined: reading goes on without it; see stafet quarantine list", "projection", f.name,
		"seq", q.Seq, "subject", redactSubject(q.Subject), "reason", string(q.Reason), "detail", q.Detail)
	if err := f.p.Apply(*e); err != nil {
		return fmt.Errorf("engine: projection %s: the stand-in of seq %d: %w", f.name, q.Seq, err)
	}
	return nil
}

// redactSubject makes a subject fit for a log line: a pathway's subject
// holds no personal data, but a forged one may hold anything, so its
// tokens with five digits in a row are left out.
func redactSubject(s string) string {
	if _, _, ok := SubjectPathway(s); ok {
		return s
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		run := 0
		for _, c := range tok {
			if run = run + 1; c < '0' || c > '9' {
				run = 0
			}
			if run >= 5 {
				tokens[i] = "…"
				break
			}
		}
	}
	return strings.Join(tokens, ".")
}

// changePast applies a decision about a quarantined message to the book,
// and folds the pathway again after an event that changes its past.
func (f *folder) changePast(ctx context.Context, e *events.Envelope) error {
	if !e.ChangesPast() {
		return nil
	}
	before := f.book.open()
	r, resolves := e.Payload.(*events.QuarantineResolved)
	if resolves {
		if err := f.resolve(ctx, e, r); err != nil {
			return err
		}
	}
	rf, ok := f.p.(Refolder)
	if !ok {
		return nil
	}
	history, err := f.s.LoadUpTo(ctx, e.Pathway, e.Seq)
	if err != nil {
		return &storeError{err}
	}
	i := slices.IndexFunc(history, func(h events.Envelope) bool { return h.ID == e.ID })
	if i < 0 {
		if resolves {
			// A decision about a message whose subject names no pathway:
			// there is no pathway to fold.
			return nil
		}
		return fmt.Errorf("engine: refold: pathway %s's history does not hold event %s at seq %d (its subject names another pathway)", e.Pathway, e.ID, e.Seq)
	}
	// The history handed over ends with the event itself: a message may
	// hold more events after it (a MedCom RE_ is the Correction and the
	// corrected events).
	history = history[:i+1]
	return rf.Refold(e.Pathway, substitute(history[:i], before), substitute(history, f.book.open()))
}

// resolve applies the operator's decision to the book. The first decision
// about a message counts; a decision naming other bytes than the
// quarantined ones is ignored.
func (f *folder) resolve(ctx context.Context, e *events.Envelope, r *events.QuarantineResolved) error {
	q, ok := f.book.get(r.Seq)
	if !ok || q.Resolution != nil && !q.Resolution.Unread {
		// Not quarantined in this run (a build that reads it took it in
		// at its place), or decided already.
		return nil
	}
	if q.Hash != r.Hash {
		f.s.log.Warn("quarantine decision ignored: it names other bytes than the quarantined message", "seq", r.Seq, "decision_seq", e.Seq)
		return nil
	}
	res := &Resolution{Decision: r.Decision, Reason: r.Reason, Seq: e.Seq, At: e.RecordedAt}
	if r.Decision == events.TakeIn {
		readable, err := f.s.readable(ctx, &q)
		if err != nil {
			return &storeError{err}
		}
		res.Unread = !readable
	}
	f.book.setResolution(q.Seq, res)
	f.s.log.Info("quarantine decision applied", "projection", f.name, "seq", r.Seq, "decision", string(r.Decision), "unread", res.Unread)
	return nil
}

// readable reports whether this build takes in the quarantined message:
// it decodes and validates, and was not quarantined for a projection's
// error (which only a run of the projection can tell; a take-in decision
// tries it).
func (s *Log) readable(ctx context.Context, q *Quarantine) (bool, error) {
	m, err := s.getMsg(ctx, q.Seq, "")
	if err != nil {
		return false, err
	}
	if m == nil {
		return false, nil
	}
	evs := s.decodeStored(m)
	_, standIn := StandIn(&evs[0])
	return !standIn, nil
}

// Readable reports whether this build takes in the quarantined message
// at seq now (it decodes and validates): what a take-in decision needs.
func (h *Host) Readable(ctx context.Context, seq uint64) (bool, error) {
	q, ok := h.book.Load().get(seq)
	if !ok {
		return false, ErrNoQuarantine
	}
	return h.s.readable(ctx, &q)
}

// standInFor reads the stored message at seq and returns its stand-in
// for a projection's error.
func (s *Log) standInFor(ctx context.Context, seq uint64, cause error) (events.Envelope, error) {
	m, err := s.getMsg(ctx, seq, "")
	if err != nil {
		return events.Envelope{}, err
	}
	if m == nil {
		return events.Envelope{}, fmt.Errorf("engine: quarantine: no message at seq %d", seq)
	}
	q := events.Quarantine(seq, m.Subject, m.Data, cause)
	q.Reason = events.QuarantineProjectionFailed
	_, pathway, _ := SubjectPathway(m.Subject)
	return q.Envelope(pathway, m.Time), nil
}

// ResolveQuarantine stores the operator's decision about the quarantined
// message q (as a host lists it): a QuarantineResolved on the message's
// own subject, linked into that pathway's history. It returns the
// decision's sequence; every host applies it when it gets there.
func (s *Log) ResolveQuarantine(ctx context.Context, q Quarantine, decision events.QuarantineDecision, reason string) (uint64, error) {
	pathway := decisionPathway(q.Subject)
	e := events.Envelope{
		ID: events.NewID(), Pathway: pathway, Type: events.TypeQuarantineResolved, OccurredAt: time.Now().UTC(),
		Source:  events.Source{System: "stafet", MessageID: fmt.Sprintf("quarantine/%d", q.Seq)},
		Payload: &events.QuarantineResolved{Seq: q.Seq, Hash: q.Hash, Decision: decision, Reason: reason},
	}
	e.RecordedAt = e.OccurredAt
	if err := e.Validate(); err != nil {
		return 0, err
	}
	data, err := s.codec.EncodeCommit([]events.Envelope{e})
	if err != nil {
		return 0, err
	}
	mu := s.lock(pathway)
	mu.Lock()
	defer mu.Unlock()
	// The decision joins the pathway's linked history: its link and the
	// concurrency check are on the pathway's messages in every cluster, as
	// a pathway's first append's are; on a subject that names no pathway,
	// on that subject.
	filter := q.Subject
	if _, _, ok := SubjectPathway(q.Subject); ok {
		filter = PathwayFilter(pathway)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		var prev uint64
		var after Link
		last, err := s.getMsg(ctx, 0, filter)
		if err != nil {
			return 0, err
		}
		if last != nil {
			prev, after = last.Sequence, LinkOf(last.Header)
		}
		m := nats.NewMsg(q.Subject)
		m.Data = data
		s.Chain(m, prev, after)
		ack, err := s.publish(ctx, m, expectFilterSeq(prev, filter))
		if isWrongLastSeq(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("engine: quarantine decision: %w", err)
		}
		s.cache.drop(pathway)
		return ack.Sequence, nil
	}
	return 0, fmt.Errorf("engine: quarantine decision: %w", ErrConflict)
}
