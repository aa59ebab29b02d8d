package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/stafet/stafet/adapters/httpapi"
	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/medcom"
	"github.com/stafet/stafet/adapters/mllp"
	"github.com/stafet/stafet/events"
)

// translators are the message formats stafetd understands, by channel.
func translators(dir *events.Directory, cfg config, log *slog.Logger) map[string]ingest.Translator {
	return map[string]ingest.Translator{
		medcom.System: medcom.NewTranslator(dir).Translate,
	}
}

func (svc *service) serveMLLP(ctx context.Context, cfg config, tlsCfg *tls.Config, log *slog.Logger, goRun func(string, func(context.Context) error)) (func(time.Duration), error) {
	if cfg.mllpTLS && tlsCfg == nil {
		return nil, fmt.Errorf("-mllp-tls needs -tls-cert and -tls-key")
	}
	mcfg := mllp.Config{Addr: cfg.mllpAddr, Logger: log}
	if cfg.mllpTLS {
		mcfg.TLS = tlsCfg
	}
	srv := mllp.New(mcfg, func(ctx context.Context, msg []byte, remote string) []byte { return nil })
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	svc.mllpAddr = srv.Addr()
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(sctx) }()
	return func(d time.Duration) {
		cancel()
		select {
		case <-done:
		case <-time.After(d):
		}
	}, nil
}

func (svc *service) api(log *slog.Logger) *httpapi.Server {
	return httpapi.New(httpapi.Config{
		Store: svc.store, Tokens: svc.tokens, Directory: svc.dir, Ingest: svc.ingest,
		Projections: svc.host, Rules: svc.rules,
		Ready: svc.ready, Registry: svc.registry, Logger: log,
	})
}
