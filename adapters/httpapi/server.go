// Package httpapi is Stafet's HTTP JSON API: commands, MedCom messages,
// pathway reads, gap lists, worklists, figures, dead letters, tokens,
// access logs and the health and metrics endpoints. Errors are
// application/problem+json (RFC 9457). docs/api.md documents it; the
// OpenAPI 3 document is served at /openapi.json.
package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Config wires the API to the rest of Stafet.
type Config struct {
	Store     *engine.Store
	Tokens    *Tokens
	Directory *events.Directory
	Ingest    *ingest.Ingest
	// Ready reports whether the projections have caught up (/readyz).
	Ready func() bool
	// Registry receives the API's metrics and is served at /metrics; nil
	// makes a private one.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Now is the clock for queries; nil means time.Now.
	Now func() time.Time
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	latency *prometheus.HistogramVec
	log     *slog.Logger
}

// New returns the API handler.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Ready == nil {
		cfg.Ready = func() bool { return true }
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "stafet_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status class.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	cfg.Registry.MustRegister(s.latency)
	s.routes()
	return s
}

// Handle adds a route, wrapped in the API's middleware; auth says whether
// it needs a bearer token. Other packages (alerts) mount their handlers
// with it.
func (s *Server) Handle(pattern string, auth bool, h http.HandlerFunc) {
	var handler http.Handler = h
	if auth {
		handler = s.authenticate(handler)
	}
	s.mux.Handle(pattern, s.observe(pattern, handler))
}

func (s *Server) routes() {
	s.Handle("GET /healthz", false, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.Handle("GET /readyz", false, func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Ready() {
			writeProblem(w, r, Problem{Status: http.StatusServiceUnavailable, Detail: "projections are catching up with the log"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.cfg.Tokens.Check(r.Context(), bearer(r))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stafet"`)
			writeProblem(w, r, Problem{Status: http.StatusUnauthorized, Detail: err.Error()})
			return
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Flush lets server-sent events through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe records latency and logs the request. Only the route pattern is
// logged and labelled, never the path: paths hold pathway ids.
func (s *Server) observe(route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		s.latency.WithLabelValues(route, strconv.Itoa(sw.status/100)+"xx").Observe(time.Since(start).Seconds())
		s.log.Debug("http", "route", route, "status", sw.status, "took", time.Since(start))
	})
}
