package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
// or find the pathway by its patient (the identity on a read, a FHIR
// search by patient), without breaking the glass: the operator, or an
// organisation with a current or recent care relationship with the
// patient (events.CareOf; recent is events.CareWindow, 30 days). Every
// API asks this one function.
func (s *Server) MaySeePatient(p Principal, history []events.Envelope) bool {
	return p.Operator || events.CareOf(history, p.Org, s.cfg.Now()).Any()
}

// Read says what a read of a pathway is, as the access log records it.
type Read struct {
	// What is recorded: "pathway", "pathway+identity", "fhir/Task", …
	What string
	// Patient marks a read that learns who the patient is or finds the
	// pathway by the patient: MaySeePatient must allow it too.
	Patient bool
}

// ReasonHeader carries the reason for a break-the-glass read.
const ReasonHeader = "Stafet-Access-Reason"

// Bounds of a stated reason, in characters: long enough to say something
// a reviewer can check, short enough for an access log.
const minReason, maxReason = 10, 500

// accessReason reads a request's stated reason for a break-the-glass
// read: none, or 10 to 500 printable characters.
func accessReason(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get(ReasonHeader))
	if v == "" {
		return "", nil
	}
	if n := utf8.RuneCountInString(v); n < minReason || n > maxReason || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return "", badParam(ReasonHeader, fmt.Sprintf("want the reason for reading, %d to %d printable characters", minReason, maxReason))
	}
	return v, nil
}

// ReadPathway loads a pathway for p and records the read in the access
// log, allowed or not, before anything is answered. It returns the
// history, or a Problem: 404 for an unknown pathway, 403 when p may not
// read it, 503 when the access log cannot be written (the pathway is
// then not shown).
//
// A read that p's care relationships do not allow is a break-the-glass
// read when p states a reason (Principal.Reason, the Stafet-Access-Reason
// header): it is allowed, the access log keeps the reason, and every
// party of the pathway is alerted before anything is answered.
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
	reason := ""
	if !allowed && p.Reason != "" && s.cfg.Alerts != nil {
		allowed, reason = true, p.Reason
	}
	if err := s.recordReason(ctx, p, id, ps, r.What, allowed, reason); err != nil {
		s.log.Error("access log write failed; read refused", "err", err)
		return nil, unrecorded
	}
	if reason != "" {
		rec := engine.AccessRecord{At: s.cfg.Now().UTC(), Reader: p.Name(), Pathway: id, What: r.What, Allowed: true, Reason: reason}
		if err := s.cfg.Alerts.BrokeGlass(ctx, history, rec); err != nil {
			s.log.Error("break-the-glass alert not stored; read refused", "err", err)
			return nil, unrecorded
		}
	}
	if !allowed {
		detail := "this organisation is not party to the pathway; the attempt is recorded"
		if p.mayRead(ps) {
			detail = "this organisation has no current or recent care relationship with the patient (docs/security.md); state a reason in " + ReasonHeader + " to break the glass: the parties are alerted; the attempt is recorded"
		}
		return nil, forbidden(detail)
	}
	return history, nil
}

// unrecorded refuses a read whose access record or alert could not be
// stored.
var unrecorded = Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Detail: "the access log could not be written, so the pathway is not shown; retry later"}

// Alerter tells a pathway's parties of a break-the-glass read of it.
// alerts.Service has it.
type Alerter interface {
	BrokeGlass(ctx context.Context, history []events.Envelope, rec engine.AccessRecord) error
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

// Act runs an Action for p: p acts as its own organisation (the operator
// as the one it names), and the pathway rules decide, the care
// relationship rule among them: a party may send what the rules allow, a
// non-party only what starts its own care (an admission to itself), and
// it is shown nothing of the pathway meanwhile. The JSON API's commands and the FHIR facade's Task
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
	history, party, err := s.pathwayFor(ctx, p, a.Pathway)
	if err != nil {
		return cmd, engine.Result{}, err
	}
	pl, err := s.payload(a, org, history, party)
	if err != nil {
		return cmd, engine.Result{}, err
	}
	cmd.Payloads = []events.Payload{pl}
	res, err := s.cfg.Store.Log().Execute(ctx, cmd)
	return cmd, res, err
}

// payload makes an Action's event. A caller that is not party to the
// pathway sees none of it: its payload is made without the history, and
// one that needs the history (an answer to an offer, a FHIR If-Match) is
// refused as the pathway's own would be.
func (s *Server) payload(a Action, org events.OrgID, history []events.Envelope, party bool) (events.Payload, error) {
	if !party {
		if a.Expect != 0 {
			return nil, forbidden(notParty)
		}
		pl, err := a.Payload(org, nil)
		if err != nil {
			return nil, forbidden(notParty)
		}
		return pl, nil
	}
	if a.Expect != 0 && history[len(history)-1].Seq != a.Expect {
		return nil, ErrPreconditionFailed
	}
	return a.Payload(org, history)
}

const notParty = "this organisation is not party to the pathway"
