package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/engine"
)

const messagesUsage = "usage: stafet messages [list] [-dead] [-channel C] [-sender S] [-control-id ID] [-from T] [-to T] [-code C] [-answer AA|AE|AR] [-episode E] [-pathway P] | show SEQ | reprocess [SEQ...|the list's flags] | channels"

// receiptJSON is a message as GET /v1/messages lists it.
type receiptJSON struct {
	RawSeq     uint64    `json:"raw_seq"`
	System     string    `json:"system"`
	Sender     string    `json:"sender"`
	ControlID  string    `json:"control_id"`
	ReceivedAt time.Time `json:"received_at"`
	Answer     string    `json:"answer"`
	Code       string    `json:"code"`
	Field      string    `json:"field"`
	Org        string    `json:"org"`
	Pathway    string    `json:"pathway"`
	Dead       bool      `json:"dead"`
}

// cmdMessages is the message browser on the command line: search inbound
// messages and dead letters, show one beside its translation, reprocess
// the dead letters that match after a mapping fix, and the counters of
// each channel and sender.
func cmdMessages(ctx context.Context, e env) error {
	sub, rest := "list", e.args
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub, rest = rest[0], rest[1:]
	}
	switch sub {
	case "list", "reprocess":
		return messagesSearch(ctx, e, sub, rest)
	case "show":
		return messageShow(ctx, e, rest)
	case "channels":
		return messageChannels(ctx, e, rest)
	}
	return fmt.Errorf("messages %q: want list, show, reprocess or channels; %s", sub, messagesUsage)
}

func messagesSearch(ctx context.Context, e env, sub string, args []string) error {
	fs, asJSON := newFlags("messages "+sub, e)
	q := url.Values{}
	dead := fs.Bool("dead", sub == "reprocess", "dead letters only")
	for _, f := range []struct{ flag, param, usage string }{
		{"channel", "channel", "the channel: hl7v2 or medcom"},
		{"sender", "sender", "the sender as the message names it (HL7 MSH-3^MSH-4, a MedCom SOR), or part of it"},
		{"control-id", "control_id", "the control id, or its beginning"},
		{"from", "from", "received at or after: a date (YYYY-MM-DD) or an RFC 3339 time"},
		{"to", "to", "received before: a date (the day included) or an RFC 3339 time"},
		{"code", "code", "the dead letter's code, e.g. unknown-organisation"},
		{"answer", "answer", "the answer: AA, AE or AR"},
		{"episode", "episode", "an episode of care"},
		{"pathway", "pathway", "the pathway the message went to (full id)"},
	} {
		fs.Func(f.flag, f.usage, func(v string) error { q.Set(f.param, v); return nil })
	}
	// Sequences may come first (reprocess 12 15) or after the flags.
	var seqArgs []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		seqArgs, args = append(seqArgs, args[0]), args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	seqArgs = append(seqArgs, fs.Args()...)
	if sub == "list" && len(seqArgs) > 0 {
		return fmt.Errorf("messages list takes flags only; %s", messagesUsage)
	}
	var seqs []uint64
	for _, a := range seqArgs {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return fmt.Errorf("SEQ %q: want the RAW SEQ of a message, a number (stafet messages -dead lists them)", a)
		}
		seqs = append(seqs, n)
	}
	if *dead {
		q.Set("status", "dead")
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"channel": "-channel", "sender": "-sender", "control_id": "-control-id", "from": "-from", "to": "-to",
		"code": "-code", "answer": "-answer", "episode": "-episode", "pathway": "-pathway", "status": "-dead", "seqs": "SEQ"})
	if sub == "reprocess" {
		return messagesReprocess(ctx, e, c, q, seqs, *asJSON)
	}
	items, err := c.pages(ctx, "/v1/messages?"+q.Encode())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, items)
	}
	rs, err := decodeItems[receiptJSON](items)
	if err != nil {
		return err
	}
	var rows [][]string
	deadNow := 0
	for _, r := range rs {
		answer := r.Answer
		if r.Dead {
			answer += " dead"
			deadNow++
		}
		rows = append(rows, []string{strconv.FormatUint(r.RawSeq, 10), when(r.ReceivedAt), r.System, r.Sender, r.ControlID, answer, orDash(r.Code), orDash(r.Pathway)})
	}
	table(e.stdout, []string{"RAW SEQ", "RECEIVED", "CHANNEL", "SENDER", "CONTROL ID", "ANSWER", "CODE", "PATHWAY"}, rows)
	fmt.Fprintf(e.stderr, "%d messages, %d of them dead letters now, newest first; stafet messages show SEQ shows one beside its translation\n", len(rows), deadNow)
	return nil
}

func messagesReprocess(ctx context.Context, e env, c *client, q url.Values, seqs []uint64, asJSON bool) error {
	var body any
	if len(seqs) > 0 {
		body = map[string]any{"seqs": seqs}
		q = url.Values{}
	}
	var out struct {
		Tried     int  `json:"tried"`
		Succeeded int  `json:"succeeded"`
		Failed    int  `json:"failed"`
		More      bool `json:"more"`
		Results   []struct {
			RawSeq  uint64 `json:"raw_seq"`
			OK      bool   `json:"ok"`
			Pathway string `json:"pathway"`
			Code    string `json:"code"`
			Reason  string `json:"reason"`
		} `json:"results"`
	}
	if err := c.getJSON(ctx, "POST", "/v1/messages/reprocess?"+q.Encode(), body, &out); err != nil {
		return err
	}
	if asJSON {
		return printJSON(e.stdout, out)
	}
	var rows [][]string
	for _, r := range out.Results {
		result := "went through"
		if !r.OK {
			result = "fails again: " + r.Code + ": " + r.Reason
		}
		rows = append(rows, []string{strconv.FormatUint(r.RawSeq, 10), result, orDash(r.Pathway)})
	}
	table(e.stdout, []string{"RAW SEQ", "RESULT", "PATHWAY"}, rows)
	fmt.Fprintf(e.stdout, "Reprocessed %d: %d went through and left the dead letters, %d fail again.\n", out.Tried, out.Succeeded, out.Failed)
	if out.More {
		fmt.Fprintln(e.stdout, "More dead letters match: run it again.")
	}
	return nil
}

func messageShow(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: stafet messages show SEQ [-json] (the RAW SEQ of stafet messages)")
	}
	seq := args[0]
	if n, err := strconv.ParseUint(seq, 10, 64); err != nil || n == 0 {
		return fmt.Errorf("SEQ %q: want the RAW SEQ of a message, a number (stafet messages lists them)", seq)
	}
	fs, asJSON := newFlags("messages show", e)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"seq": "SEQ"})
	var raw json.RawMessage
	if err := c.getJSON(ctx, "GET", "/v1/messages/"+seq, nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, raw)
	}
	var m struct {
		Receipt     receiptJSON     `json:"receipt"`
		DeadLetter  *deadLetterJSON `json:"dead_letter"`
		Raw         rawJSON         `json:"raw"`
		Translation struct {
			OK     bool `json:"ok"`
			Events []struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"events"`
			Error *struct{ Code, Field, Reason string } `json:"error"`
		} `json:"translation"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	r := m.Receipt
	fmt.Fprintf(e.stdout, "Message %d (%s), answered %s\n", r.RawSeq, r.System, r.Answer)
	if d := m.DeadLetter; d != nil {
		fmt.Fprintf(e.stdout, "  dead letter: %s %s: %s (retried %d times)\n", d.Code, d.Field, d.Reason, d.Retries)
	}
	if r.Pathway != "" {
		fmt.Fprintf(e.stdout, "  pathway   %s\n", r.Pathway)
	}
	printRaw(e, m.Raw)
	fmt.Fprintln(e.stdout, "\nTranslation now:")
	if tr := m.Translation; !tr.OK && tr.Error != nil {
		fmt.Fprintf(e.stdout, "  fails: %s %s: %s\n", tr.Error.Code, tr.Error.Field, tr.Error.Reason)
	} else {
		for _, ev := range tr.Events {
			fmt.Fprintf(e.stdout, "  %s %s\n", ev.Type, ev.Data)
		}
		if len(tr.Events) == 0 {
			fmt.Fprintln(e.stdout, "  no pathway event")
		}
	}
	fmt.Fprintf(e.stderr, "The read of this message is in the access log.\n")
	return nil
}

func messageChannels(ctx context.Context, e env, args []string) error {
	fs, asJSON := newFlags("messages channels", e)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	items, err := c.pages(ctx, "/v1/channels")
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, items)
	}
	ss, err := decodeItems[engine.SenderCounts](items)
	if err != nil {
		return err
	}
	n := newNames(c)
	var rows [][]string
	for _, s := range ss {
		rows = append(rows, []string{s.System, s.Sender, n.org(ctx, string(s.Org)), strconv.Itoa(s.Received),
			strconv.Itoa(s.Answers["AA"]), strconv.Itoa(s.Answers["AE"]), strconv.Itoa(s.Answers["AR"]), strconv.Itoa(s.Dead), when(s.LastSeen)})
	}
	table(e.stdout, []string{"CHANNEL", "SENDER", "ORGANISATION", "RECEIVED", "AA", "AE", "AR", "DEAD NOW", "LAST SEEN"}, rows)
	return nil
}
