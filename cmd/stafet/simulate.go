package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
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
	base, _ := serverURL(e.getenv)
	fs.StringVar(&cfg.MLLPAddr, "mllp", mllpAddr(e.getenv), "stafetd's MLLP address (default from STAFET_MLLP_ADDR, as stafetd has it)")
	fs.StringVar(&cfg.BaseURL, "url", base, "stafetd's HTTP API (default STAFET_URL, else from STAFET_HTTP_ADDR)")
	fs.StringVar(&cfg.Token, "token", e.getenv("STAFET_TOKEN"), "operator token (default: STAFET_ADMIN_TOKEN, or admin-token in STAFET_KEY_DIR)")
	seed := fs.Uint64("seed", 0, "the workload's seed: the same seed draws the same patients (default: a fresh population each run)")
	fs.Float64Var(&cfg.TimeScale, "time-scale", 0, "simulated minutes per real second (0 = real time); start stafetd with the matching rules (-write-config)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "messages a second (0 = the national rate at the time scale)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop after this long (0 = until interrupted)")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many messages")
	fs.StringVar(&clusters, "clusters", "", "comma-separated cluster ids (default all 21)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, "senders, each with its own MLLP connection")
	fs.BoolVar(&cfg.NoAnswers, "no-answers", false, "do not answer offers from the worklists")
	fs.DurationVar(&cfg.PollInterval, "poll", 2*time.Second, "how often worklists are read")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "per request and per ACK")
	fs.DurationVar(&cfg.ResendFor, "resend-for", 2*time.Minute, "how long a message stafetd did not take (down, or unable to record it) is resent before it counts as an error")
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
		cfg.Clusters = strings.Split(strings.ToLower(clusters), ",")
	}
	fresh := *seed == 0
	cfg.Seed = *seed
	if fresh {
		// A fresh population: a patient of an earlier run (who may have
		// died in it) is not drawn again.
		cfg.Seed = uint64(time.Now().UnixNano())
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
	fmt.Fprintf(e.stderr, "Driving stafetd at %s (MLLP %s), seed %d; Ctrl-C stops.\n", cfg.BaseURL, cfg.MLLPAddr, cfg.Seed)
	cfg.Progress = func(p simulator.Progress) {
		fmt.Fprintf(e.stderr, "\r%s  simulated %s  sent %d  acked %d  answers %d  errors %d  %.0f msg/s   ",
			p.Elapsed.Round(time.Second), p.Sim.Local().Format("2006-01-02 15:04"), p.Sent, p.Acked, p.Answers, p.Errors, p.Rate)
	}
	st, err := simulator.Run(ctx, cfg)
	fmt.Fprintln(e.stderr)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, struct {
			Seed uint64 `json:"seed"`
			simulator.Stats
		}{cfg.Seed, st})
	}
	summary(e.stdout, cfg.Seed, fresh, st)
	return nil
}

// summary tells what a simulation did, for people.
func summary(w io.Writer, seed uint64, fresh bool, st simulator.Stats) {
	sent := 0
	for _, n := range st.Sent {
		sent += n
	}
	fmt.Fprintf(w, "Ran %s: %d pathways, %d messages sent.\n", st.Elapsed.Round(100*time.Millisecond), st.Pathways, sent)
	fmt.Fprintf(w, "  by channel    %s\n", counts(map[string]string{"hl7v2": "HL7 v2 over MLLP", "medcom": "MedCom over HTTP", "api": "JSON API"}, st.Sent))
	fmt.Fprintf(w, "  answered      %s\n", counts(map[string]string{"ok": "MedCom ok", "fatal-error": "MedCom fatal-error", "200": "HTTP 200", "201": "HTTP 201"}, st.Acks))
	fmt.Fprintf(w, "  offers        %s\n", counts(map[string]string{"on-time": "accepted on time", "late": "accepted late", "reject": "rejected", "never": "left unanswered"}, st.Answers))
	if st.Resent > 0 || st.Retries > 0 {
		fmt.Fprintf(w, "  outage        %d messages resent after stafetd did not take them (longest wait %s; %d attempts failed)\n", st.Resent, st.Outage.Round(100*time.Millisecond), st.Retries)
	}
	if len(st.Skipped) > 0 {
		fmt.Fprintf(w, "  not sent      %s\n", counts(map[string]string{"pathway-unknown": "API steps whose pathway was not yet known", "stopped": "queued when the run ended", "unsent": "being resent when the run ended"}, st.Skipped))
	}
	fmt.Fprintf(w, "  errors        %d\n", st.Errors)
	for _, m := range st.FirstErrors {
		fmt.Fprintln(w, "                ", m)
	}
	if fresh {
		fmt.Fprintf(w, "Seed %d: a fresh population. -seed %d draws the same patients again (against the same stafetd they meet their own pathways).\n", seed, seed)
	} else {
		fmt.Fprintf(w, "Seed %d, as asked.\n", seed)
	}
}

// counts renders a map of counts in a stable order, named for people.
func counts[K ~string](labels map[string]string, m map[K]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[K(keys[i])] != m[K(keys[j])] {
			return m[K(keys[i])] > m[K(keys[j])]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		label := labels[k]
		if label == "" {
			label = k
		}
		parts[i] = fmt.Sprintf("%s %d", label, m[K(k)])
	}
	return strings.Join(parts, ", ")
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
