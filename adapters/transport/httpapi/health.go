package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stafet/stafet/engine"
)

// Health, freshness and the operator's signals (docs/operations.md,
// "Health").

// healthz answers how the service is: 200 unless a projection stopped,
// the state and its reasons in the body.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Health()
	status := http.StatusOK
	if h.Status == engine.HealthStopped {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// readyz answers whether reads answer what the log holds: 200 while the
// projections are current (live, or degraded for another reason), 503
// while starting, catching up, stalled, cut off or stopped.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Health()
	status := http.StatusOK
	if !h.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
}

// Freshness headers on every read (docs/api.md, "Freshness").
const (
	// HeaderPosition is the log sequence the projections had applied
	// when the answer began: it reflects at least that much of the log.
	HeaderPosition = "Stafet-Position"
	// HeaderAsOf is the last moment the projections held the whole log.
	HeaderAsOf = "Stafet-As-Of"
	// HeaderStale is "true" when the answer may miss events: the
	// projections are catching up, stalled, cut off from the log or
	// stopped.
	HeaderStale = "Stafet-Stale"
	// HeaderState is the projections' state: starting, catching-up,
	// live, stalled or stopped.
	HeaderState = "Stafet-State"
)

// fresh sets the freshness headers on a read's answer.
func (s *Server) fresh(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := s.cfg.Projections; h != nil {
			st := h.Status()
			hd := w.Header()
			hd.Set(HeaderPosition, strconv.FormatUint(st.Applied, 10))
			if !st.AsOf.IsZero() {
				hd.Set(HeaderAsOf, st.AsOf.UTC().Format(time.RFC3339Nano))
			}
			hd.Set(HeaderStale, strconv.FormatBool(st.Stale))
			hd.Set(HeaderState, string(st.State))
			hd.Add("Access-Control-Expose-Headers", strings.Join([]string{HeaderPosition, HeaderAsOf, HeaderStale, HeaderState}, ", "))
		}
		next.ServeHTTP(w, r)
	})
}

// healthCollector turns the health report into metrics at scrape time.
// Labels name projections, reactors, channels, codes and reasons: never
// a pathway, a patient or a subject.
type healthCollector struct {
	s *Server

	status, ready, quarantined, projState, projStalled, projAsOf, reactorLag, reactorStalled,
	deadLetters, deadRecent, diskFree, diskRatio, natsUp *prometheus.Desc
}

func newHealthCollector(s *Server) *healthCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &healthCollector{
		s:              s,
		status:         d("stafet_health_status", "1 for the service's health state (starting, catching-up, live, degraded, stopped), 0 for the others.", "status"),
		ready:          d("stafet_ready", "1 while reads answer what the log holds (/readyz answers 200)."),
		quarantined:    d("stafet_quarantined_events", "Stored messages quarantined and not resolved, by reason.", "reason"),
		projState:      d("stafet_projection_state", "1 for the projection host's state (starting, catching-up, live, stalled, stopped), 0 for the others.", "projection", "state"),
		projStalled:    d("stafet_projection_stalled_seconds", "How long the projection has not moved while the log holds more; 0 when it is current.", "projection"),
		projAsOf:       d("stafet_projection_as_of_timestamp_seconds", "The last moment the projection held the whole log (Unix time).", "projection"),
		reactorLag:     d("stafet_reactor_lag_events", "Events a shared reactor has not acknowledged yet.", "reactor"),
		reactorStalled: d("stafet_reactor_stalled_seconds", "How long a reactor with events waiting has not acknowledged one.", "reactor"),
		deadLetters:    d("stafet_dead_letters", "Dead letters waiting, by channel and code.", "channel", "code"),
		deadRecent:     d("stafet_dead_letters_recent", "Dead letters written within the health monitor's window."),
		diskFree:       d("stafet_disk_free_bytes", "Room left for the log: the data directory's file system, or JetStream's account limit."),
		diskRatio:      d("stafet_disk_free_ratio", "The share of that room that is free."),
		natsUp:         d("stafet_nats_connected", "1 while the connection to NATS is up."),
	}
}

func (c *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.status, c.ready, c.quarantined, c.projState, c.projStalled, c.projAsOf,
		c.reactorLag, c.reactorStalled, c.deadLetters, c.deadRecent, c.diskFree, c.diskRatio, c.natsUp} {
		ch <- d
	}
}

func (c *healthCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.s.cfg.Health()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, st := range []engine.HealthStatus{engine.HealthStarting, engine.HealthCatchingUp, engine.HealthLive, engine.HealthDegraded, engine.HealthStopped} {
		gauge(c.status, one(h.Status == st), string(st))
	}
	gauge(c.ready, one(h.Ready))
	reasons := map[string]int{}
	if p := c.s.cfg.Projections; p != nil {
		for _, q := range p.Quarantine() {
			if q.Open() {
				reasons[string(q.Reason)]++
			}
		}
	}
	for _, r := range []string{"undecodable", "invalid", "unknown-type", "projection-failed"} {
		gauge(c.quarantined, float64(reasons[r]), r)
	}
	for _, p := range h.Projections {
		for _, st := range []engine.HostState{engine.Starting, engine.CatchingUp, engine.Live, engine.Stalled, engine.Stopped} {
			gauge(c.projState, one(p.State == st), p.Name, string(st))
		}
		gauge(c.projStalled, p.StalledSeconds, p.Name)
		if !p.AsOf.IsZero() {
			gauge(c.projAsOf, float64(p.AsOf.UnixNano())/1e9, p.Name)
		}
	}
	for _, r := range h.Reactors {
		gauge(c.reactorLag, float64(r.Lag), r.Name)
		gauge(c.reactorStalled, r.StalledSeconds, r.Name)
	}
	for _, d := range h.DeadLetters.ByChannel {
		gauge(c.deadLetters, float64(d.Count), d.Channel, d.Code)
	}
	gauge(c.deadRecent, float64(h.DeadLetters.Recent))
	if d := h.Disk; d != nil {
		gauge(c.diskFree, float64(d.FreeBytes))
		gauge(c.diskRatio, d.FreeRatio)
	}
	gauge(c.natsUp, one(h.NATS.Connected))
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
