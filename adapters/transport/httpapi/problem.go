package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/stafet/stafet/adapters/translate/medcom"
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
	// Field names the offending request field (e.g. "data.deadline") or
	// query parameter.
	Field string `json:"field,omitempty"`
	// Rule names the pathway rule a command broke.
	Rule string `json:"rule,omitempty"`
	// Code is a machine-readable reason.
	Code string `json:"code,omitempty"`
	// Offset, Line and Column locate a JSON syntax error in the request
	// body (Offset counts bytes from 0; Line and Column from 1).
	Offset *int64 `json:"offset,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	// RawSeq is the raw message a MedCom message or a replay was stored
	// as, when it was stored and went to the dead letters.
	RawSeq uint64 `json:"raw_seq,omitempty"`
}

// problemBase prefixes problem types; docs/api.md explains each one.
const problemBase = "https://stafet.dk/problems/"

// The problem types the API answers with.
const (
	typeInvalidField    = problemBase + "invalid-field"
	typeRule            = problemBase + "rule"
	typeInvalidMessage  = problemBase + "invalid-message"
	typeUnknownPathway  = problemBase + "unknown-pathway"
	typeUnknownType     = problemBase + "unknown-type"
	typeFutureSchema    = problemBase + "future-schema"
	typeConflict        = problemBase + "conflict"
	typeNotFound        = problemBase + "not-found"
	typeUnavailable     = problemBase + "unavailable"
	typeMalformed       = problemBase + "malformed-json"
	typeBadParameter    = problemBase + "bad-parameter"
	typeTooLarge        = problemBase + "too-large"
	typeUnauthenticated = problemBase + "unauthenticated"
	typeForbidden       = problemBase + "forbidden"
	typeMediaType       = problemBase + "unsupported-media-type"
	typeMethod          = problemBase + "method-not-allowed"
	typeBusy            = problemBase + "busy"
	typeNoRoom          = problemBase + "no-room"
	typeRateLimited     = problemBase + "rate-limited"
)

// problemTypes lists every problem type, for the OpenAPI document's test.
var problemTypes = []string{
	typeInvalidField, typeRule, typeInvalidMessage, typeUnknownPathway, typeUnknownType, typeFutureSchema,
	typeConflict, typeNotFound, typeUnavailable, typeMalformed, typeBadParameter, typeTooLarge,
	typeUnauthenticated, typeForbidden, typeMediaType, typeMethod, typeBusy, typeNoRoom, typeRateLimited,
}

// RetryAfter is the Retry-After, in seconds, of an answer that asks the
// client to come back: the volume nearly full (507), the store not
// answering (503).
const RetryAfter = "60"

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if (p.Status == http.StatusInsufficientStorage || p.Status == http.StatusServiceUnavailable) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", RetryAfter)
	}
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

// badParam is the problem of a query parameter or path segment that
// cannot be used.
func badParam(field, reason string) Problem {
	return Problem{Type: typeBadParameter, Title: "Bad parameter", Status: http.StatusBadRequest, Field: field, Detail: reason}
}

func forbidden(detail string) Problem {
	return Problem{Type: typeForbidden, Status: http.StatusForbidden, Detail: detail}
}

// ProblemFor maps an error from the layers below to a problem. Other
// transports mounted on the API (the FHIR facade) use it to answer the
// same errors the same way.
func ProblemFor(err error) Problem {
	var ve *events.ValidationError
	var re *events.RuleError
	var me *events.MessageError
	var ie *engine.DeadLetterError
	var pe Problem
	var mce *medcom.Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &ie):
		p := ProblemFor(ie.Err)
		p.Detail = ie.Err.Error()
		p.RawSeq = ie.DeadLetter.RawSeq
		if p.Code == "" {
			p.Code = ie.DeadLetter.Code
		}
		return p
	case errors.As(err, &ve):
		return Problem{Type: typeInvalidField, Title: "Invalid field", Status: http.StatusUnprocessableEntity, Field: ve.Field, Detail: ve.Reason}
	case errors.As(err, &re) && re.Rule == events.RuleNotParty:
		// Not a conflict with the pathway's state: the caller has no
		// standing to send this (docs/security.md, care relationships).
		p := forbidden(re.Reason)
		p.Rule = re.Rule
		return p
	case errors.As(err, &re):
		return Problem{Type: typeRule, Title: "Pathway rule broken", Status: http.StatusConflict, Rule: re.Rule, Detail: re.Reason}
	case errors.As(err, &me):
		return Problem{Type: typeInvalidMessage, Title: "Message cannot be translated", Status: http.StatusUnprocessableEntity, Field: me.Field, Code: me.Code, Detail: me.Reason}
	case errors.As(err, &mce):
		return Problem{Type: typeInvalidMessage, Title: "Message cannot be read", Status: http.StatusUnprocessableEntity, Field: mce.Path, Code: "parse", Detail: mce.Reason}
	case errors.Is(err, medcom.ErrNotMedCom):
		return Problem{Type: typeInvalidMessage, Title: "Not a MedCom message", Status: http.StatusUnprocessableEntity, Code: "parse", Detail: err.Error()}
	case errors.Is(err, events.ErrUnknownPathway):
		return Problem{Type: typeUnknownPathway, Title: "Unknown pathway", Status: http.StatusNotFound, Detail: "no such pathway"}
	case errors.Is(err, events.ErrUnknownType):
		return Problem{Type: typeUnknownType, Title: "Unknown event type", Status: http.StatusUnprocessableEntity, Field: "type", Detail: err.Error()}
	case errors.Is(err, events.ErrFutureSchema):
		return Problem{Type: typeFutureSchema, Title: "Schema version from the future", Status: http.StatusUnprocessableEntity, Field: "schema", Detail: err.Error()}
	case errors.Is(err, engine.ErrConflict):
		return Problem{Type: typeConflict, Title: "Pathway changed concurrently", Status: http.StatusConflict, Detail: "retry the request"}
	case errors.Is(err, engine.ErrNoDeadLetter):
		return Problem{Type: typeNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "no such dead letter"}
	case errors.Is(err, engine.ErrTooLarge):
		return Problem{Type: typeTooLarge, Title: "Message too large to store", Status: http.StatusRequestEntityTooLarge,
			Detail: "the message is larger than the raw store takes in one piece; it is not recorded: do not resend it unchanged"}
	case errors.Is(err, engine.ErrNoRoom):
		return Problem{Type: typeNoRoom, Title: "Insufficient storage", Status: http.StatusInsufficientStorage,
			Detail: "the data volume is nearly full; nothing was recorded; retry once the operator has made room"}
	case errors.Is(err, errNoProjections), errors.Is(err, errNoIngest), errors.Is(err, errNoReceipts):
		return Problem{Type: typeUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable, Detail: "this stafetd does not serve this endpoint (" + err.Error() + ")"}
	}
	return Problem{Type: typeUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable, Detail: "the event store did not answer; nothing was recorded, retry later"}
}

// Error makes a Problem an error, so handlers can return one through
// layers that return errors.
func (p Problem) Error() string { return p.Title + ": " + p.Detail }

// Kind is the last segment of the problem's type ("forbidden",
// "invalid-field", …), for facades that map problems to their own codes.
func (p Problem) Kind() string { return strings.TrimPrefix(p.Type, problemBase) }
