package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/fhir"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/settings"
	"github.com/stafet/stafet/projections"
	"github.com/stafet/stafet/web"
)

// service is a running stafetd, for tests that start it in-process.
type service struct {
	store  *engine.Store
	host   *engine.Host
	set    *projections.Set
	rules  projections.Rules
	dir    *events.Directory
	ingest *ingest.Ingest
	// receipts is the message browser's index of inbound messages.
	receipts *engine.ReceiptIndex
	tokens   *httpapi.Tokens
	alerts   *alerts.Service
	// notifier writes FHIR subscription notifications; the facade binds
	// it when the API is built.
	notifier *fhir.Notifier
	admin    string
	httpAddr net.Addr
	mllpAddr net.Addr
	registry *prometheus.Registry
	monitor  *engine.Monitor
	// stopProjections ends the projection host alone (tests: a view that
	// stops being current while the service goes on).
	stopProjections context.CancelFunc
}

// run starts everything, reports the running service on started (if not
// nil), and serves until ctx ends; then it stops accepting, drains,
// checkpoints and closes the store.
func run(ctx context.Context, cfg settings.Settings, stderr io.Writer, started chan<- *service) error {
	log, err := cfg.NewLogger(stderr)
	if err != nil {
		return err
	}
	cfg.Engine.Logger = log
	log.Info("stafetd starting", cfg.Where()...)
	svc := &service{registry: prometheus.NewRegistry()}
	if svc.dir, err = events.LoadDirectory(cfg.OrgsFile); err != nil {
		return err
	}
	rules, rulesID, err := cfg.LoadRules()
	if err != nil {
		return err
	}
	svc.rules = rules
	if svc.set, err = projections.NewSet(rules); err != nil {
		return err
	}
	svc.set.UseDirectory(svc.dir)
	if svc.store, err = engine.Open(ctx, cfg.Engine); err != nil {
		return err
	}
	defer svc.store.Close()
	if err := svc.setupAuth(ctx, cfg, log, stderr); err != nil {
		return err
	}
	// The checkpoint name carries the rules' hash: a change of rules starts
	// from an empty state and re-derives every gap by replay.
	svc.host = svc.store.Log().NewHost("projections-v1-"+rulesID, svc.set, engine.HostOptions{})
	policies, err := projections.NewPolicies(rules)
	if err != nil {
		return err
	}
	policies = policies.WithDirectory(svc.dir)
	svc.ingest = ingest.New(svc.store, svc.dir, translators(svc.dir, cfg, log), log)
	svc.receipts = svc.store.Inbox().NewReceiptIndex()
	views, err := projections.NewGaps(rules)
	if err != nil {
		return err
	}
	svc.notifier = &fhir.Notifier{}
	if svc.alerts, err = alerts.New(ctx, alerts.Config{Store: svc.store, Views: views, Directory: svc.dir, Logger: log, Registerer: svc.registry, AllowLoopback: cfg.WebhooksLoopback, WebhookProxy: cfg.WebhookProxy,
		Formats: map[string]alerts.Formatter{fhir.Format: svc.notifier}}); err != nil {
		return err
	}
	svc.monitor = svc.store.NewMonitor([]*engine.Host{svc.host}, engine.MonitorOptions{Reactors: []string{alerts.Reactor, policiesReactor}})
	if err := httpapi.RegisterMetrics(svc.registry, svc.store.Log(), svc.host); err != nil {
		return err
	}
	if err := httpapi.RegisterInboxMetrics(svc.registry, svc.receipts); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	// Each component says once that it stopped: a shutdown reads as one
	// line per component, not as the failures of the work it was doing.
	goRun := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f(ctx)
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				return
			}
			if ctx.Err() != nil {
				log.Info("stopped", "component", name)
			}
		}()
	}
	projCtx, stopProjections := context.WithCancel(ctx)
	svc.stopProjections = stopProjections
	goRun("projections", func(context.Context) error {
		// A message the projections cannot take in is quarantined; what
		// still stops them (the log unreadable for long) must not stop
		// the intake: messages keep being stored and appended, and the
		// health report says stopped (/healthz and /readyz answer 503).
		if err := svc.host.Run(projCtx); err != nil && ctx.Err() == nil {
			log.Error("projections stopped; intake goes on; /healthz and /readyz answer 503", "err", err)
		}
		return nil
	})
	goRun("health", svc.monitor.Run)
	goRun("alerts", svc.alerts.Run)
	goRun("receipts", svc.receipts.Run)
	goRun("checkpoints", svc.store.Log().RunCheckpoints)
	goRun("policies", func(ctx context.Context) error {
		return svc.store.Reactors().RunPolicy(ctx, policiesReactor, policies)
	})
	goRun("deadlines", func(ctx context.Context) error {
		return svc.store.Reactors().RunDeadlines(ctx, svc.host, time.Second)
	})
	stopServers, err := svc.serve(ctx, cfg, log, goRun)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	log.Info("stafetd running", "data_dir", svc.store.NATS().DataDir(), "nats", svc.store.NATS().ClientURL(),
		"http", addrString(svc.httpAddr), "mllp", addrString(svc.mllpAddr),
		"durability", string(svc.store.Config().Durability), "rules", rulesID)
	if svc.httpAddr != nil {
		log.Info("dashboard: sign in with the operator token", "url", web.URL(svc.httpAddr, cfg.TLSCert != ""), "operator_token", cfg.TokenSource())
	}
	if started != nil {
		started <- svc
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errs:
		log.Error("stopping after a failure", "err", runErr)
	}
	log.Info("stopping: no new connections; draining")
	stopServers(cfg.Drain)
	cancel()
	wg.Wait()
	log.Info("stopped", "projections_at", svc.host.Applied())
	return runErr
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// setupAuth takes the operator token (httpapi.OperatorToken) and opens
// the organisation tokens.
func (svc *service) setupAuth(ctx context.Context, cfg settings.Settings, log *slog.Logger, stderr io.Writer) error {
	op, err := httpapi.OperatorToken(cfg.Engine.DataDir, cfg.Engine.KeyDir, cfg.AdminToken)
	if err != nil {
		return err
	}
	op.Tell(stderr, log, cfg.LogFormat != "json")
	if cfg.AdminToken != "" && len(cfg.AdminToken) < 16 {
		return errors.New("the operator token must be at least 16 characters")
	}
	svc.admin = op.Token
	svc.tokens, err = httpapi.NewTokensHashed(ctx, svc.store, op.Hash)
	return err
}

// policiesReactor is the durable reactor of the implied handoffs.
const policiesReactor = "stafet-policies"

// serve starts the HTTP and MLLP servers and returns the function that
// stops them gracefully.
func (svc *service) serve(ctx context.Context, cfg settings.Settings, log *slog.Logger, goRun func(string, func(context.Context) error)) (func(time.Duration), error) {
	tlsCfg, mllpTLS, err := cfg.TLS()
	if err != nil {
		return nil, err
	}
	var stops []func(time.Duration)
	if cfg.MLLPAddr != "" {
		stop, err := svc.serveMLLP(ctx, cfg, mllpTLS, log, goRun)
		if err != nil {
			return nil, err
		}
		stops = append(stops, stop)
	}
	if cfg.HTTPAddr != "" {
		api, err := svc.api(log, cfg)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("http: %w", err)
		}
		svc.httpAddr = ln.Addr()
		srv := api.HTTPServer(tlsCfg)
		// A server that stops serving stops the service (run), rather
		// than leave it running without its API.
		goRun("http", func(context.Context) error { return api.Serve(srv, ln) })
		stops = append(stops, func(d time.Duration) {
			sctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				log.Warn("http: requests still running after the drain time were cut off", "drain", d)
			}
		})
	}
	return func(d time.Duration) {
		for _, stop := range stops {
			stop(d)
		}
	}, nil
}
