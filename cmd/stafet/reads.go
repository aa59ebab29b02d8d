package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
)

// orgs joins organisation ids for a table cell.
func orgs(ids []events.OrgID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ",")
}

func newFlags(name string, e env) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet("stafet "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs, fs.Bool("json", false, "print JSON instead of a table")
}

func cmdGaps(ctx context.Context, e env) error {
	fs, asJSON := newFlags("gaps", e)
	q := url.Values{}
	for _, f := range []string{"cluster", "municipality", "org", "status", "as_of"} {
		fs.Func(strings.ReplaceAll(f, "_", "-"), "filter by "+f, func(v string) error { q.Set(f, v); return nil })
	}
	fs.Func("kind", "gap kind (repeatable)", func(v string) error { q.Add("kind", v); return nil })
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	items, err := c.pages(ctx, "/v1/gaps?"+q.Encode())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, items)
	}
	now := time.Now()
	var rows [][]string
	for _, raw := range items {
		var g httpapi.GapView
		json.Unmarshal(raw, &g)
		age := ago(now.Sub(g.OpenedAt))
		if !g.Open {
			age = "closed " + when(g.ClosedAt)
		}
		rows = append(rows, []string{string(g.Kind), string(g.Severity), g.Cluster, orgs(g.Closers), when(g.OpenedAt), age, short(g.Pathway.String())})
	}
	table(e.stdout, []string{"KIND", "SEVERITY", "CLUSTER", "CAN CLOSE", "OPENED", "AGE", "PATHWAY"}, rows)
	fmt.Fprintf(e.stderr, "%d gaps\n", len(rows))
	return nil
}

func cmdWorklist(ctx context.Context, e env) error {
	fs, asJSON := newFlags("worklist", e)
	org := fs.String("org", "", "organisation (operator only; default: the token's own)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	path := "/v1/worklist"
	if *org != "" {
		path = "/v1/orgs/" + url.PathEscape(*org) + "/worklist"
	}
	var wl httpapi.WorklistView
	if err := c.getJSON(ctx, "GET", path, nil, &wl); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, wl)
	}
	fmt.Fprintf(e.stdout, "Worklist of %s\n\nOffers waiting for an answer:\n", wl.Org)
	var rows [][]string
	for _, o := range wl.Offers {
		late := ""
		if o.Overdue {
			late = "OVERDUE"
		}
		rows = append(rows, []string{string(o.What), string(o.From), when(o.Offered), when(o.Deadline), late, short(o.Pathway.String()), o.Offer})
	}
	table(e.stdout, []string{"WHAT", "FROM", "OFFERED", "DEADLINE", "", "PATHWAY", "OFFER"}, rows)
	fmt.Fprintln(e.stdout, "\nGaps you can close:")
	rows = nil
	for _, g := range wl.Gaps {
		rows = append(rows, []string{string(g.Kind), string(g.Severity), when(g.OpenedAt), ago(time.Since(g.OpenedAt)), short(g.Pathway.String())})
	}
	table(e.stdout, []string{"KIND", "SEVERITY", "OPENED", "AGE", "PATHWAY"}, rows)
	return nil
}

func cmdPathway(ctx context.Context, e env) error {
	if len(e.args) == 0 || e.args[0] != "show" {
		return fmt.Errorf("usage: stafet pathway show ID")
	}
	fs, asJSON := newFlags("pathway show", e)
	asOf := fs.String("as-of", "", "the pathway as of this time (RFC 3339)")
	asOfKind := fs.String("as-of-kind", "recorded", "recorded (as Stafet knew it then) or valid (as now known to have been)")
	args := e.args[1:]
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: stafet pathway show ID")
	}
	id := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *asOf != "" {
		q.Set("as_of", *asOf)
		q.Set("as_of_kind", *asOfKind)
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "GET", "/v1/pathways/"+url.PathEscape(id)+"?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, raw)
	}
	return printPathway(e, raw)
}

func printPathway(e env, raw json.RawMessage) error {
	var p struct {
		ID      string `json:"id"`
		Cluster string `json:"cluster"`
		Status  string `json:"status"`
		Owner   struct {
			Holders []struct{ What, Org string } `json:"holders"`
			Chain   []struct {
				Offer, What, From, To, Status string
				Offered, Deadline, Answered   time.Time
			} `json:"chain"`
		} `json:"owner"`
		OpenGaps []httpapi.GapView `json:"open_gaps"`
		Timeline []struct {
			Seq        uint64    `json:"seq"`
			Type       string    `json:"type"`
			OccurredAt time.Time `json:"occurred_at"`
			Actor      *struct {
				Org string `json:"org"`
			} `json:"actor"`
			Annulled bool `json:"annulled"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Pathway %s  cluster %s  %s\n\nResponsible now:\n", p.ID, p.Cluster, p.Status)
	var rows [][]string
	for _, h := range p.Owner.Holders {
		rows = append(rows, []string{h.What, h.Org})
	}
	table(e.stdout, []string{"WHAT", "HOLDER"}, rows)
	fmt.Fprintln(e.stdout, "\nChain of custody:")
	rows = nil
	for _, h := range p.Owner.Chain {
		rows = append(rows, []string{h.What, h.From, h.To, h.Status, when(h.Offered), when(h.Deadline), when(h.Answered)})
	}
	table(e.stdout, []string{"WHAT", "FROM", "TO", "STATUS", "OFFERED", "DEADLINE", "ANSWERED"}, rows)
	fmt.Fprintln(e.stdout, "\nOpen gaps:")
	rows = nil
	for _, g := range p.OpenGaps {
		rows = append(rows, []string{string(g.Kind), string(g.Severity), orgs(g.Closers), when(g.OpenedAt), ago(time.Since(g.OpenedAt))})
	}
	table(e.stdout, []string{"KIND", "SEVERITY", "CAN CLOSE", "OPENED", "AGE"}, rows)
	fmt.Fprintln(e.stdout, "\nTimeline:")
	rows = nil
	for _, ev := range p.Timeline {
		actor := ""
		if ev.Actor != nil {
			actor = ev.Actor.Org
		}
		note := ""
		if ev.Annulled {
			note = "annulled"
		}
		rows = append(rows, []string{strconv.FormatUint(ev.Seq, 10), when(ev.OccurredAt), ev.Type, actor, note})
	}
	table(e.stdout, []string{"SEQ", "OCCURRED", "TYPE", "ACTOR", ""}, rows)
	return nil
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
	org := fs.String("org", "", "organisation id, e.g. kommune:0751 or sor:6620000000001")
	label := fs.String("label", "", "a note on whom the token is for")
	natsFile := fs.String("nats", "", "also issue a NATS user for the organisation's alerts, and write its NKey seed to this new file (mode 0600), for nats --nkey FILE")
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	if *org == "" {
		return fmt.Errorf("-org is required")
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

func cmdDeadLetters(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return fmt.Errorf("usage: stafet dead-letters list | show SEQ | replay SEQ [-body FILE]")
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	sub, rest := e.args[0], e.args[1:]
	fs, asJSON := newFlags("dead-letters "+sub, e)
	body := fs.String("body", "", "replay with this corrected message body")
	seq := ""
	if sub != "list" {
		if len(rest) == 0 {
			return fmt.Errorf("usage: stafet dead-letters %s SEQ", sub)
		}
		seq, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	switch sub {
	case "list":
		items, err := c.pages(ctx, "/v1/dead-letters")
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, items)
		}
		var rows [][]string
		for _, raw := range items {
			var d struct {
				RawSeq                      uint64
				System, Code, Field, Reason string
				At                          time.Time
				Retries                     int
			}
			json.Unmarshal(raw, &d)
			rows = append(rows, []string{strconv.FormatUint(d.RawSeq, 10), d.System, d.Code, d.Field, when(d.At), strconv.Itoa(d.Retries), d.Reason})
		}
		table(e.stdout, []string{"RAW SEQ", "CHANNEL", "CODE", "FIELD", "AT", "RETRIES", "REASON"}, rows)
		return nil
	case "show":
		var raw json.RawMessage
		if err := c.getJSON(ctx, "GET", "/v1/dead-letters/"+seq, nil, &raw); err != nil {
			return err
		}
		return printJSON(e.stdout, raw)
	case "replay":
		var req any
		if *body != "" {
			b, err := os.ReadFile(*body)
			if err != nil {
				return err
			}
			req = rawBody(b)
		}
		var raw json.RawMessage
		if err := c.getJSON(ctx, "POST", "/v1/dead-letters/"+seq+"/replay", req, &raw); err != nil {
			return err
		}
		return printJSON(e.stdout, raw)
	}
	return fmt.Errorf("unknown dead-letters command %q", sub)
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
