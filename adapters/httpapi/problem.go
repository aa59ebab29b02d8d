package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Problem is an RFC 9457 problem detail, extended with the field and rule
// that went wrong.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Field names the offending request field (e.g. "data.deadline").
	Field string `json:"field,omitempty"`
	// Rule names the pathway rule a command broke.
	Rule string `json:"rule,omitempty"`
	// Code is a machine-readable reason.
	Code string `json:"code,omitempty"`
}

// problemBase prefixes problem types; the docs explain each one.
const problemBase = "https://stafet.dk/problems/"

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// problemFor maps an error from the layers below to a problem.
func problemFor(err error) Problem {
	var ve *events.ValidationError
	var re *events.RuleError
	var me *events.MessageError
	var ie *ingest.Error
	switch {
	case errors.As(err, &ie):
		p := problemFor(ie.Err)
		p.Detail = ie.Err.Error()
		return p
	case errors.As(err, &ve):
		return Problem{Type: problemBase + "invalid-field", Title: "Invalid field", Status: http.StatusUnprocessableEntity, Field: ve.Field, Detail: ve.Reason}
	case errors.As(err, &re):
		return Problem{Type: problemBase + "rule", Title: "Pathway rule broken", Status: http.StatusConflict, Rule: re.Rule, Detail: re.Reason}
	case errors.As(err, &me):
		return Problem{Type: problemBase + "invalid-message", Title: "Message cannot be translated", Status: http.StatusUnprocessableEntity, Field: me.Field, Code: me.Code, Detail: me.Reason}
	case errors.Is(err, events.ErrUnknownPathway):
		return Problem{Type: problemBase + "unknown-pathway", Title: "Unknown pathway", Status: http.StatusNotFound, Detail: "no such pathway"}
	case errors.Is(err, events.ErrUnknownType):
		return Problem{Type: problemBase + "unknown-type", Title: "Unknown event type", Status: http.StatusUnprocessableEntity, Field: "type", Detail: err.Error()}
	case errors.Is(err, events.ErrFutureSchema):
		return Problem{Type: problemBase + "future-schema", Title: "Schema version from the future", Status: http.StatusUnprocessableEntity, Field: "schema", Detail: err.Error()}
	case errors.Is(err, engine.ErrConflict):
		return Problem{Type: problemBase + "conflict", Title: "Pathway changed concurrently", Status: http.StatusConflict, Detail: "retry the request"}
	case errors.Is(err, engine.ErrNoDeadLetter):
		return Problem{Type: problemBase + "not-found", Title: "Not found", Status: http.StatusNotFound, Detail: "no such dead letter"}
	}
	return Problem{Type: problemBase + "unavailable", Title: "Service unavailable", Status: http.StatusServiceUnavailable, Detail: "the event store did not answer; nothing was recorded, retry later"}
}
