package httpapi

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Who may read and do what is decided here, once, for every transport
// mounted on the API: the JSON API and the FHIR facade ask the same
// functions, so the rules cannot drift apart.

// MayRead reports whether p may read the pathway whose history this is:
// the operator, or an organisation party to it.
func (s *Server) MayRead(p Principal, history []events.Envelope) bool {
	return p.mayRead(events.Parties(history))
}

// MaySeePatient reports whether p may learn who a pathway's patient is,
// or find the pathway by its patient: the name and CPR number on a
// pathway read, the patients of a worklist, a FHIR search by patient. It
// is the one place that decides it, for every API at once, so the rules
// of care relationships tighten it here alone. Today: an organisation
// party to the pathway. The operator runs the service and is party to no
// pathway: it reads pathways by pseudonym only.
func (s *Server) MaySeePatient(p Principal, history []events.Envelope) bool {
	return !p.Operator && slices.Contains(events.Parties(history), p.Org)
}

// Read says what a read of a pathway is, as the access log records it.
type Read struct {
	// What is recorded: "pathway", "pathway+identity", "fhir/Task", …
	What string
	// Patient marks a read that learns who the patient is or finds the
	// pathway by the patient: MaySeePatient must allow it too.
	Patient bool
}

// ReadPathway loads a pathway for p and records the read in the access
// log, allowed or not, before anything is answered. It returns the
// history, or a Problem: 404 for an unknown pathway, 403 when p may not
// read it, 503 when the access log cannot be written (the pathway is
// then not shown).
func (s *Server) ReadPathway(ctx context.Context, p Principal, id uuid.UUID, r Read) ([]events.Envelope, error) {
	history, err := s.cfg.Store.Log().Load(ctx, id)
	if err != nil {
		return nil, ProblemFor(err)
	}
	if len(history) == 0 {
		return nil, ProblemFor(events.ErrUnknownPathway)
	}
	ps := events.Parties(history)
	allowed := p.mayRead(ps) && (!r.Patient || s.MaySeePatient(p, history))
	if err := s.record(ctx, p, id, ps, r.What, allowed); err != nil {
		s.log.Error("access log write failed; read refused", "err", err)
		return nil, Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Detail: "the access log could not be written, so the pathway is not shown; retry later"}
	}
	if !allowed && p.mayRead(ps) {
		return nil, forbidden("only the pathway's parties see who its patient is; the attempt is recorded")
	}
	if !allowed {
		return nil, forbidden("this organisation is not party to the pathway; the attempt is recorded")
	}
	return history, nil
}

// Action is a command on an existing pathway, as every API runs one.
type Action struct {
	Pathway uuid.UUID
	// Actor is the organisation the caller says it acts as: an
	// organisation's token may leave it out or must name itself; the
	// operator must name one.
	Actor events.OrgID
	// At is the valid time; zero means now.
	At time.Time
	// System names the channel in the event's source ("api", "fhir");
	// Key is the caller's idempotency key, if any.
	System, Key string
	// Expect, when not 0, is the pathway's last sequence the caller saw
	// (a FHIR If-Match): a pathway that moved on since is
	// ErrPreconditionFailed.
	Expect uint64
	// Payload makes the event once the acting organisation is known.
	Payload func(actor events.OrgID, history []events.Envelope) (events.Payload, error)
}

// ErrPreconditionFailed answers an Action whose Expect the pathway has
// moved on from.
var ErrPreconditionFailed = Problem{Type: typeConflict, Title: "Precondition failed", Status: http.StatusPreconditionFailed, Detail: "the pathway changed since the version given; read it again"}

// Act runs an Action for p: p must be party to the pathway, acts as its
// own organisation (the operator as the one it names), and the pathway
// rules decide. The JSON API's commands and the FHIR facade's Task
// updates both run through it. Errors are Problems or the engine's.
func (s *Server) Act(ctx context.Context, p Principal, a Action) (events.Command, engine.Result, error) {
	org, err := actor(p, a.Actor)
	if err != nil {
		return events.Command{}, engine.Result{}, err
	}
	if a.At.IsZero() {
		a.At = s.cfg.Now().UTC()
	}
	cmd := events.Command{
		Pathway:    a.Pathway,
		Actor:      events.Actor{Org: org},
		Source:     events.Source{System: a.System, Org: org, MessageID: a.Key},
		OccurredAt: a.At,
	}
	history, err := s.pathwayFor(ctx, p, a.Pathway)
	if err != nil {
		return cmd, engine.Result{}, err
	}
	if a.Expect != 0 && history[len(history)-1].Seq != a.Expect {
		return cmd, engine.Result{}, ErrPreconditionFailed
	}
	pl, err := a.Payload(org, history)
	if err != nil {
		return cmd, engine.Result{}, err
	}
	cmd.Payloads = []events.Payload{pl}
	res, err := s.cfg.Store.Log().Execute(ctx, cmd)
	return cmd, res, err
}
