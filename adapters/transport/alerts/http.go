package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/stafet/stafet/events"
)

// Caller is who calls an alert endpoint, as the API's authentication
// found it: the operator, or one organisation.
type Caller struct {
	Operator bool
	Org      events.OrgID
}

// Route is an endpoint for the API server to mount behind its bearer-token
// authentication (httpapi.Server.Handle with auth).
type Route struct {
	Pattern string
	Handler http.HandlerFunc
	// Stream marks a long-lived stream (server-sent events): mount it so
	// that EventSource may pass its token as ?access_token= and the stream
	// ends when the token is revoked.
	Stream bool
}

// Router is where Mount serves the endpoints: the API server, which
// authenticates its callers (httpapi.Server).
type Router interface {
	// Handle serves h, behind the bearer-token authentication if auth.
	Handle(pattern string, auth bool, h http.HandlerFunc)
	// HandleStream serves a long-lived stream behind the authentication:
	// EventSource may pass its token as ?access_token=, and the stream
	// ends when the token is revoked.
	HandleStream(pattern string, h http.HandlerFunc)
}

// Mount serves the endpoints (Routes) on r, behind its authentication.
func (s *Service) Mount(r Router, caller func(*http.Request) Caller) {
	for _, rt := range s.Routes(caller) {
		if rt.Stream {
			r.HandleStream(rt.Pattern, rt.Handler)
			continue
		}
		r.Handle(rt.Pattern, true, rt.Handler)
	}
}

// Routes returns the alert endpoints:
//
//	GET    /v1/alerts/stream   server-sent events (ServeSSE); the operator may add ?org=
//	POST   /v1/webhooks        register {"url": …} (the operator adds "org"); 201 with the secret, shown once
//	GET    /v1/webhooks        list (the operator sees every organisation's, or ?org=)
//	DELETE /v1/webhooks/{id}   delete; 204
//
// caller tells who is calling; a request that is neither the operator's
// nor an organisation's is refused. An organisation sees and manages only
// its own alerts and webhooks.
func (s *Service) Routes(caller func(*http.Request) Caller) []Route {
	return []Route{
		{Pattern: "GET /v1/alerts/stream", Stream: true, Handler: func(w http.ResponseWriter, r *http.Request) {
			org, all, ok := scope(w, r, caller(r), true)
			if ok {
				s.ServeSSE(w, r, org, all)
			}
		}},
		{Pattern: "POST /v1/webhooks", Handler: func(w http.ResponseWriter, r *http.Request) { s.postWebhook(w, r, caller(r)) }},
		{Pattern: "GET /v1/webhooks", Handler: func(w http.ResponseWriter, r *http.Request) {
			org, all, ok := scope(w, r, caller(r), true)
			if !ok {
				return
			}
			if all {
				org = ""
			}
			hooks, err := s.List(r.Context(), org)
			if err != nil {
				writeError(w, r, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{"webhooks": nonNil(hooks)})
		}},
		{Pattern: "DELETE /v1/webhooks/{id}", Handler: func(w http.ResponseWriter, r *http.Request) {
			c := caller(r)
			org, _, ok := scope(w, r, c, false)
			if !ok {
				return
			}
			if c.Operator {
				org = ""
			}
			if err := s.Delete(r.Context(), org, r.PathValue("id")); err != nil {
				writeError(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}},
	}
}

// scope returns whose alerts a request is about: the caller's own
// organisation, or for the operator ?org= or (when allowAll) everyone's.
func scope(w http.ResponseWriter, r *http.Request, c Caller, allowAll bool) (events.OrgID, bool, bool) {
	q := events.OrgID(r.URL.Query().Get("org"))
	switch {
	case c.Operator && q == "":
		return "", allowAll, true
	case c.Operator:
		if err := q.Validate(); err != nil {
			writeProblem(w, r, http.StatusBadRequest, "org", "want scheme:code, e.g. kommune:0751")
			return "", false, false
		}
		return q, false, true
	case c.Org == "":
		writeProblem(w, r, http.StatusForbidden, "", "only an organisation or the operator has alerts")
		return "", false, false
	case q != "" && q != c.Org:
		writeProblem(w, r, http.StatusForbidden, "org", "an organisation sees only its own alerts")
		return "", false, false
	}
	return c.Org, false, true
}

type webhookRequest struct {
	URL string       `json:"url"`
	Org events.OrgID `json:"org,omitempty"`
}

type webhookCreated struct {
	Webhook
	// Secret signs the deliveries; it is shown only here.
	Secret string `json:"secret"`
}

func (s *Service) postWebhook(w http.ResponseWriter, r *http.Request, c Caller) {
	var req webhookRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, r, http.StatusBadRequest, "", "want a JSON object {\"url\": \"https://…\"}")
		return
	}
	org := c.Org
	switch {
	case c.Operator && req.Org == "":
		writeProblem(w, r, http.StatusUnprocessableEntity, "org", "the operator names the organisation the webhook is for")
		return
	case c.Operator:
		org = req.Org
	case c.Org == "":
		writeProblem(w, r, http.StatusForbidden, "", "only an organisation or the operator registers webhooks")
		return
	case req.Org != "" && req.Org != c.Org:
		writeProblem(w, r, http.StatusForbidden, "org", "an organisation registers webhooks only for itself")
		return
	}
	hook, secret, err := s.Register(r.Context(), org, req.URL)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/webhooks/"+hook.ID)
	writeJSON(w, http.StatusCreated, webhookCreated{Webhook: hook, Secret: secret})
}

func nonNil(hooks []Webhook) []Webhook {
	if hooks == nil {
		return []Webhook{}
	}
	return hooks
}

func kindsParam(r *http.Request) ([]Kind, error) {
	var out []Kind
	for _, v := range r.URL.Query()["kind"] {
		k := Kind(v)
		if !k.valid() {
			return nil, fmt.Errorf("unknown alert kind %q", v)
		}
		out = append(out, k)
	}
	return out, nil
}

// problem is an RFC 9457 problem detail, as the rest of the API writes
// them.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Field    string `json:"field,omitempty"`
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, field, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status,
		Detail: detail, Instance: r.URL.Path, Field: field,
	})
}

func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *events.ValidationError
	switch {
	case errors.As(err, &ve):
		writeProblem(w, r, http.StatusUnprocessableEntity, ve.Field, ve.Reason)
	case errors.Is(err, ErrNoWebhook):
		writeProblem(w, r, http.StatusNotFound, "", "no such webhook")
	case errors.Is(err, ErrTooManyWebhooks):
		writeProblem(w, r, http.StatusConflict, "", err.Error())
	default:
		writeProblem(w, r, http.StatusServiceUnavailable, "", "the alert store did not answer; retry")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
