package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Result says what an append did.
type Result struct {
	// Events are the events appended (or, for a duplicate, nil).
	Events []events.Envelope
	// FirstSeq and LastSeq are the log positions of the command's events;
	// for a duplicate, the position of the first event the original
	// message produced.
	FirstSeq, LastSeq uint64
	// Duplicate is true when the source message had already been
	// appended; nothing new was written.
	Duplicate bool
	// link is the link of the message appended (chain.go).
	link Link
}

// maxAttempts bounds Execute's retries on concurrent change of a pathway.
const maxAttempts = 8

// Execute runs a command against a pathway: it loads the pathway, decides
// with the pathway rules and appends the result with an optimistic
// concurrency check, deciding again on fresh state if another writer got
// there first. A command whose source message was appended before is not
// appended again (Result.Duplicate), however long ago.
//
// The pathway rules hold every writer to the care relationship rule
// (events.Pathway.MayWrite): an acting organisation that is not party to
// the pathway may only start its own care. Such a join is recorded in the
// access log, under every existing party, before it is appended; the
// parties are alerted from the event itself (the alert service).
func (s *Log) Execute(ctx context.Context, cmd events.Command) (Result, error) {
	key := cmd.Source.Key()
	if key != "" && opens(cmd.Payloads) {
		// A resent opening message must not open a second pathway: the
		// index remembers it. Every other resend meets its original in the
		// pathway's own history (SourceSeq below).
		if res, ok, err := s.lookupDuplicate(ctx, key); err != nil || ok {
			if ok {
				s.stats.Duplicates.Add(1)
			}
			return res, err
		}
	}
	mu := s.lock(cmd.Pathway)
	mu.Lock()
	defer mu.Unlock()
	var lastErr error
	fresh, recorded := false, false
	for attempt := 0; attempt < maxAttempts; attempt++ {
		p, head, authoritative, err := s.state(ctx, cmd, fresh)
		if err != nil {
			return Result{}, err
		}
		if seq, ok := p.SourceSeq(key); key != "" && ok {
			s.stats.Duplicates.Add(1)
			return Result{FirstSeq: seq, LastSeq: seq, Duplicate: true}, nil
		}
		evs, err := events.Decide(p, cmd)
		if err != nil && !authoritative {
			// A refusal on a cached or assumed state may only mean another
			// instance moved the pathway on: decide again on the log's own
			// state before refusing.
			s.cache.drop(cmd.Pathway)
			fresh = true
			continue
		}
		if err != nil {
			s.stats.Rejected.Add(1)
			return Result{}, err
		}
		if joins(p, cmd) && !recorded {
			if err := s.recordJoin(ctx, p, cmd, evs); err != nil {
				return Result{}, err
			}
			recorded = true
		}
		wasClosed, links := p.Closed(), p.Links()
		res, err := s.append(ctx, cluster(p, evs), p.LastSeq(), head, evs)
		if errors.Is(err, ErrConflict) {
			s.stats.Conflicts.Add(1)
			s.cache.drop(cmd.Pathway)
			lastErr, fresh = err, true
			continue
		}
		if err != nil {
			return res, err
		}
		if res.Duplicate {
			// The server had the message already; what it stored may differ
			// from what was just decided, so forget the state.
			s.cache.drop(cmd.Pathway)
			return Result{FirstSeq: res.FirstSeq, LastSeq: res.LastSeq, Duplicate: true}, s.Commit(ctx)
		}
		s.remember(p, res.link, res.Events)
		if p.Closed() != wasClosed {
			s.markPatient(ctx, p)
		}
		s.unlinkPatients(ctx, p, links)
		// One commit for the events and the patient's mark.
		return res, s.Commit(ctx)
	}
	return Result{}, fmt.Errorf("engine: gave up after %d attempts: %w", maxAttempts, lastErr)
}

// joins reports a command by which its acting organisation joins a
// pathway it is not party to (the rules let only its own care start so).
func joins(p *events.Pathway, cmd events.Command) bool {
	return cmd.Actor.Org != "" && p.Opened() && !p.Party(cmd.Actor.Org)
}

// recordJoin writes the join to the access log under each of the
// pathway's parties: it gives the joiner what a party may read. It is
// written before the append, so no join goes unrecorded; a record whose
// append then failed is the trace of an attempt, and the sender's resend
// records it again.
func (s *Log) recordJoin(ctx context.Context, p *events.Pathway, cmd events.Command, evs []events.Envelope) error {
	if s.access == nil {
		return nil
	}
	by := evs[0].Type
	for i := range evs {
		if events.StartsCare(evs[i].Payload, cmd.Actor.Org) {
			by = evs[i].Type
			break
		}
	}
	rec := AccessRecord{At: time.Now().UTC(), Reader: string(cmd.Actor.Org), Pathway: cmd.Pathway, What: JoinWhat(by), Allowed: true}
	if err := s.access.Record(ctx, rec, p.Parties()); err != nil {
		return err
	}
	s.stats.Joins.Add(1)
	return nil
}

// state returns the pathway's state and the link of its last message:
// from the cache (or, for an opening, assumed empty) unless fresh is
// asked for, else loaded from the log through the stream leader, which is
// authoritative.
func (s *Log) state(ctx context.Context, cmd events.Command, fresh bool) (p *events.Pathway, head Link, authoritative bool, err error) {
	// A Correction folds the history again without the annulled event:
	// it needs the whole history, which the cache does not keep.
	if !fresh && !cmd.Corrects() {
		if p, head := s.cache.get(cmd.Pathway); p != nil {
			return p, head, false, nil
		}
		if opens(cmd.Payloads) {
			// A command that opens a pathway expects it to be new: try that
			// without a load; if it exists, the append meets a conflict and
			// the retry loads it.
			return events.Fold(nil), Link{}, false, nil
		}
	}
	history, head, err := s.load(ctx, cmd.Pathway, 0)
	if err != nil {
		return nil, head, false, err
	}
	p = events.Fold(history)
	if !cmd.Corrects() {
		// Deciding copies the state; without the history the copy is
		// small.
		p.Trim()
	}
	return p, head, true, nil
}

// remember applies the appended events to the state and keeps it, so the
// next command on the pathway needs no load. The state is kept trimmed
// (no history) so that the cache can hold every open pathway. A
// Correction rewrites history (a Correction is decided on an untrimmed
// state, which Apply folds again), so its state is dropped and folded
// afresh next time; so is a closed pathway's, which takes no more
// commands but the odd late acknowledgement or Correction.
func (s *Log) remember(p *events.Pathway, head Link, appended []events.Envelope) {
	corrected := false
	for i := range appended {
		_, ok := appended[i].Annuls()
		corrected = corrected || ok
		p.Apply(&appended[i])
	}
	if corrected {
		s.cache.drop(p.ID())
		return
	}
	if p.Closed() {
		s.cache.drop(p.ID())
		return
	}
	p.Trim()
	s.cache.put(p.ID(), p, head)
}

func cluster(p *events.Pathway, evs []events.Envelope) string {
	if c := p.Cluster(); c != "" {
		return c
	}
	for i := range evs {
		if o, ok := evs[i].Payload.(*events.PathwayOpened); ok {
			return o.Cluster
		}
	}
	return ""
}

// markPatient keeps the patient's entry in the pathway index in step with
// a pathway that closed (or, through a Correction, opened again), before
// the append's commit, so the two are on disk together. A failure is
// logged, not returned: the events are appended, and a message that
// meets the closed pathway through a stale entry marks it then (Intake).
func (s *Log) markPatient(ctx context.Context, p *events.Pathway) {
	if s.pathways == nil || p.Patient() == "" {
		return
	}
	if err := s.pathways.markPatient(ctx, p.Patient(), p.ID(), p.Closed()); err != nil {
		s.log.Warn("pathway index not updated for a pathway that closed or reopened; the next message of the patient does", "pathway", p.ID(), "closed", p.Closed(), "err", err)
	}
}

// unlinkPatients sends each identity whose link to the pathway a
// Correction annulled (links: the pathway's Links before the append) back
// to the pathway the link named, or to none, if its entry in the pathway
// index still names this pathway, before the append's commit: any
// Correction undoes a join (HL7 A37, or an operator's), not only the
// intake's. A failure is logged, not returned: the events are appended.
func (s *Log) unlinkPatients(ctx context.Context, p *events.Pathway, links map[events.PatientRef]uuid.UUID) {
	if s.pathways == nil {
		return
	}
	for r, joined := range links {
		if _, still := p.Linked(r); still {
			continue
		}
		if err := s.pathways.movePatient(ctx, r, p.ID(), joined); err != nil {
			s.log.Warn("pathway index not updated for an identity unlinked from a pathway", "pathway", p.ID(), "err", err)
		}
	}
}

// Append writes events to one pathway if its last sequence is still
// expectedLast (0: the pathway must be new), atomically: all or none. It
// returns ErrConflict if another writer appended first. Most callers want
// Execute, which decides and retries.
func (s *Log) Append(ctx context.Context, cluster string, expectedLast uint64, evs []events.Envelope) (Result, error) {
	var after Link
	if expectedLast > 0 {
		m, err := s.getMsg(ctx, expectedLast, "")
		if err != nil {
			return Result{}, err
		}
		if m != nil {
			after = LinkOf(m.Header)
		}
	}
	res, err := s.append(ctx, cluster, expectedLast, after, evs)
	if err != nil {
		return res, err
	}
	return res, s.Commit(ctx)
}

// append is Append without waiting for the commit, after the pathway's
// last message, whose link is after.
func (s *Log) append(ctx context.Context, cluster string, expectedLast uint64, after Link, evs []events.Envelope) (Result, error) {
	if len(evs) == 0 {
		return Result{}, &events.ValidationError{Field: "data", Reason: "no events"}
	}
	if err := events.ValidateClusterID(cluster); err != nil {
		return Result{}, err
	}
	msg, link, err := s.message(cluster, expectedLast, after, evs)
	if err != nil {
		return Result{}, err
	}
	filter := PathwayFilter(evs[0].Pathway)
	// A pathway's first message is checked against its id in every
	// cluster, so no id opens twice; later ones against its own literal
	// subject, the server's cheapest check.
	expect := expectSubjectSeq(expectedLast)
	if expectedLast == 0 {
		expect = expectFilterSeq(0, filter)
	}
	s.appending.Add(1)
	defer s.appending.Add(-1)
	ack, err := s.publishStored(ctx, msg, expect)
	if err != nil {
		if isWrongLastSeq(err) {
			return s.checkRetried(ctx, filter, evs, err)
		}
		return Result{}, fmt.Errorf("engine: append: %w", err)
	}
	res := Result{Events: evs, FirstSeq: ack.Sequence, LastSeq: ack.Sequence, Duplicate: ack.Duplicate, link: link}
	setSeqs(res)
	s.stats.Appends.Add(1)
	s.stats.Events.Add(uint64(len(evs)))
	if opens([]events.Payload{evs[0].Payload}) {
		s.index(ctx, evs[0].Source.Key(), res.FirstSeq)
	}
	return res, nil
}

// message encodes the events of one command as one NATS message (see
// events.Codec.EncodeCommit), chained after the pathway's last message
// (prev, whose link is after): they are stored together or not at all, at
// the cost of one write. Every event of a command shares the message's
// sequence.
func (s *Log) message(cluster string, prev uint64, after Link, evs []events.Envelope) (*nats.Msg, Link, error) {
	now := time.Now().UTC()
	for i := range evs {
		e := &evs[i]
		if e.RecordedAt.IsZero() {
			e.RecordedAt = now
		}
		if err := e.Validate(); err != nil {
			return nil, Link{}, err
		}
		if e.Pathway != evs[0].Pathway {
			return nil, Link{}, &events.ValidationError{Field: "pathway", Reason: "one append holds one pathway's events"}
		}
	}
	if len(evs) > maxCommit {
		return nil, Link{}, &events.ValidationError{Field: "data", Reason: fmt.Sprintf("more than %d events in one command", maxCommit)}
	}
	data, err := s.codec.EncodeCommit(evs)
	if err != nil {
		return nil, Link{}, err
	}
	m := nats.NewMsg(Subject(cluster, evs[0].Pathway))
	m.Data = data
	return m, s.Chain(m, prev, after), nil
}

// No Nats-Msg-Id header: the expected-sequence check already stops a
// retried publish from landing twice (checkRetried tells our own retry
// from a real conflict), the pathway's history and the idempotency index
// stop a resent source message, and the header would cost the server a
// de-duplication lookup on every append.
//
// maxCommit bounds the events of one command.
const maxCommit = 1000

func setSeqs(res Result) {
	for i := range res.Events {
		res.Events[i].Seq = res.FirstSeq
	}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// checkRetried tells a real conflict from our own retry: on R1 a retried
// publish with the same message id and expectation is rejected as a wrong
// last sequence rather than reported as a duplicate (shared/NATS.md).
func (s *Log) checkRetried(ctx context.Context, filter string, evs []events.Envelope, cause error) (Result, error) {
	last, err := s.stream.GetLastMsgForSubject(ctx, filter)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %v", ErrConflict, cause)
	}
	stored, err := s.codec.DecodeCommit(last.Data)
	if err != nil || stored[len(stored)-1].ID != evs[len(evs)-1].ID {
		return Result{}, fmt.Errorf("%w: %v", ErrConflict, cause)
	}
	res := Result{Events: evs, FirstSeq: last.Sequence, LastSeq: last.Sequence, link: LinkOf(last.Header)}
	setSeqs(res)
	return res, nil
}

// publish sends one message with the publisher and waits for its ack:
// the publisher shares one reply subscription across all writers, which
// costs less per append than a request each.
//
// Each attempt waits at most attemptTimeout: a request lost while a
// cluster elects a new stream leader is sent again rather than waited on
// for the caller's whole deadline. Sending the same message again is safe:
// its expected sequence lets it land once, and Append recognises its own
// earlier landing (checkRetried).
func (s *conn) publish(ctx context.Context, m *nats.Msg, opts ...pubOpt) (*jetstream.PubAck, error) {
	ack, err := s.publishStored(ctx, m, opts...)
	if err != nil {
		return nil, err
	}
	return ack, s.Commit(ctx)
}

// publishStored is publish without waiting for the commit: it returns
// once the server has stored the message.
func (s *conn) publishStored(ctx context.Context, m *nats.Msg, opts ...pubOpt) (*jetstream.PubAck, error) {
	setOpts(m, opts)
	for {
		w, err := s.pub.send(m)
		if err != nil {
			return nil, err
		}
		ack, err := w.result(ctx)
		if err == nil {
			if ack.Stream == EventStream {
				s.noteStored(ack.Sequence)
			}
			return ack, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !unanswered(err) {
			return nil, err
		}
		s.log.Debug("append attempt unanswered; sending again")
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// attemptTimeout bounds one request to JetStream; a cluster elects a new
// leader in about a second.
const attemptTimeout = 2 * time.Second

// opens reports whether a command opens a pathway.
func opens(ps []events.Payload) bool {
	if len(ps) == 0 {
		return false
	}
	_, ok := ps[0].(*events.PathwayOpened)
	return ok
}
