package httpapi

import (
	"cmp"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/connlimit"
	"github.com/stafet/stafet/internal/ratelimit"
	"github.com/stafet/stafet/projections"
)

// Config wires the API to the rest of Stafet. Store, Tokens and Directory
// are required; the zero value of every other field means its default.
type Config struct {
	Store     *engine.Store
	Tokens    *Tokens
	Directory *events.Directory
	// Ingest runs MedCom messages and dead-letter replays; without it
	// those endpoints answer 503.
	Ingest *ingest.Ingest
	// Receipts is the message browser's index (engine.ReceiptIndex,
	// running); without it the message endpoints answer 503.
	Receipts *engine.ReceiptIndex
	// Projections hosts the *projections.Set that gap lists, worklists,
	// figures and pathway views answer from; without it those endpoints
	// answer 503.
	Projections *engine.Host
	// Rules are the rules of the hosted Set, for the fresh Set of a
	// rebuild. The zero value means the defaults.
	Rules projections.Rules
	// Health reports on the service (/healthz, /readyz and the health
	// metrics): engine.Monitor.Health. Default: the Projections host's
	// state alone, or always live without one.
	Health func() engine.Health
	// Registry receives the API's metrics and is served at /metrics; nil
	// makes a private one.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Now is the clock for queries and for commands that give no
	// occurred_at; nil means time.Now.
	Now func() time.Time
	// MaxBody is the largest JSON request body in bytes. Default 8 MiB.
	MaxBody int64
	// MaxMessage is the largest MedCom message in bytes. Default
	// medcom.MaxSize.
	MaxMessage int64
	// Alerts tells parties of break-the-glass reads; nil refuses such
	// reads, as nobody could be told.
	Alerts Alerter
	// NATSSubjects gives the subjects an organisation's NATS user may
	// subscribe to (its alerts), for tokens issued with "nats": true; nil
	// refuses such requests.
	NATSSubjects func(events.OrgID) []string
	// Dashboard, if set, is served beside the API without a token: the
	// page at "/" and its files under "/assets/" (package web). They hold
	// no data; the page asks the API for everything with the token its
	// user pastes. The patterns cannot collide with the API's: "/{$}" is
	// the root alone, and nothing of the API lives under /assets/.
	Dashboard http.Handler
	// MetricsToken, when set, lets a scraper read /metrics with it; the
	// operator token always can. Nobody else can.
	MetricsToken string
	// StreamRecheck is how often a stream checks that its token still
	// holds. Default 5 s.
	StreamRecheck time.Duration
	// Limits bound what one client can hold of the server (HTTPServer,
	// Listener); the zero value of each means its default.
	Limits Limits
}

// Limits bound the HTTP server against slow and idle clients. Streams
// (server-sent events) and a rebuild's progress are exempt from the read
// and write timeouts; they hold a connection, within the caps.
type Limits struct {
	// ReadTimeout bounds reading a request, body included. Default 1 min
	// (a 32 MiB MedCom message at 5 Mbit/s takes under a minute).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the
	// end of the answer. Default 2 min.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection with no request for this
	// long. Default 1 min.
	IdleTimeout time.Duration
	// MaxConns bounds the connections held at once. Default 4096.
	MaxConns int
	// MaxConnsPerSource bounds the connections held at once from one IP
	// address, so one client cannot take every slot. Default 256.
	MaxConnsPerSource int
	// MessageRate is how many MedCom messages a second one token may
	// send (twice as many at once); beyond it the answer is 429
	// rate-limited with Retry-After, and nothing is stored. Default 100.
	MessageRate float64
	// GarbageQuota is how many bytes of bodies that are no MedCom message
	// one token may have stored in an hour (each counts at least 4 KiB);
	// beyond it they are answered 429 unstored. Default 16 MiB.
	GarbageQuota int
}

// DefaultLimits are the HTTP limits a zero Limits field takes.
var DefaultLimits = Limits{ReadTimeout: time.Minute, WriteTimeout: 2 * time.Minute, IdleTimeout: time.Minute,
	MaxConns: 4096, MaxConnsPerSource: 256, MessageRate: 100, GarbageQuota: 16 << 20}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	l.ReadTimeout = cmp.Or(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = cmp.Or(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = cmp.Or(l.IdleTimeout, d.IdleTimeout)
	l.MaxConns = cmp.Or(l.MaxConns, d.MaxConns)
	l.MaxConnsPerSource = cmp.Or(l.MaxConnsPerSource, d.MaxConnsPerSource)
	l.MessageRate = cmp.Or(l.MessageRate, d.MessageRate)
	l.GarbageQuota = cmp.Or(l.GarbageQuota, d.GarbageQuota)
	return l
}

// DefaultMaxBody is the default limit of a JSON request body.
const DefaultMaxBody = 8 << 20

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("httpapi: config needs a Store")
	case c.Tokens == nil:
		return errors.New("httpapi: config needs Tokens")
	case c.Directory == nil:
		return errors.New("httpapi: config needs a Directory")
	case c.MaxBody < 0 || c.MaxMessage < 0:
		return errors.New("httpapi: body limits must not be negative")
	case c.Limits.ReadTimeout < 0 || c.Limits.WriteTimeout < 0 || c.Limits.IdleTimeout < 0 || c.Limits.MaxConns < 0 || c.Limits.MaxConnsPerSource < 0:
		return errors.New("httpapi: limits must not be negative")
	}
	return c.Rules.Validate()
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	latency *prometheus.HistogramVec
	log     *slog.Logger
	routes  []string
	// intake opens pathways (POST /v1/pathways) as the inbound channels do.
	intake *engine.Intake

	rebuilding atomic.Bool
	// messages paces each token's MedCom messages; garbage is each
	// token's quota of unreadable bodies (Limits).
	messages, garbage *ratelimit.Keyed
	// limited is the bounded listener (Listener), once made.
	limited atomic.Pointer[connlimit.Listener]
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
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	cfg.Limits = cfg.Limits.withDefaults()
	messages := ratelimit.New(cfg.Limits.MessageRate, max(1, int(2*cfg.Limits.MessageRate)))
	garbage := ratelimit.New(float64(cfg.Limits.GarbageQuota)/3600, cfg.Limits.GarbageQuota)
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = medcom.MaxSize
	}
	if cfg.StreamRecheck == 0 {
		cfg.StreamRecheck = 5 * time.Second
	}
	if cfg.Health == nil {
		cfg.Health = func() engine.Health {
			return engine.Health{Status: engine.HealthLive, Ready: true, At: time.Now().UTC()}
		}
		if h := cfg.Projections; h != nil && cfg.Store != nil {
			cfg.Health = cfg.Store.NewMonitor([]*engine.Host{h}, engine.MonitorOptions{}).Health
		}
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Logger, messages: messages, garbage: garbage}
	if cfg.Store != nil {
		s.intake = cfg.Store.NewIntake(cfg.Directory, cfg.Logger)
	}
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "stafet_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status class.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	cfg.Registry.MustRegister(s.latency, newHealthCollector(s))
	s.register()
	if h := cfg.Dashboard; h != nil {
		s.Handle("GET /{$}", false, h.ServeHTTP)
		s.Handle("GET /assets/", false, h.ServeHTTP)
	}
	return s
}

// access says who may call a route.
type access uint8

const (
	public   access = iota // no token
	anyone                 // the operator or an organisation
	operator               // the operator only
	stream                 // anyone, token also in the query, ends on revocation
	metrics                // the metrics token or the operator
)

// Handle adds a route, wrapped in the API's middleware; auth says whether
// it needs a bearer token. Other packages (alerts) mount their handlers
// with it.
func (s *Server) Handle(pattern string, auth bool, h http.HandlerFunc) {
	a := public
	if auth {
		a = anyone
	}
	s.handle(pattern, a, h)
}

// HandleStream mounts a long-lived authenticated stream (server-sent
// events): the token may come as ?access_token=, which EventSource needs,
// and the stream ends within StreamRecheck once its token is revoked.
func (s *Server) HandleStream(pattern string, h http.HandlerFunc) {
	s.handle(pattern, stream, h)
}

// HandleFormat mounts a route like Handle, but the errors of the API's own
// middleware (a missing or unknown bearer token) are written by write, so
// that a facade answers in its own format: the FHIR facade's
// OperationOutcome.
func (s *Server) HandleFormat(pattern string, auth bool, h http.HandlerFunc, write func(http.ResponseWriter, *http.Request, Problem)) {
	a := public
	if auth {
		a = anyone
	}
	s.mount(pattern, a, h, write)
}

func (s *Server) handle(pattern string, a access, h http.HandlerFunc) {
	s.mount(pattern, a, h, writeProblem)
}

func (s *Server) mount(pattern string, a access, h http.HandlerFunc, write func(http.ResponseWriter, *http.Request, Problem)) {
	var handler http.Handler = h
	if strings.HasPrefix(pattern, "GET /v1/") || strings.HasPrefix(pattern, "GET /fhir/") {
		// Every read, of either API, says which log position and time it
		// reflects.
		handler = s.fresh(handler)
	}
	if strings.HasPrefix(pattern, "POST /v1/pathways") || strings.HasPrefix(pattern, "PUT /fhir/Task") {
		// A command (of either API) is intake too: it stops with the
		// others when the disk is nearly full.
		handler = s.needsRoom(handler, write)
	}
	switch a {
	case operator:
		handler = s.authenticate(operatorOnly(handler), false, write)
	case anyone:
		handler = s.authenticate(handler, false, write)
	case stream:
		handler = s.authenticate(s.endOnRevoke(lasting(handler)), true, write)
	case metrics:
		handler = s.metricsAuth(handler)
	}
	s.routes = append(s.routes, pattern)
	s.mux.Handle(pattern, s.observe(pattern, handler))
}

// needsRoom refuses a command with 507 no-room while the store's intake
// is stopped for want of disk space (engine.Config.MinFreeBytes).
func (s *Server) needsRoom(h http.Handler, write func(http.ResponseWriter, *http.Request, Problem)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if low, _ := s.cfg.Store.Inbox().NoRoom(); low {
			w.Header().Set("Retry-After", RetryAfter)
			write(w, r, ProblemFor(engine.ErrNoRoom))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// lasting serves a response meant to last, free of the timeouts.
func lasting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unbounded(w)
		h.ServeHTTP(w, r)
	})
}

// Routes lists the registered route patterns ("GET /v1/gaps", …).
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

func (s *Server) register() {
	s.handle("GET /healthz", public, s.healthz)
	s.handle("GET /readyz", public, s.readyz)
	s.handle("GET /metrics", metrics, promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}).ServeHTTP)
	s.handle("GET /openapi.json", public, serveOpenAPI)

	s.handle("POST /v1/pathways", anyone, s.openPathway)
	s.handle("POST /v1/pathways/{id}/events", anyone, s.appendEvent)
	s.handle("POST /v1/pathways/{id}/offers", anyone, command[offerBody](s))
	s.handle("POST /v1/pathways/{id}/offers/{offer}/accept", anyone, command[acceptBody](s))
	s.handle("POST /v1/pathways/{id}/offers/{offer}/reject", anyone, command[rejectBody](s))
	s.handle("POST /v1/pathways/{id}/offers/{offer}/withdraw", anyone, command[withdrawBody](s))
	s.handle("POST /v1/pathways/{id}/release", anyone, command[releaseBody](s))
	s.handle("POST /v1/pathways/{id}/documents", anyone, command[documentBody](s))
	s.handle("POST /v1/pathways/{id}/documents/{doc}/acknowledge", anyone, command[acknowledgeBody](s))
	s.handle("POST /v1/pathways/{id}/close", anyone, command[closeBody](s))
	s.handle("POST /v1/medcom", anyone, s.receiveMedCom)

	s.handle("GET /v1/pathways", anyone, s.findPathways)
	s.handle("GET /v1/pathways/{id}", anyone, s.readPathway)
	s.handle("GET /v1/gaps", anyone, s.listGaps)
	s.handle("GET /v1/worklist", anyone, s.ownWorklist)
	s.handle("GET /v1/orgs/{org}/worklist", anyone, s.orgWorklist)
	s.handle("GET /v1/clusters", anyone, s.listClusters)
	s.handle("GET /v1/clusters/{id}/figures", anyone, s.clusterFigures)
	s.handle("GET /v1/municipalities/{code}/figures", anyone, s.municipalityFigures)
	s.handle("GET /v1/organisations", anyone, s.listOrganisations)
	s.handle("GET /v1/access-log", anyone, s.listAccess)

	s.handle("GET /v1/messages", anyone, s.listMessages)
	s.handle("GET /v1/messages/{seq}", anyone, s.showMessage)
	s.handle("POST /v1/messages/reprocess", operator, s.reprocessMessages)
	s.handle("GET /v1/channels", anyone, s.listChannels)
	s.handle("GET /v1/dead-letters", operator, s.listDeadLetters)
	s.handle("GET /v1/dead-letters/{seq}", operator, s.showDeadLetter)
	s.handle("POST /v1/dead-letters/{seq}/replay", operator, s.replayDeadLetter)
	s.handle("GET /v1/quarantine", operator, s.listQuarantine)
	s.handle("GET /v1/quarantine/{seq}", operator, s.showQuarantined)
	s.handle("POST /v1/quarantine/{seq}/resolve", operator, s.resolveQuarantined)
	s.handle("POST /v1/tokens", operator, s.issueToken)
	s.handle("DELETE /v1/tokens", operator, s.revokeToken)
	s.handle("GET /v1/nats-users", operator, s.listNATSUsers)
	s.handle("GET /v1/nats-users/conf", operator, s.natsUsersConf)
	s.handle("POST /v1/patients/erase", operator, s.erasePatient)
	s.handle("POST /v1/admin/rewrap-keys", operator, s.rewrapKeys)
	s.handle("POST /v1/admin/rebuild", operator, s.rebuild)
	s.handle("GET /v1/admin/projections", operator, s.showProjections)
}

// ServeHTTP implements http.Handler. Requests no route matches get a
// problem too: 404, or 405 with the Allow header the mux computed.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := s.mux.Handler(r); pattern == "" {
		rec := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if rec.status != http.StatusNotFound && rec.status != http.StatusMethodNotAllowed {
			h.ServeHTTP(w, r) // a redirect to the clean path
			return
		}
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		p := Problem{Type: typeNotFound, Status: rec.status, Detail: "no such resource"}
		if rec.status == http.StatusMethodNotAllowed {
			p = Problem{Type: typeMethod, Status: rec.status, Detail: "allowed: " + rec.header.Get("Allow")}
		}
		writeProblem(w, r, p)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// headerRecorder captures what the mux's own 404 and 405 handlers write.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header         { return h.header }
func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerRecorder) WriteHeader(code int)        { h.status = code }

// authenticate lets a request through with its principal, or answers 401.
// The token comes in the Authorization header; only streams (queryToken)
// take it from the query too, so tokens do not end up in the access logs
// of proxies for every other route.
func (s *Server) authenticate(next http.Handler, queryToken bool, write func(http.ResponseWriter, *http.Request, Problem)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.cfg.Tokens.Check(r.Context(), bearer(r, queryToken))
		if errors.Is(err, errUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stafet"`)
			write(w, r, Problem{Type: typeUnauthenticated, Status: http.StatusUnauthorized, Detail: err.Error()})
			return
		}
		if err != nil {
			s.log.Warn("token check failed", "err", err)
			write(w, r, ProblemFor(err))
			return
		}
		if p.Reason, err = accessReason(r); err != nil {
			write(w, r, ProblemFor(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

// endOnRevoke cancels a stream's request once its token no longer checks:
// every StreamRecheck it asks the token store again, so a revocation on
// any instance ends the streams on all of them.
func (s *Server) endOnRevoke(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r, true)
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		go func() {
			t := time.NewTicker(s.cfg.StreamRecheck)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if _, err := s.cfg.Tokens.Check(ctx, tok); errors.Is(err, errUnauthenticated) {
					s.log.Info("stream ended: its token was revoked", "route", r.Pattern)
					cancel()
					return
				}
			}
		}()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// metricsAuth guards /metrics: the metrics token (Config.MetricsToken, for
// a Prometheus scraper) or the operator's.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r, false)
		if s.cfg.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.cfg.MetricsToken)) == 1 {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.cfg.Tokens.Check(r.Context(), tok)
		if err != nil || !p.Operator {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stafet"`)
			writeProblem(w, r, Problem{Type: typeUnauthenticated, Status: http.StatusUnauthorized, Detail: "metrics need the metrics token (STAFET_METRICS_TOKEN) or the operator's"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func operatorOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !principalFrom(r.Context()).Operator {
			writeProblem(w, r, Problem{Type: typeForbidden, Status: http.StatusForbidden, Detail: "only the operator may do this"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// Flush lets server-sent events and streamed progress through the
// wrapper.
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

// HTTPServer returns the server that serves the API, with TLS if tlsCfg
// is set. Long-lived streams (SSE) would hold a graceful Shutdown for its
// whole drain time: their requests' context ends two seconds after
// shutdown begins, when ordinary requests have finished.
func (s *Server) HTTPServer(tlsCfg *tls.Config) *http.Server {
	streams, endStreams := context.WithCancel(context.Background())
	l := s.cfg.Limits
	srv := &http.Server{Handler: s, ReadHeaderTimeout: min(10*time.Second, l.ReadTimeout), TLSConfig: tlsCfg,
		ReadTimeout: l.ReadTimeout, WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext: func(net.Listener) context.Context { return streams }}
	srv.RegisterOnShutdown(func() { time.AfterFunc(2*time.Second, endStreams) })
	return srv
}

// Serve serves srv (HTTPServer) on ln, bounded by Listener, over TLS if
// srv has a TLSConfig. It returns nil once srv is shut down; any other
// return is the server failing.
func (s *Server) Serve(srv *http.Server, ln net.Listener) error {
	ln = s.Listener(ln)
	var err error
	if srv.TLSConfig != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Listener bounds ln's connections, in all and per source address
// (Limits), for HTTPServer's Serve. Held reports on the last one made.
func (s *Server) Listener(ln net.Listener) net.Listener {
	l := connlimit.Wrap(ln, connlimit.Limits{Total: s.cfg.Limits.MaxConns, PerSource: s.cfg.Limits.MaxConnsPerSource}, s.log)
	s.limited.Store(l)
	return l
}

// Held returns the connections held in all and from src's address, for
// tests and metrics.
func (s *Server) Held(src net.Addr) (total, fromSource int) {
	if l := s.limited.Load(); l != nil {
		return l.Held(src)
	}
	return 0, 0
}

// unbounded lifts the read and write timeouts for a response that is
// meant to last (a stream, a rebuild's progress).
func unbounded(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
}

// set runs fn with the hosted projections under the host's read lock, or
// reports that there are none.
func (s *Server) set(fn func(*projections.Set)) error {
	h := s.cfg.Projections
	if h == nil {
		return errNoProjections
	}
	if !engine.View(h, fn) {
		return errNoProjections
	}
	return nil
}

var (
	errNoProjections = errors.New("httpapi: no projections configured")
	errNoIngest      = errors.New("httpapi: no ingest configured")
)
