package fhir

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// maxBody bounds a request body: a Task or a Subscription is small.
const maxBody = 64 << 10

// readJSON reads a FHIR JSON request body.
func readJSON(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != MediaType && mt != "application/json" {
		return nil, problem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Content-Type", "send application/fhir+json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return nil, problem(http.StatusRequestEntityTooLarge, "too-large", "", "the body is larger than "+strconv.Itoa(maxBody)+" bytes or unreadable")
	}
	return b, nil
}

// updateTask runs the status change an update asks for as the JSON
// API's command: the Task's owner accepts, rejects (with a reason in
// statusReason), starts (in-progress) or completes it; its requester
// cancels it. If-Match, when given, must name the current version.
func (s *Server) updateTask(w http.ResponseWriter, r *http.Request) {
	b, err := readJSON(w, r)
	if err != nil {
		fail(w, r, err)
		return
	}
	want, err := fhir.UnmarshalTask(b)
	if err != nil {
		writeOutcome(w, r, problem(http.StatusBadRequest, "malformed-json", "", "not a FHIR Task: "+err.Error()))
		return
	}
	id := r.PathValue("id")
	if want.Id == nil || *want.Id != id {
		writeOutcome(w, r, problem(http.StatusBadRequest, "invalid-field", "Task.id", "the Task's id must be the id in the URL"))
		return
	}
	pw, key, ok := splitID(id)
	if !ok {
		writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such Task"))
		return
	}
	expect, err := ifMatch(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	p := httpapi.PrincipalOf(r)
	act := httpapi.Action{Pathway: pw, System: "fhir", Key: r.Header.Get("Idempotency-Key"), Expect: expect}
	if p.Operator {
		// The operator acts for the organisation whose move it is, as
		// the JSON API's operator names the actor.
		if act.Actor, err = s.moverOf(r, pw, key, want.Status); err != nil {
			fail(w, r, err)
			return
		}
	}
	var unchanged bool
	act.Payload = func(actor events.OrgID, history []events.Envelope) (events.Payload, error) {
		f := fold(history)
		h, ok := f.offerOf(key)
		if !ok {
			return nil, problem(http.StatusNotFound, "not-found", "id", "no such Task")
		}
		pl, err := transition(s.task(f, h), h, want, actor)
		if errors.Is(err, errUnchanged) {
			unchanged = true
		}
		return pl, err
	}
	_, _, err = s.cfg.API.Act(r.Context(), p, act)
	if err != nil && !unchanged {
		fail(w, r, err)
		return
	}
	history, err := s.cfg.API.ReadPathway(r.Context(), p, pw, httpapi.Read{What: "fhir/Task"})
	if err != nil {
		fail(w, r, err)
		return
	}
	v, meta, ok := taskKind.render(s, fold(history), key)
	if !ok {
		writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such Task"))
		return
	}
	writeVersioned(w, meta, v)
}

// ifMatch reads If-Match: W/"<seq>" or "<seq>".
func ifMatch(r *http.Request) (uint64, error) {
	v := r.Header.Get("If-Match")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(v, "W/"), `"`), 10, 64)
	if err != nil || n == 0 {
		return 0, problem(http.StatusBadRequest, "bad-parameter", "If-Match", `want the ETag of a version, W/"<seq>"`)
	}
	return n, nil
}

// moverOf names who makes a status change on a Task: its requester
// cancels it, its owner does the rest.
func (s *Server) moverOf(r *http.Request, pw uuid.UUID, key string, status fhir.TaskStatus) (events.OrgID, error) {
	history, err := s.cfg.Store.Log().Load(r.Context(), pw)
	if err != nil {
		return "", err
	}
	h, ok := fold(history).offerOf(key)
	if !ok {
		return "", problem(http.StatusNotFound, "not-found", "id", "no such Task")
	}
	if status == fhir.TaskStatusCancelled {
		return h.From, nil
	}
	return h.To, nil
}

var errUnchanged = problem(http.StatusOK, "unchanged", "", "the Task already has this status")

// transition returns the event a Task update asks for: the one status
// change from the current Task to the wanted one (docs/fhir.md).
func transition(cur fhir.Task, h projections.Handoff, want fhir.Task, actor events.OrgID) (events.Payload, error) {
	for _, c := range []struct {
		field     string
		got, have *fhir.Reference
	}{{"Task.owner", want.Owner, cur.Owner}, {"Task.requester", want.Requester, cur.Requester}} {
		if c.got != nil && orgOfRef(c.got) != orgOfRef(c.have) {
			return nil, problem(http.StatusUnprocessableEntity, "invalid-field", c.field, "cannot change; withdraw the offer and offer anew")
		}
	}
	from, to := cur.Status, want.Status
	if from == to {
		return nil, errUnchanged
	}
	rule := func(name, detail string) error {
		return problem(http.StatusConflict, "rule", "Task.status", detail+" (rule "+name+")")
	}
	switch {
	case from == fhir.TaskStatusRequested && to == fhir.TaskStatusAccepted:
		return &events.HandoffAccepted{Offer: h.Offer, By: actor}, nil
	case from == fhir.TaskStatusRequested && to == fhir.TaskStatusRejected:
		reason := statusReason(want)
		if reason == "" {
			return nil, problem(http.StatusUnprocessableEntity, "invalid-field", "Task.statusReason", "a rejection needs a reason (statusReason.text)")
		}
		return &events.HandoffRejected{Offer: h.Offer, By: actor, Reason: reason}, nil
	case from == fhir.TaskStatusRequested && to == fhir.TaskStatusCancelled:
		return &events.HandoffWithdrawn{Offer: h.Offer, By: actor, Reason: statusReason(want)}, nil
	case from == fhir.TaskStatusAccepted && to == fhir.TaskStatusInProgress:
		if actor != h.To {
			return nil, rule("only-owner-starts", "only the Task's owner "+string(h.To)+" starts it")
		}
		return &events.ServiceStarted{By: actor, What: h.What}, nil
	case (from == fhir.TaskStatusAccepted || from == fhir.TaskStatusInProgress) && to == fhir.TaskStatusCompleted:
		return &events.ResponsibilityReleased{By: actor, What: h.What}, nil
	}
	return nil, rule("task-transition", "a Task goes requested → accepted, rejected or cancelled, then accepted → in-progress → completed; not "+from.Code()+" → "+to.Code())
}

func statusReason(t fhir.Task) string {
	if t.StatusReason == nil {
		return ""
	}
	if t.StatusReason.Text != nil {
		return strings.TrimSpace(*t.StatusReason.Text)
	}
	for _, c := range t.StatusReason.Coding {
		if c.Display != nil {
			return *c.Display
		}
		if c.Code != nil {
			return *c.Code
		}
	}
	return ""
}
