package fhir

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Prefix is where the facade is mounted on the API.
const Prefix = "/fhir"

// MediaType is the FHIR JSON media type the facade answers with.
const MediaType = "application/fhir+json"

// Config wires the facade. API, Store and Directory are required.
type Config struct {
	// API authenticates callers and holds the rules of who may read and
	// do what; the facade's routes are mounted on it.
	API       *httpapi.Server
	Store     *engine.Store
	Directory *events.Directory
	// Projections hosts the *projections.Set searches find candidates
	// in; without it searches answer 503.
	Projections *engine.Host
	// Alerts delivers subscriptions; without it Subscription is not
	// offered.
	Alerts *alerts.Service
	// Base is the facade's absolute URL as clients reach it (e.g.
	// https://stafet.region.dk/fhir), for Bundle links and full URLs.
	// Default: the request's own scheme and host; notifications, which
	// have no request, use http://localhost/fhir.
	Base string
	// Notifier, when set, is bound to this facade: it writes the
	// notifications of the subscriptions made here.
	Notifier *Notifier
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.API == nil:
		return errors.New("fhir: config needs the API server")
	case c.Store == nil:
		return errors.New("fhir: config needs the Store")
	case c.Directory == nil:
		return errors.New("fhir: config needs a Directory")
	}
	return nil
}

// Server is the FHIR facade.
type Server struct {
	cfg Config
	log *slog.Logger
}

// New returns the facade; Mount puts its routes on the API.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Base = strings.TrimSuffix(cfg.Base, "/")
	s := &Server{cfg: cfg, log: cfg.Logger}
	if cfg.Notifier != nil {
		cfg.Notifier.s.Store(s)
	}
	return s, nil
}

// route is one interaction of the facade.
type route struct {
	pattern string
	auth    bool
	h       http.HandlerFunc
}

func (s *Server) routes() []route {
	rs := []route{
		{"GET /fhir/metadata", false, s.metadata},
		{"GET /fhir/Task", true, s.search(taskKind)},
		{"GET /fhir/Task/{id}", true, s.read(taskKind)},
		{"PUT /fhir/Task/{id}", true, s.updateTask},
		{"GET /fhir/Task/{id}/_history", true, s.history(taskKind)},
		{"GET /fhir/Task/{id}/_history/{vid}", true, s.vread(taskKind)},
		{"GET /fhir/EpisodeOfCare", true, s.search(episodeKind)},
		{"GET /fhir/EpisodeOfCare/{id}", true, s.read(episodeKind)},
		{"GET /fhir/EpisodeOfCare/{id}/_history", true, s.history(episodeKind)},
		{"GET /fhir/EpisodeOfCare/{id}/_history/{vid}", true, s.vread(episodeKind)},
		{"GET /fhir/Encounter/{id}", true, s.read(encounterKind)},
		{"GET /fhir/Encounter/{id}/_history", true, s.history(encounterKind)},
		{"GET /fhir/Encounter/{id}/_history/{vid}", true, s.vread(encounterKind)},
		{"GET /fhir/Organization/{id}", true, s.readOrganization},
		{"GET /fhir/Basic", true, s.searchTopics},
		{"GET /fhir/Basic/{id}", true, s.readTopic},
		{"/fhir/", false, s.unsupported},
	}
	if s.cfg.Alerts != nil {
		rs = append(rs,
			route{"POST /fhir/Subscription", true, s.createSubscription},
			route{"GET /fhir/Subscription", true, s.listSubscriptions},
			route{"GET /fhir/Subscription/{id}", true, s.readSubscription},
			route{"DELETE /fhir/Subscription/{id}", true, s.deleteSubscription},
			route{"GET /fhir/Subscription/{id}/$status", true, s.subscriptionStatus},
		)
	}
	return rs
}

// Mount adds the facade's routes to the API, behind its authentication
// (the CapabilityStatement is public, as FHIR clients read it first);
// errors of the API's own middleware come back as OperationOutcomes.
func (s *Server) Mount() {
	for _, rt := range s.routes() {
		s.cfg.API.HandleFormat(rt.pattern, rt.auth, s.negotiate(rt.h), writeOutcome)
	}
}

// negotiate answers JSON only: a client that asks for XML alone gets 406.
func (s *Server) negotiate(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if f := r.URL.Query().Get("_format"); f != "" && !jsonFormat(f) {
			writeOutcome(w, r, problem(http.StatusNotAcceptable, "not-supported", "_format", "this server speaks FHIR JSON only (application/fhir+json)"))
			return
		}
		if a := r.Header.Get("Accept"); a != "" && !acceptsJSON(a) {
			writeOutcome(w, r, problem(http.StatusNotAcceptable, "not-supported", "", "this server speaks FHIR JSON only (application/fhir+json)"))
			return
		}
		next(w, r)
	}
}

func jsonFormat(f string) bool {
	switch f {
	case "json", "application/json", MediaType, "application/json+fhir":
		return true
	}
	return false
}

func acceptsJSON(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if jsonFormat(mt) || mt == "*/*" || mt == "application/*" {
			return true
		}
	}
	return false
}

// base is the facade's absolute URL for a request.
func (s *Server) base(r *http.Request) string {
	if s.cfg.Base != "" {
		return s.cfg.Base
	}
	if r == nil {
		return "http://localhost" + Prefix
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + Prefix
}

// writeResource answers one resource.
func writeResource(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", MediaType+"; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

// writeVersioned answers a resource with its version as ETag and its
// last change as Last-Modified.
func writeVersioned(w http.ResponseWriter, meta *fhir.Meta, v any) {
	if meta != nil && meta.VersionId != nil {
		w.Header().Set("ETag", `W/"`+*meta.VersionId+`"`)
	}
	if meta != nil && meta.LastUpdated != nil {
		if t, err := time.Parse(time.RFC3339Nano, *meta.LastUpdated); err == nil {
			w.Header().Set("Last-Modified", t.UTC().Format(http.TimeFormat))
		}
	}
	writeResource(w, http.StatusOK, v)
}

// problem makes an httpapi.Problem of the facade's own.
func problem(status int, kind, field, detail string) httpapi.Problem {
	return httpapi.Problem{Type: "https://stafet.dk/problems/" + kind, Status: status, Field: field, Detail: detail}
}

// issueCodes maps the API's problem kinds to FHIR issue types.
var issueCodes = map[string]fhir.IssueType{
	"invalid-field":          fhir.IssueTypeValue,
	"rule":                   fhir.IssueTypeBusinessRule,
	"invalid-message":        fhir.IssueTypeStructure,
	"unknown-pathway":        fhir.IssueTypeNotFound,
	"unknown-type":           fhir.IssueTypeCodeInvalid,
	"future-schema":          fhir.IssueTypeNotSupported,
	"conflict":               fhir.IssueTypeConflict,
	"not-found":              fhir.IssueTypeNotFound,
	"unavailable":            fhir.IssueTypeTransient,
	"malformed-json":         fhir.IssueTypeStructure,
	"bad-parameter":          fhir.IssueTypeInvalid,
	"too-large":              fhir.IssueTypeTooLong,
	"unauthenticated":        fhir.IssueTypeLogin,
	"forbidden":              fhir.IssueTypeForbidden,
	"unsupported-media-type": fhir.IssueTypeNotSupported,
	"method-not-allowed":     fhir.IssueTypeNotSupported,
	"not-supported":          fhir.IssueTypeNotSupported,
	"busy":                   fhir.IssueTypeThrottled,
	"too-costly":             fhir.IssueTypeTooCostly,
}

// outcome turns a problem into an OperationOutcome.
func outcome(p httpapi.Problem) fhir.OperationOutcome {
	code, ok := issueCodes[p.Kind()]
	if !ok {
		code = fhir.IssueTypeProcessing
	}
	diag := p.Detail
	if diag == "" {
		diag = p.Title
	}
	if p.Rule != "" {
		diag += " (rule " + p.Rule + ")"
	}
	if diag == "" {
		diag = http.StatusText(p.Status)
	}
	issue := fhir.OperationOutcomeIssue{Severity: fhir.IssueSeverityError, Code: code, Diagnostics: &diag}
	if p.Field != "" {
		issue.Expression = []string{p.Field}
	}
	return fhir.OperationOutcome{Issue: []fhir.OperationOutcomeIssue{issue}}
}

// writeOutcome answers an error as an OperationOutcome.
func writeOutcome(w http.ResponseWriter, r *http.Request, p httpapi.Problem) {
	if p.Status == 0 {
		p.Status = http.StatusInternalServerError
	}
	writeResource(w, p.Status, outcome(p))
}

// fail answers any error: a Problem as it is, anything else as the API
// maps it.
func fail(w http.ResponseWriter, r *http.Request, err error) {
	writeOutcome(w, r, httpapi.ProblemFor(err))
}

// unsupported answers every path and method the facade does not serve.
func (s *Server) unsupported(w http.ResponseWriter, r *http.Request) {
	writeOutcome(w, r, problem(http.StatusNotFound, "not-supported", "",
		r.Method+" "+r.URL.Path+" is not an interaction this server supports; GET /fhir/metadata lists them"))
}

// instant writes a time as a FHIR instant (UTC, with a zone).
func instant(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	v := t.UTC().Format(time.RFC3339Nano)
	return &v
}

func ptr[T any](v T) *T { return &v }

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
