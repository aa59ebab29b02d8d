package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

func newFlags(name string, e env) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet("stafet "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs, fs.Bool("json", false, "print JSON instead of a table")
}

const tokenUsage = "usage: stafet token issue -org ORG [-label L] [-nats FILE] | revoke TOKEN | nats-conf"

func cmdToken(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return errors.New(tokenUsage)
	}
	switch e.args[0] {
	case "issue":
		return tokenIssue(ctx, e)
	case "revoke":
		return tokenRevoke(ctx, e)
	case "nats-conf":
		return tokenNATSConf(ctx, e)
	}
	return errors.New(tokenUsage)
}

// tokenNATSConf prints the organisations' NATS users as an external
// cluster's subscribers.conf (docs/deploy).
func tokenNATSConf(ctx context.Context, e env) error {
	c, err := newClient(e)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, "GET", "/v1/nats-users/conf", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(e.stdout, resp.Body)
	return err
}

func tokenIssue(ctx context.Context, e env) error {
	fs, asJSON := newFlags("token issue", e)
	org := fs.String("org", "", "organisation, by id (kommune:0751, sor:6620000000001) or name")
	label := fs.String("label", "", "a note on whom the token is for")
	natsFile := fs.String("nats", "", "also issue a NATS user for the organisation's alerts, and write its NKey seed to this new file (mode 0600), for nats --nkey FILE")
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	if *org == "" {
		return fmt.Errorf("-org: missing; want the organisation the token is for, e.g. kommune:0751 or Aarhus")
	}
	if *natsFile != "" {
		// Refuse before anything is issued: a seed must not be lost, nor
		// overwrite a file.
		if _, err := os.Stat(*natsFile); err == nil {
			return fmt.Errorf("-nats %s: the file exists; give a new path", *natsFile)
		}
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"org": "-org", "label": "-label"})
	if *org, err = newNames(c).orgFlag(ctx, "-org", *org, ""); err != nil {
		return err
	}
	var out struct {
		Token        string   `json:"token"`
		Org          string   `json:"org"`
		NATSSeed     string   `json:"nats_seed,omitempty"`
		NATSKey      string   `json:"nats_key,omitempty"`
		NATSSubjects []string `json:"nats_subjects,omitempty"`
		NATSNote     string   `json:"nats_note,omitempty"`
	}
	req := map[string]any{"org": *org, "label": *label}
	if *natsFile != "" {
		req["nats"] = true
	}
	if err := c.getJSON(ctx, "POST", "/v1/tokens", req, &out); err != nil {
		return err
	}
	if *natsFile != "" {
		f, err := os.OpenFile(*natsFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(out.NATSSeed + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return fmt.Errorf("-nats %s: %w (revoke the token: stafet token revoke TOKEN)", *natsFile, err)
		}
		out.NATSSeed = ""
	}
	if *asJSON {
		return printJSON(e.stdout, out)
	}
	fmt.Fprintf(e.stderr, "Token for %s (shown once):\n", out.Org)
	fmt.Fprintln(e.stdout, out.Token)
	if *natsFile != "" {
		fmt.Fprintf(e.stderr, "NATS user %s, seed in %s; it may subscribe to %s only:\n", out.NATSKey, *natsFile, strings.Join(out.NATSSubjects, ", "))
		for _, subj := range out.NATSSubjects {
			fmt.Fprintf(e.stderr, "  nats --nkey %s sub '%s'\n", *natsFile, subj)
		}
		if out.NATSNote != "" {
			fmt.Fprintf(e.stderr, "Before it works: %s.\n", out.NATSNote)
		}
	}
	return nil
}

func tokenRevoke(ctx context.Context, e env) error {
	if len(e.args) != 2 {
		return errors.New(tokenUsage)
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	if err := c.getJSON(ctx, "DELETE", "/v1/tokens", map[string]string{"token": e.args[1]}, nil); err != nil {
		return err
	}
	fmt.Fprintln(e.stderr, "Revoked, with its NATS user if it had one; their open connections are closed.")
	return nil
}

func cmdRebuild(ctx context.Context, e env) error {
	fs, asJSON := newFlags("rebuild", e)
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	var last json.RawMessage
	var end rebuildLine
	err = c.lines(ctx, "POST", "/v1/admin/rebuild", func(line []byte) error {
		var l rebuildLine
		json.Unmarshal(line, &l)
		if l.Type == "progress" && !*asJSON {
			fmt.Fprintf(e.stderr, "\r%s %d/%d events  %.0f/s  ETA %s   ", bar(l.Done, l.Total, 30), l.Done, l.Total, l.Rate, (time.Duration(l.ETASeconds) * time.Second).String())
		}
		if l.Type != "progress" {
			last, end = append(last[:0], line...), l
		}
		return nil
	})
	fmt.Fprintln(e.stderr)
	if err != nil {
		return fmt.Errorf("rebuild failed: %w; the serving projections are unchanged", err)
	}
	switch end.Type {
	case "report":
	case "error":
		return fmt.Errorf("rebuild failed: %s; the serving projections are unchanged", end.Detail)
	default:
		return fmt.Errorf("rebuild failed: the answer ended without a report (the connection dropped?); the serving projections are unchanged")
	}
	if *asJSON {
		return printJSON(e.stdout, last)
	}
	fmt.Fprintf(e.stdout, "Rebuilt from %d events of the log, up to seq %d, in %.1f s; the rebuilt projections now serve.\n", end.Events, end.Done, end.ElapsedSeconds)
	switch {
	case end.Same == nil:
		fmt.Fprintln(e.stdout, "same: not compared (the projections take no snapshots).")
	case *end.Same:
		fmt.Fprintln(e.stdout, "same: true — replaying the whole log again gave byte for byte the state that was serving,\nbuilt event by event and from checkpoints: nothing had drifted.")
	default:
		fmt.Fprintln(e.stdout, "same: false — the rebuilt state differs from the one that was serving; the rebuilt one serves now.\nExpected after a change of rules or of a projection's code; otherwise the serving state had drifted:\nkeep this output and report it.")
		if end.Diff != "" {
			fmt.Fprintln(e.stdout, end.Diff)
		}
	}
	if end.Quarantined > 0 {
		fmt.Fprintf(e.stdout, "%d stored messages are quarantined and not in the projections: stafet quarantine list.\n", end.Quarantined)
	}
	return nil
}

// rebuildLine is a line of POST /v1/admin/rebuild's answer.
type rebuildLine struct {
	Type                string
	Done, Total, Events uint64
	Rate                float64
	ETASeconds          float64 `json:"eta_seconds"`
	ElapsedSeconds      float64 `json:"elapsed_seconds"`
	Same                *bool
	Diff, Detail        string
	Quarantined         int
}

func bar(done, total uint64, width int) string {
	if total == 0 {
		total = 1
	}
	n := int(float64(done) / float64(total) * float64(width))
	n = min(max(n, 0), width)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}
