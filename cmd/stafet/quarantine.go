package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// cmdQuarantine lists, shows and resolves the stored messages Stafet's
// projections could not take in (docs/operations.md, "The quarantine").
func cmdQuarantine(ctx context.Context, e env) error {
	const usage = "usage: stafet quarantine list [-all] | show SEQ | resolve SEQ -take-in | -annul REASON"
	if len(e.args) == 0 {
		return fmt.Errorf(usage)
	}
	sub, rest := e.args[0], e.args[1:]
	fs, asJSON := newFlags("quarantine "+sub, e)
	all := fs.Bool("all", false, "list: also the resolved ones")
	takeIn := fs.Bool("take-in", false, "resolve: take the message in (a build that reads it must serve)")
	annul := fs.String("annul", "", "resolve: annul the message for good, with this reason")
	seq := ""
	if sub != "list" {
		if len(rest) == 0 {
			return fmt.Errorf("usage: stafet quarantine %s SEQ", sub)
		}
		seq, rest = rest[0], rest[1:]
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return fmt.Errorf("%s: want a log sequence number", seq)
		}
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		path := "/v1/quarantine"
		if *all {
			path += "?status=all"
		}
		items, err := c.pages(ctx, path)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, items)
		}
		qs, err := decodeItems[quarantined](items)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, q := range qs {
			rows = append(rows, []string{strconv.FormatUint(q.Seq, 10), q.Reason, q.pathway(), when(q.At), q.state(), q.Detail})
		}
		table(e.stdout, []string{"SEQ", "REASON", "PATHWAY", "STORED", "STATE", "DETAIL"}, rows)
		if len(rows) == 0 {
			fmt.Fprintln(e.stderr, "Nothing quarantined.")
		}
		return nil
	case "show":
		var raw json.RawMessage
		if err := c.getJSON(ctx, "GET", "/v1/quarantine/"+seq, nil, &raw); err != nil {
			return err
		}
		return printJSON(e.stdout, raw)
	case "resolve":
		req := map[string]string{}
		switch {
		case *takeIn && *annul == "":
			req["decision"] = "take-in"
		case !*takeIn && *annul != "":
			req["decision"], req["reason"] = "annul", *annul
		default:
			return fmt.Errorf("resolve: give -take-in or -annul REASON")
		}
		var out struct {
			DecisionSeq uint64      `json:"decision_seq"`
			Applied     bool        `json:"applied"`
			Quarantined quarantined `json:"quarantined"`
		}
		if err := c.getJSON(ctx, "POST", "/v1/quarantine/"+seq+"/resolve", req, &out); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "Decision stored at seq %d: %s seq %s.\n", out.DecisionSeq, req["decision"], seq)
		if out.Applied {
			fmt.Fprintf(e.stdout, "Applied: %s.\n", out.Quarantined.state())
		} else {
			fmt.Fprintln(e.stdout, "Not applied yet by this instance's projections; every instance applies it when it reaches the decision.")
		}
		return nil
	}
	return fmt.Errorf("unknown quarantine command %q; %s", sub, usage)
}

// quarantined is a record of the quarantine as the API shows it.
type quarantined struct {
	Seq        uint64    `json:"seq"`
	Reason     string    `json:"reason"`
	Pathway    string    `json:"pathway"`
	Subject    string    `json:"subject"`
	Detail     string    `json:"detail"`
	At         time.Time `json:"at"`
	Open       bool      `json:"open"`
	Resolution *struct {
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
		Seq      uint64 `json:"seq"`
		Unread   bool   `json:"unread"`
	} `json:"resolution"`
}

func (q quarantined) pathway() string {
	if q.Pathway == "" {
		return "(subject " + q.Subject + ")"
	}
	return q.Pathway
}

func (q quarantined) state() string {
	r := q.Resolution
	switch {
	case r == nil:
		return "open"
	case r.Unread:
		return fmt.Sprintf("take-in decided at seq %d; this build cannot read it", r.Seq)
	case r.Decision == "annul":
		return fmt.Sprintf("annulled at seq %d: %s", r.Seq, r.Reason)
	}
	return fmt.Sprintf("taken in at seq %d", r.Seq)
}
