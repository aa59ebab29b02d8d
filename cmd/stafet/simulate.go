package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stafet/stafet/simulator"
)

// cmdSimulate drives a running stafetd through its real interfaces (HL7
// over MLLP, MedCom over HTTP, the JSON API) with the national model.
func cmdSimulate(ctx context.Context, e env) error {
	fs, asJSON := newFlags("simulate", e)
	var cfg simulator.Config
	var clusters, writeConfig, certs string
	fs.StringVar(&cfg.MLLPAddr, "mllp", orDefault(e.getenv("STAFET_MLLP"), "127.0.0.1:2575"), "stafetd's MLLP address")
	fs.StringVar(&cfg.BaseURL, "url", orDefault(e.getenv("STAFET_URL"), "http://127.0.0.1:8080"), "stafetd's HTTP API")
	fs.StringVar(&cfg.Token, "token", e.getenv("STAFET_TOKEN"), "operator token (default: admin-token in STAFET_KEY_DIR)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "the workload's seed")
	fs.Float64Var(&cfg.TimeScale, "time-scale", 0, "simulated minutes per real second (0 = real time); start stafetd with the matching rules (-write-config)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "messages a second (0 = the national rate at the time scale)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0 = until interrupted)")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many messages")
	fs.StringVar(&clusters, "clusters", "", "comma-separated cluster ids (default all 21)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "senders, each with its own MLLP connection")
	fs.BoolVar(&cfg.NoAnswers, "no-answers", false, "do not answer offers from the worklists")
	fs.DurationVar(&cfg.PollInterval, "poll", 2*time.Second, "how often worklists are read")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per request and per ACK")
	fs.StringVar(&cfg.RunID, "run-id", "", "distinguishes this run's message ids (default: the start time)")
	fs.Func("start", "wire time of the first message, RFC 3339 (default now; e.g. 2026-12-31T22:00:00+01:00 runs across the 2027 reform)", func(v string) error {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("want an RFC 3339 time such as 2026-12-31T22:00:00+01:00")
		}
		cfg.Start = t
		return nil
	})
	fs.StringVar(&certs, "mllp-certs", "", "send HL7 over mutual TLS with DIR/"+simulator.ClientName+".crt and .key, trusting DIR/ca.crt (stafet certs; docs/simulator.md)")
	fs.StringVar(&writeConfig, "write-config", "", "write DIR/organisations.json and DIR/rules.json (for -time-scale) and exit")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	if writeConfig != "" {
		return writeSimConfig(e, writeConfig, cfg.TimeScale)
	}
	if clusters != "" {
		cfg.Clusters = strings.Split(clusters, ",")
	}
	if certs != "" {
		var err error
		if cfg.MLLPTLS, err = simulatorTLS(certs); err != nil {
			return err
		}
	}
	if cfg.Token == "" {
		c, err := newClient(e)
		if err != nil {
			return err
		}
		cfg.Token = c.token
	}
	cfg.Progress = func(p simulator.Progress) {
		fmt.Fprintf(e.stderr, "\r%s  simulated %s  sent %d  acked %d  answers %d  errors %d  %.0f msg/s   ",
			p.Elapsed.Round(time.Second), p.Sim.Format("2006-01-02 15:04"), p.Sent, p.Acked, p.Answers, p.Errors, p.Rate)
	}
	st, err := simulator.Run(ctx, cfg)
	fmt.Fprintln(e.stderr)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, st)
	}
	fmt.Fprintf(e.stdout, "sent %v\nacks %v\nanswers %v\nskipped %v\nerrors %d\n", st.Sent, st.Acks, st.Answers, st.Skipped, st.Errors)
	for _, m := range st.FirstErrors {
		fmt.Fprintln(e.stdout, "  ", m)
	}
	return nil
}

func writeSimConfig(e env, dir string, timeScale float64) error {
	rules, err := simulator.Rules(timeScale)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	orgs := filepath.Join(dir, "organisations.json")
	rulesFile := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(orgs, simulator.Organisations(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(rulesFile, rules, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s; start stafetd with\n  STAFET_ORGANISATIONS=%s STAFET_RULES=%s go run ./cmd/stafetd\n", orgs, rulesFile, orgs, rulesFile)
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// simulatorTLS reads the simulator's client certificate and the CA that
// `stafet certs` wrote in dir.
func simulatorTLS(dir string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, simulator.ClientName+".crt"), filepath.Join(dir, simulator.ClientName+".key"))
	if err != nil {
		return nil, fmt.Errorf("mllp-certs: %w (make it with: stafet certs client -dir %s %s)", err, dir, simulator.ClientName)
	}
	b, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("mllp-certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("mllp-certs: no certificate in %s", filepath.Join(dir, "ca.crt"))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
