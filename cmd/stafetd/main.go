// Command stafetd runs Stafet: the event store on an embedded NATS
// JetStream server (or an external cluster), and the services around it.
//
// With no flags it keeps its data in ./data. Every flag has an environment
// variable; run stafetd -h for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stafet/stafet/engine"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "stafetd:", err)
		os.Exit(1)
	}
}

type config struct {
	engine    engine.Config
	logFormat string
	logLevel  string
}

func parse(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("stafetd", flag.ContinueOnError)
	str := func(p *string, name, env, def, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+env+")")
	}
	var durability string
	str(&c.engine.DataDir, "data-dir", "STAFET_DATA_DIR", "data", "directory of the embedded JetStream files")
	str(&c.engine.URL, "nats-url", "STAFET_NATS_URL", "", "external NATS cluster URL; empty runs the embedded server")
	str(&c.engine.ListenAddr, "nats-addr", "STAFET_NATS_ADDR", "127.0.0.1:4222", "embedded server's client address; empty = in-process only")
	str(&c.engine.Credentials, "nats-creds", "STAFET_NATS_CREDS", "", "NATS credentials file for -nats-url")
	str(&c.engine.CAFile, "nats-ca", "STAFET_NATS_CA", "", "CA certificate for NATS TLS")
	str(&c.engine.CertFile, "nats-cert", "STAFET_NATS_CERT", "", "client/server certificate for NATS TLS")
	str(&c.engine.KeyFile, "nats-key", "STAFET_NATS_KEY", "", "key for -nats-cert")
	str(&durability, "durability", "STAFET_DURABILITY", "safe", "safe (fsync before ack) or bulk (fsync on the server's interval)")
	str(&c.logFormat, "log-format", "STAFET_LOG_FORMAT", "text", "text or json")
	str(&c.logLevel, "log-level", "STAFET_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.engine.Durability = engine.Durability(durability)
	return c, c.engine.Validate()
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func run(args []string, stderr io.Writer) error {
	c, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(c.logFormat, c.logLevel, stderr)
	if err != nil {
		return err
	}
	c.engine.Logger = log
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	store, err := engine.Open(ctx, c.engine)
	if err != nil {
		return err
	}
	log.Info("stafetd running", "data_dir", store.DataDir(), "nats", store.ClientURL(),
		"durability", string(store.Config().Durability))
	<-ctx.Done()
	log.Info("stopping: draining connections")
	start := time.Now()
	if err := store.Close(); err != nil {
		return err
	}
	log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
