// Command stafetd runs Stafet: the event store on an embedded NATS
// JetStream server (or an external cluster), the projections, the HTTP API,
// the MLLP listener, handoff alerts and metrics.
//
// With no flags it keeps its data in ./data and listens on loopback only:
// HTTP on 127.0.0.1:8080, MLLP on 127.0.0.1:2575 and the NATS client port
// on 127.0.0.1:4222. Every flag has an environment variable; run
// stafetd -h for the list (package internal/settings).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stafet/stafet/internal/settings"
)

func main() {
	settings.GC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := settings.Parse(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stafetd:", err)
		os.Exit(2)
	}
	if err := run(ctx, cfg, os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "stafetd:", err)
		os.Exit(1)
	}
}
