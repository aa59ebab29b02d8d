package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// commandBase is what every command body may hold besides its own fields.
type commandBase struct {
	// Actor is the organisation acting. An organisation's token acts as
	// that organisation (Actor may be left out or must name it); the
	// operator must name the organisation it acts for.
	Actor events.OrgID `json:"actor,omitempty"`
	// OccurredAt is when it happened (valid time); default now.
	OccurredAt string `json:"occurred_at,omitempty"`
}

func (b *commandBase) base() *commandBase { return b }

// commandResult answers a command.
type commandResult struct {
	Pathway uuid.UUID `json:"pathway"`
	// Seqs are the log positions of the appended events; for a duplicate,
	// the position of the first event the original request appended.
	Seqs      []uint64        `json:"seqs"`
	Events    []appendedEvent `json:"events,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	// Existing: the patient already had this open pathway; nothing was
	// appended.
	Existing bool `json:"existing,omitempty"`
	// Offer and Document are the ids of a new offer or document.
	Offer    string `json:"offer,omitempty"`
	Document string `json:"document,omitempty"`
}

type appendedEvent struct {
	Seq  uint64      `json:"seq"`
	ID   uuid.UUID   `json:"id"`
	Type events.Type `json:"type"`
}

// actor decides who a command acts as.
func actor(p Principal, asked events.OrgID) (events.OrgID, error) {
	if !p.Operator {
		if asked != "" && asked != p.Org {
			return "", forbidden(fmt.Sprintf("this token acts as %s only", p.Org))
		}
		return p.Org, nil
	}
	if asked == "" {
		return "", Problem{Type: typeInvalidField, Title: "Invalid field", Status: http.StatusUnprocessableEntity, Field: "actor", Detail: "missing: the operator must name the organisation it acts for"}
	}
	if err := asked.Validate(); err != nil {
		return "", fieldError("actor", err)
	}
	return asked, nil
}

// idempotencyKey reads the Idempotency-Key header.
func idempotencyKey(r *http.Request) (string, error) {
	k := r.Header.Get("Idempotency-Key")
	if len(k) > 200 || strings.ContainsFunc(k, func(c rune) bool { return c < ' ' || c > '~' }) {
		return "", badParam("Idempotency-Key", "want at most 200 printable ASCII characters")
	}
	return k, nil
}

// fieldError names field in a validation error that names none.
func fieldError(field string, err error) error {
	var ve *events.ValidationError
	if errors.As(err, &ve) && ve.Field == "" {
		return &events.ValidationError{Field: field, Reason: ve.Reason}
	}
	return err
}

// renameFields turns the field names of the pathway rules ("data[0].to",
// "actor.org") into the request's: prefix + ".to", "actor".
func renameFields(err error, prefix string) error {
	var ve *events.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	f := ve.Field
	switch {
	case f == "actor.org":
		f = "actor"
	case f == "data[0]" || strings.HasPrefix(f, "data[0]."):
		f = strings.TrimPrefix(strings.TrimPrefix(f, "data[0]"), ".")
		if prefix != "" {
			f = strings.TrimSuffix(prefix+"."+f, ".")
		}
	case prefix != "" && f != "occurred_at" && f != "pathway":
		f = prefix + "." + f
	}
	return &events.ValidationError{Field: f, Reason: ve.Reason}
}

// pathwayFor loads a pathway a command is for, and says whether the
// caller is party to it (the history is not for a non-party's eyes).
func (s *Server) pathwayFor(ctx context.Context, p Principal, id uuid.UUID) ([]events.Envelope, bool, error) {
	history, err := s.cfg.Store.Log().Load(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if len(history) == 0 {
		return nil, false, events.ErrUnknownPathway
	}
	return history, p.mayRead(events.Parties(history)), nil
}

// answer answers with what a command appended to a pathway.
func (s *Server) answer(w http.ResponseWriter, pathway uuid.UUID, out engine.Result, status int, res commandResult) {
	res.Pathway = pathway
	if out.Duplicate {
		res.Duplicate, res.Seqs, res.Offer, res.Document = true, []uint64{out.FirstSeq}, "", ""
		writeJSON(w, http.StatusOK, res)
		return
	}
	for _, e := range out.Events {
		res.Seqs = append(res.Seqs, e.Seq)
		res.Events = append(res.Events, appendedEvent{Seq: e.Seq, ID: e.ID, Type: e.Type})
	}
	writeJSON(w, status, res)
}

// act runs a command on the pathway of the request's path through Act,
// the path every API's commands share, and answers with what it
// appended.
func (s *Server) act(w http.ResponseWriter, r *http.Request, b *commandBase, prefix string, res *commandResult, payload func(actor events.OrgID) (events.Payload, error)) {
	id, err := pathwayID(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	at, err := parseTime("occurred_at", b.OccurredAt)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	key, err := idempotencyKey(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	_, out, err := s.Act(r.Context(), principalFrom(r.Context()), Action{
		Pathway: id, Actor: b.Actor, At: at, System: "api", Key: key,
		Payload: func(actor events.OrgID, _ []events.Envelope) (events.Payload, error) { return payload(actor) },
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(renameFields(err, prefix)))
		return
	}
	s.answer(w, id, out, http.StatusCreated, *res)
}

func (s *Server) newCommand(r *http.Request, p Principal, b *commandBase) (events.Command, error) {
	org, err := actor(p, b.Actor)
	if err != nil {
		return events.Command{}, err
	}
	at, err := parseTime("occurred_at", b.OccurredAt)
	if err != nil {
		return events.Command{}, err
	}
	if at.IsZero() {
		at = s.cfg.Now().UTC()
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return events.Command{}, err
	}
	return events.Command{
		Actor:      events.Actor{Org: org},
		Source:     events.Source{System: "api", Org: org, MessageID: key},
		OccurredAt: at,
	}, nil
}

// openBody opens a pathway for a patient.
type openBody struct {
	commandBase
	Patient struct {
		CPR  string `json:"cpr"`
		Name string `json:"name,omitempty"`
	} `json:"patient"`
	// Cluster is the health cluster; default the municipality's, else
	// the acting organisation's.
	Cluster      string       `json:"cluster,omitempty"`
	Municipality events.OrgID `json:"municipality,omitempty"`
	GP           events.OrgID `json:"gp,omitempty"`
	Episode      string       `json:"episode,omitempty"`
}

// openPathway opens a pathway, or finds the patient's open one: the
// pathway index is shared with the MLLP and MedCom channels, so messages
// about the same patient meet the pathway opened here.
func (s *Server) openPathway(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalFrom(ctx)
	var b openBody
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	cmd, err := s.newCommand(r, p, &b.commandBase)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if b.Patient.CPR == "" {
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "patient.cpr", Reason: "missing"}))
		return
	}
	ref, err := s.cfg.Store.Vault().Ref(b.Patient.CPR)
	if err != nil {
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "patient.cpr", Reason: reason(err)}))
		return
	}
	opened := &events.PathwayOpened{Patient: ref, Cluster: b.Cluster, Municipality: b.Municipality, GP: b.GP, Episode: b.Episode}
	opened.AgeBand, _ = events.AgeBandOf(b.Patient.CPR, cmd.OccurredAt)
	if err := s.clusterFor(opened, cmd.Actor.Org, cmd.OccurredAt); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if err := opened.Validate(); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	cpr, _ := events.NormalizeCPR(b.Patient.CPR)
	cmd.Payloads = []events.Payload{opened}
	op, err := s.intake.Open(ctx, cmd, events.Identity{CPR: cpr, Name: b.Patient.Name})
	if op.History != nil {
		s.existing(w, r, p, op, err)
		return
	}
	if err != nil {
		writeProblem(w, r, ProblemFor(renameFields(err, "")))
		return
	}
	w.Header().Set("Location", "/v1/pathways/"+op.Pathway.String())
	s.answer(w, op.Pathway, op.Result, http.StatusCreated, commandResult{})
}

// existing answers an opening for a patient who has an open pathway. Who
// is not party to it (the engine's care relationship rule refused the
// opening) learns that it exists, so the attempt is recorded like a
// read.
func (s *Server) existing(w http.ResponseWriter, r *http.Request, p Principal, op engine.Opening, refusal error) {
	if refusal != nil && !p.Operator {
		if err := s.record(r.Context(), p, op.Pathway, events.Parties(op.History), "open-existing", false); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		writeProblem(w, r, ProblemFor(refusal))
		return
	}
	w.Header().Set("Location", "/v1/pathways/"+op.Pathway.String())
	writeJSON(w, http.StatusOK, commandResult{Pathway: op.Pathway, Existing: true, Seqs: []uint64{}})
}

// clusterFor fills in a new pathway's body from the directory, the one in
// force at the opening's valid time, and checks a given one is in force
// then.
func (s *Server) clusterFor(o *events.PathwayOpened, actor events.OrgID, at time.Time) error {
	if o.Cluster != "" {
		c, ok := s.cfg.Directory.Cluster(o.Cluster)
		if !ok {
			return &events.ValidationError{Field: "cluster", Reason: "unknown cluster " + fmt.Sprintf("%q", o.Cluster)}
		}
		if !c.InForce(at) {
			return &events.ValidationError{Field: "cluster", Reason: fmt.Sprintf("%q is not in force on %s (GET /v1/clusters?at= lists the bodies of a date)", o.Cluster, events.Day(at).Format(time.DateOnly))}
		}
		return nil
	}
	for _, org := range []events.OrgID{o.Municipality, actor, o.GP} {
		if c := s.cfg.Directory.ClusterAt(org, at); c != "" {
			o.Cluster = c
			return nil
		}
	}
	return &events.ValidationError{Field: "cluster", Reason: "missing, and neither the municipality nor the acting organisation is in a cluster of the directory"}
}

func reason(err error) string {
	var ve *events.ValidationError
	if errors.As(err, &ve) {
		return ve.Reason
	}
	return err.Error()
}

// eventBody is any event of the catalogue, as the generic endpoint takes
// it.
type eventBody struct {
	commandBase
	Type events.Type     `json:"type"`
	Data json.RawMessage `json:"data"`
}

// appendEvent appends one event of any type but PathwayOpened (POST
// /v1/pathways seals the identity) to a pathway.
func (s *Server) appendEvent(w http.ResponseWriter, r *http.Request) {
	var b eventBody
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	p := principalFrom(r.Context())
	switch b.Type {
	case "":
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "type", Reason: "missing"}))
		return
	case events.TypePathwayOpened:
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "type", Reason: "open a pathway with POST /v1/pathways"}))
		return
	case events.TypeDeadlineElapsed, events.TypePatientIdentityMerged, events.TypePatientIdentityLinked:
		if !p.Operator {
			writeProblem(w, r, forbidden(string(b.Type)+" is recorded by Stafet itself"))
			return
		}
	}
	payload, err := s.cfg.Store.Log().Codec().DecodePayload(b.Type, b.Data)
	if err != nil {
		writeProblem(w, r, ProblemFor(payloadError(err)))
		return
	}
	s.act(w, r, &b.commandBase, "data", &commandResult{}, func(events.OrgID) (events.Payload, error) { return payload, nil })
}

// payloadError names the data field of a payload that did not decode.
func payloadError(err error) error {
	var ve *events.ValidationError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ve):
		return renameFields(err, "data")
	case errors.Is(err, events.ErrUnknownType), errors.Is(err, events.ErrFutureSchema):
		return err
	case errors.As(err, &te):
		return &events.ValidationError{Field: strings.TrimSuffix("data."+te.Field, "."), Reason: fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value)}
	}
	return &events.ValidationError{Field: "data", Reason: strings.TrimPrefix(err.Error(), "events: ")}
}

// spec is a convenience command: a body that makes one payload.
type spec interface {
	base() *commandBase
	payload(r *http.Request, actor events.OrgID, res *commandResult) (events.Payload, error)
}

// command is the handler of a convenience endpoint with body B.
func command[B any, P interface {
	*B
	spec
}](s *Server) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := P(new(B))
		if err := s.decode(w, r, body, true); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		var res commandResult
		s.act(w, r, body.base(), "", &res, func(actor events.OrgID) (events.Payload, error) {
			return body.payload(r, actor, &res)
		})
	}
}

type offerBody struct {
	commandBase
	// Offer is the offer's id; default a new UUID.
	Offer    string                `json:"offer,omitempty"`
	To       events.OrgID          `json:"to"`
	What     events.Responsibility `json:"what"`
	Deadline string                `json:"deadline,omitempty"`
}

func (b *offerBody) payload(r *http.Request, actor events.OrgID, res *commandResult) (events.Payload, error) {
	deadline, err := parseTime("deadline", b.Deadline)
	if err != nil {
		return nil, err
	}
	if b.Offer == "" {
		b.Offer = events.NewID().String()
	}
	res.Offer = b.Offer
	return &events.HandoffOffered{Offer: b.Offer, From: actor, To: b.To, What: b.What, Deadline: deadline}, nil
}

type acceptBody struct{ commandBase }

func (b *acceptBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	return &events.HandoffAccepted{Offer: r.PathValue("offer"), By: actor}, nil
}

type rejectBody struct {
	commandBase
	Reason string `json:"reason"`
}

func (b *rejectBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	return &events.HandoffRejected{Offer: r.PathValue("offer"), By: actor, Reason: b.Reason}, nil
}

type withdrawBody struct {
	commandBase
	Reason string `json:"reason,omitempty"`
}

func (b *withdrawBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	return &events.HandoffWithdrawn{Offer: r.PathValue("offer"), By: actor, Reason: b.Reason}, nil
}

type releaseBody struct {
	commandBase
	What events.Responsibility `json:"what"`
}

func (b *releaseBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	return &events.ResponsibilityReleased{By: actor, What: b.What}, nil
}

type documentBody struct {
	commandBase
	// Document is the document's id; default a new UUID.
	Document  string              `json:"document,omitempty"`
	Kind      events.DocumentKind `json:"kind"`
	To        events.OrgID        `json:"to"`
	Deadline  string              `json:"deadline,omitempty"`
	InReplyTo string              `json:"in_reply_to,omitempty"`
}

func (b *documentBody) payload(r *http.Request, actor events.OrgID, res *commandResult) (events.Payload, error) {
	deadline, err := parseTime("deadline", b.Deadline)
	if err != nil {
		return nil, err
	}
	if b.Document == "" {
		b.Document = events.NewID().String()
	}
	res.Document = b.Document
	return &events.DocumentSent{Document: b.Document, Kind: b.Kind, From: actor, To: b.To, Deadline: deadline, InReplyTo: b.InReplyTo}, nil
}

type acknowledgeBody struct {
	commandBase
	// OK is false for a negative acknowledgement; default true.
	OK     *bool  `json:"ok,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (b *acknowledgeBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	ok := b.OK == nil || *b.OK
	return &events.DocumentAcknowledged{Document: r.PathValue("doc"), By: actor, OK: ok, Reason: b.Reason}, nil
}

type closeBody struct {
	commandBase
	Reason string `json:"reason"`
}

func (b *closeBody) payload(r *http.Request, actor events.OrgID, _ *commandResult) (events.Payload, error) {
	return &events.PathwayClosed{Reason: b.Reason}, nil
}
