package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// deadLetterJSON is a dead letter as the API lists it.
type deadLetterJSON struct {
	RawSeq  uint64    `json:"raw_seq"`
	System  string    `json:"system"`
	Code    string    `json:"code"`
	Field   string    `json:"field"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Retries int       `json:"retries"`
}

const deadLettersUsage = "usage: stafet dead-letters list | show SEQ | replay SEQ [-body FILE] [-json]"

func cmdDeadLetters(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return fmt.Errorf(deadLettersUsage)
	}
	sub, rest := e.args[0], e.args[1:]
	switch sub {
	case "list", "show", "replay":
	default:
		return fmt.Errorf("dead-letters %q: want list, show or replay; %s", sub, deadLettersUsage)
	}
	fs, asJSON := newFlags("dead-letters "+sub, e)
	body := fs.String("body", "", "replay with this corrected message body")
	var seq string
	if sub != "list" {
		if len(rest) == 0 {
			return fmt.Errorf("usage: stafet dead-letters %s SEQ (the RAW SEQ of stafet dead-letters list)", sub)
		}
		seq, rest = rest[0], rest[1:]
		if n, err := strconv.ParseUint(seq, 10, 64); err != nil || n == 0 {
			return fmt.Errorf("SEQ %q: want the RAW SEQ of a dead letter, a number (stafet dead-letters list)", seq)
		}
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"seq": "SEQ"})
	switch sub {
	case "list":
		items, err := c.pages(ctx, "/v1/dead-letters")
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, items)
		}
		ds, err := decodeItems[deadLetterJSON](items)
		if err != nil {
			return err
		}
		var rows [][]string
		for _, d := range ds {
			rows = append(rows, []string{strconv.FormatUint(d.RawSeq, 10), d.System, d.Code, orDash(d.Field), when(d.At), strconv.Itoa(d.Retries), d.Reason})
		}
		table(e.stdout, []string{"RAW SEQ", "CHANNEL", "CODE", "FIELD", "AT", "RETRIES", "REASON"}, rows)
		fmt.Fprintf(e.stderr, "%d dead letters; stafet dead-letters show SEQ shows one with its message, stafet messages -dead searches them\n", len(rows))
		return nil
	case "show":
		var raw json.RawMessage
		if err := c.getJSON(ctx, "GET", "/v1/dead-letters/"+url.PathEscape(seq), nil, &raw); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, raw)
		}
		var d struct {
			deadLetterJSON
			Raw rawJSON `json:"raw"`
		}
		if err := json.Unmarshal(raw, &d); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Dead letter, raw message %d (%s)\n  code      %s\n  field     %s\n  reason    %s\n  at        %s\n  retries   %d\n",
			d.RawSeq, d.System, d.Code, orDash(d.Field), d.Reason, when(d.At), d.Retries)
		printRaw(e, d.Raw)
		fmt.Fprintf(e.stderr, "The read of this message is in the access log. Replay it after a fix: stafet dead-letters replay %s [-body FILE]\n", seq)
		return nil
	}
	var req any
	if *body != "" {
		b, err := os.ReadFile(*body)
		if err != nil {
			return fmt.Errorf("-body: %w", err)
		}
		req = rawBody(b)
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "POST", "/v1/dead-letters/"+url.PathEscape(seq)+"/replay", req, &raw); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, raw)
	}
	var out replayJSON
	json.Unmarshal(raw, &out)
	fmt.Fprintln(e.stdout, out.String())
	return nil
}

// rawJSON is a stored inbound message as the API shows it.
type rawJSON struct {
	System      string    `json:"system"`
	Sender      string    `json:"sender"`
	ControlID   string    `json:"control_id"`
	ContentType string    `json:"content_type"`
	ReceivedAt  time.Time `json:"received_at"`
	Replaces    uint64    `json:"replaces"`
	Body        string    `json:"body"`
	BodyBase64  string    `json:"body_base64"`
}

func printRaw(e env, r rawJSON) {
	fmt.Fprintf(e.stdout, "  sender    %s\n  control   %s\n  received  %s\n", r.Sender, r.ControlID, when(r.ReceivedAt))
	if r.Replaces != 0 {
		fmt.Fprintf(e.stdout, "  corrects  raw message %d\n", r.Replaces)
	}
	fmt.Fprintln(e.stdout, "\nMessage:")
	if r.Body == "" && r.BodyBase64 != "" {
		fmt.Fprintf(e.stdout, "(not UTF-8; base64) %s\n", r.BodyBase64)
		return
	}
	// HL7 segments end in carriage returns: a terminal wants line ends.
	for _, line := range splitSegments(r.Body) {
		fmt.Fprintln(e.stdout, line)
	}
}

// replayJSON is the answer to a replay.
type replayJSON struct {
	RawSeq    uint64   `json:"raw_seq"`
	Pathway   string   `json:"pathway"`
	Seqs      []uint64 `json:"seqs"`
	Duplicate bool     `json:"duplicate"`
}

func (r replayJSON) String() string {
	switch {
	case r.Duplicate:
		return fmt.Sprintf("Raw message %d went through: its events were in pathway %s already; the dead letter is resolved.", r.RawSeq, r.Pathway)
	case len(r.Seqs) == 0:
		return fmt.Sprintf("Raw message %d went through: it means no pathway event; the dead letter is resolved.", r.RawSeq)
	}
	return fmt.Sprintf("Raw message %d went through: %d events appended to pathway %s; the dead letter is resolved.", r.RawSeq, len(r.Seqs), r.Pathway)
}

// splitSegments splits a message into lines at CR, LF or CRLF.
func splitSegments(s string) []string {
	return strings.FieldsFunc(strings.ReplaceAll(s, "\r\n", "\n"), func(r rune) bool { return r == '\r' || r == '\n' })
}
