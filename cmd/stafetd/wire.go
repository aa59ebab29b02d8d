package main

import (
	"context"
	"crypto/tls"
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
	"github.com/stafet/stafet/internal/settings"
	"github.com/stafet/stafet/web"
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
	mcfg := mllp.Config{Addr: cfg.MLLPAddr, Logger: log, OnOversize: mllp.HL7OversizeAck, OnBusy: mllp.HL7BusyAck, MaxConnsPerSource: cfg.MLLP.MaxConnsPerSource,
		Senders: mllp.NewSenders(svc.dir), AllowPlaintext: cfg.MLLPPlaintext, TLS: tlsCfg, IdleTimeout: cfg.MLLP.IdleTimeout, MaxMessage: cfg.MLLP.MaxMessage}
	handler, err := mllp.CountAcks(svc.registry, mllp.HL7HandlerWith(svc.ingest, log, mllp.HL7Options{GarbageQuota: cfg.MLLP.GarbageQuota}))
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
		MetricsToken: cfg.MetricsToken, Limits: cfg.HTTP,
		Dashboard: web.Handler(),
	})
	svc.alerts.Mount(api, alertCaller)
	facade, err := fhir.New(fhir.Config{
		API: api, Store: svc.store, Directory: svc.dir, Projections: svc.host, Alerts: svc.alerts,
		Notifier: svc.notifier, Base: cfg.FHIRBase, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	facade.Mount()
	return api, nil
}

// alertCaller is who calls an alert endpoint, as the API's
// authentication found it.
func alertCaller(r *http.Request) alerts.Caller {
	p := httpapi.PrincipalOf(r)
	return alerts.Caller{Operator: p.Operator, Org: p.Org}
}
