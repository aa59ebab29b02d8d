package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/fhir"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/pki"
	"github.com/stafet/stafet/internal/settings"
)

// translators are the message formats stafetd understands, by channel.
func translators(dir *events.Directory, cfg settings.Settings, log *slog.Logger) map[string]ingest.Translator {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		log.Warn("unknown time zone; HL7 times without an offset are read as Europe/Copenhagen", "timezone", cfg.Timezone)
		loc = nil
	}
	return map[string]ingest.Translator{
		medcom.System: medcom.NewTranslator(dir).Translate,
		hl7v2.System:  hl7v2.NewTranslator(dir, loc).Translate,
	}
}

func (svc *service) serveMLLP(ctx context.Context, cfg settings.Settings, tlsCfg *tls.Config, log *slog.Logger, goRun func(string, func(context.Context) error)) (func(time.Duration), error) {
	if cfg.MLLPCert != "" {
		var err error
		if tlsCfg, err = pki.ServerTLS(cfg.MLLPCert, cfg.MLLPKey); err != nil {
			return nil, fmt.Errorf("mllp tls: %w", err)
		}
	}
	if cfg.MLLPTLS && tlsCfg == nil {
		return nil, fmt.Errorf("-mllp-tls needs -mllp-tls-cert and -mllp-tls-key, or -tls-cert and -tls-key")
	}
	mcfg := mllp.Config{Addr: cfg.MLLPAddr, Logger: log, OnOversize: mllp.HL7OversizeAck, OnBusy: mllp.HL7BusyAck, MaxConnsPerSource: cfg.MLLPPerSource,
		Senders: mllp.NewSenders(svc.dir), AllowPlaintext: cfg.MLLPPlaintext}
	if cfg.MLLPTLS {
		var err error
		if mcfg.TLS, err = pki.MutualTLS(tlsCfg, cfg.MLLPClientCA); err != nil {
			return nil, err
		}
	}
	handler, err := mllp.CountAcks(svc.registry, mllp.HL7Handler(svc.ingest, log))
	if err != nil {
		return nil, err
	}
	srv := mllp.New(mcfg, handler)
	if err := srv.Register(svc.registry); err != nil {
		return nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	svc.mllpAddr = srv.Addr()
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	goRun("mllp", func(context.Context) error { defer close(done); return srv.Serve(sctx) })
	return func(d time.Duration) {
		cancel()
		select {
		case <-done:
		case <-time.After(d):
			log.Warn("mllp: connections still open after the drain time", "drain", d)
		}
	}, nil
}

func (svc *service) api(log *slog.Logger, cfg settings.Settings) (*httpapi.Server, error) {
	api := httpapi.New(httpapi.Config{
		Store: svc.store, Tokens: svc.tokens, Directory: svc.dir, Ingest: svc.ingest, Receipts: svc.receipts, Alerts: svc.alerts,
		Projections: svc.host, Rules: svc.rules,
		Health: svc.monitor.Health, Registry: svc.registry, Logger: log,
		NATSSubjects: func(org events.OrgID) []string { return []string{alerts.OrgFilter(org)} },
		MetricsToken: cfg.MetricsToken, Limits: httpapi.Limits{MaxConnsPerSource: cfg.HTTPPerSource},
	})
	mountAlerts(api, svc.alerts)
	facade, err := fhir.New(fhir.Config{
		API: api, Store: svc.store, Directory: svc.dir, Projections: svc.host, Alerts: svc.alerts,
		Notifier: svc.notifier, Base: cfg.FHIRBase, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	facade.Mount()
	svc.mountWeb(api)
	return api, nil
}

// mountAlerts serves the alert endpoints behind the API's authentication;
// the SSE stream takes its token from the query too and ends when the
// token is revoked.
func mountAlerts(api *httpapi.Server, as *alerts.Service) {
	caller := func(r *http.Request) alerts.Caller {
		p := httpapi.PrincipalOf(r)
		return alerts.Caller{Operator: p.Operator, Org: p.Org}
	}
	for _, rt := range as.Routes(caller) {
		if rt.Stream {
			api.HandleStream(rt.Pattern, rt.Handler)
			continue
		}
		api.Handle(rt.Pattern, true, rt.Handler)
	}
}
