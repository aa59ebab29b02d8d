package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/projections"
)

// patientText names a patient the API identified for this reader.
func patientText(p *httpapi.IdentityView) string {
	switch {
	case p == nil:
		return "-"
	case p.Shredded:
		return "(erased)"
	}
	return strings.TrimSpace(p.Name + " " + p.CPR)
}

// severityRank orders gaps most severe first.
var severityRank = map[projections.Severity]int{"critical": 0, "warning": 1, "info": 2}

// late is how long ago a gap's deadline, or else its opening, passed.
func late(g httpapi.GapView, now time.Time) time.Duration {
	from := cmp.Or(g.Deadline, g.OpenedAt)
	if !g.Open {
		now = g.ClosedAt
	}
	return now.Sub(from)
}

// sortGaps puts the most severe first, then the newest.
func sortGaps(gs []httpapi.GapView) {
	slices.SortStableFunc(gs, func(a, b httpapi.GapView) int {
		return cmp.Or(cmp.Compare(severityRank[a.Severity], severityRank[b.Severity]), b.OpenedAt.Compare(a.OpenedAt))
	})
}

func gapRows(ctx context.Context, n *names, gs []httpapi.GapView, now time.Time) [][]string {
	var rows [][]string
	for _, g := range gs {
		lateBy := "-"
		if d := late(g, now); d > 0 {
			lateBy = ago(d)
		}
		if !g.Open {
			lateBy = "closed " + when(g.ClosedAt)
		}
		rows = append(rows, []string{when(g.OpenedAt), string(g.Kind), string(g.Severity), n.cluster(ctx, g.Cluster), n.org(ctx, string(g.Municipality)), n.orgList(ctx, g.Closers), lateBy, g.Pathway.String()})
	}
	return rows
}

var gapHead = []string{"OPENED", "KIND", "SEVERITY", "CLUSTER", "MUNICIPALITY", "CAN CLOSE", "LATE", "PATHWAY"}

func cmdGaps(ctx context.Context, e env) error {
	fs, asJSON := newFlags("gaps", e)
	var cluster, municipality, org, status, asOf string
	var kinds []string
	fs.StringVar(&cluster, "cluster", "", "a cluster or sundhedsråd, by id or name (any case)")
	fs.StringVar(&municipality, "municipality", "", "a municipality: code (0751), id (kommune:0751) or name")
	fs.StringVar(&org, "org", "", "an organisation that can close the gap, by id or name")
	fs.Func("kind", "gap kind; repeat or separate with commas", func(v string) error { kinds = append(kinds, v); return nil })
	fs.StringVar(&status, "status", "", "open (the default), closed or all")
	fs.StringVar(&asOf, "as-of", "", "the gaps as they stood at this time (RFC 3339)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"cluster": "-cluster", "municipality": "-municipality", "org": "-org", "kind": "-kind", "status": "-status", "as_of": "-as-of"})
	n := newNames(c)
	q := url.Values{}
	if cluster != "" {
		if cluster, err = n.clusterFlag(ctx, "-cluster", cluster); err != nil {
			return err
		}
		q.Set("cluster", cluster)
	}
	if municipality != "" {
		if municipality, err = n.orgFlag(ctx, "-municipality", municipality, "municipality"); err != nil {
			return err
		}
		q.Set("municipality", municipality)
	}
	if org != "" {
		if org, err = n.orgFlag(ctx, "-org", org, ""); err != nil {
			return err
		}
		q.Set("org", org)
	}
	if len(kinds) > 0 {
		q.Set("kind", strings.Join(kinds, ","))
	}
	if status != "" {
		q.Set("status", status)
	}
	if asOf != "" {
		q.Set("as_of", asOf)
	}
	items, err := c.pages(ctx, "/v1/gaps?"+q.Encode())
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, items)
	}
	gs, err := decodeItems[httpapi.GapView](items)
	if err != nil {
		return err
	}
	sortGaps(gs)
	table(e.stdout, gapHead, gapRows(ctx, n, gs, time.Now()))
	bySeverity := map[projections.Severity]int{}
	for _, g := range gs {
		bySeverity[g.Severity]++
	}
	fmt.Fprintf(e.stderr, "%d gaps (%d critical, %d warning, %d info), most severe and newest first\n", len(gs), bySeverity["critical"], bySeverity["warning"], bySeverity["info"])
	return nil
}

func cmdWorklist(ctx context.Context, e env) error {
	fs, asJSON := newFlags("worklist", e)
	org := fs.String("org", "", "organisation, by id or name (the operator's choice; an organisation's token reads its own)")
	identity := fs.Bool("identity", false, "show each offer's patient (name and CPR): an organisation's own patients only; every read is in the access log")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"org": "-org", "identity": "-identity"})
	n := newNames(c)
	path := "/v1/worklist"
	if *org != "" {
		id, err := n.orgFlag(ctx, "-org", *org, "")
		if err != nil {
			return err
		}
		path = "/v1/orgs/" + url.PathEscape(id) + "/worklist"
	}
	if *identity {
		path += "?identity=true"
	}
	var wl httpapi.WorklistView
	if err := c.getJSON(ctx, "GET", path, nil, &wl); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, wl)
	}
	now := cmp.Or(wl.At, time.Now())
	fmt.Fprintf(e.stdout, "Worklist of %s (%s), %s\n\nOffers waiting for your answer:\n", n.org(ctx, string(wl.Org)), wl.Org, when(now))
	var rows [][]string
	for _, o := range wl.Offers {
		st := "on time"
		switch {
		case o.Paused:
			st = "paused"
		case o.Overdue:
			st = "OVERDUE " + ago(now.Sub(o.Deadline))
		}
		row := []string{string(o.What), n.org(ctx, string(o.From)), when(o.Offered), when(o.Deadline), st}
		if *identity {
			row = append(row, patientText(o.Patient))
		}
		rows = append(rows, append(row, o.Pathway.String(), o.Offer))
	}
	head := []string{"WHAT", "FROM", "OFFERED", "DEADLINE", "STATUS"}
	if *identity {
		head = append(head, "PATIENT")
	}
	table(e.stdout, append(head, "PATHWAY", "OFFER"), rows)
	fmt.Fprintln(e.stdout, "\nGaps you can close:")
	sortGaps(wl.Gaps)
	table(e.stdout, gapHead, gapRows(ctx, n, wl.Gaps, now))
	if len(wl.Offers) > 0 {
		fmt.Fprintln(e.stdout, "\nAnswer with: stafet offer accept PATHWAY OFFER, or stafet offer reject PATHWAY OFFER -reason R (or in the dashboard's worklist)")
	}
	return nil
}

// resolvePathway takes a pathway's full id, or a unique abbreviation: the
// beginning of the id, or its end (the dashboard shows the last 8 digits).
func resolvePathway(ctx context.Context, c *client, arg string) (string, error) {
	if _, err := uuid.Parse(arg); err == nil {
		return arg, nil
	}
	items, err := c.pages(ctx, "/v1/pathways?id="+url.QueryEscape(arg))
	if err != nil {
		return "", err
	}
	var ids []string
	for _, raw := range items {
		var p struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &p) == nil {
			ids = append(ids, p.ID)
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
		return "", fmt.Errorf("pathway %q: no pathway you may see has an id that begins or ends so; give more of the id (stafet gaps lists them)", arg)
	}
	return "", fmt.Errorf("pathway %q is ambiguous: %s; give more of the id", arg, strings.Join(ids, ", "))
}

func cmdPathway(ctx context.Context, e env) error {
	const usage = "usage: stafet pathway show ID [-as-of T] [-as-of-kind recorded|valid] [-identity] [-json] (ID: the full id, or its first or last digits)"
	if len(e.args) == 0 || e.args[0] != "show" {
		return fmt.Errorf(usage)
	}
	fs, asJSON := newFlags("pathway show", e)
	asOf := fs.String("as-of", "", "the pathway as of this time (RFC 3339)")
	asOfKind := fs.String("as-of-kind", "recorded", "recorded (as Stafet knew it then) or valid (as now known to have been)")
	identity := fs.Bool("identity", false, "show the patient's name and CPR (parties of the pathway only; the read is in the access log)")
	args := e.args[1:]
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf(usage)
	}
	arg := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"as_of": "-as-of", "as_of_kind": "-as-of-kind", "identity": "-identity", "id": "ID"})
	id, err := resolvePathway(ctx, c, arg)
	if err != nil {
		return err
	}
	q := url.Values{}
	if *asOf != "" {
		q.Set("as_of", *asOf)
		q.Set("as_of_kind", *asOfKind)
	}
	if *identity {
		q.Set("identity", "true")
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "GET", "/v1/pathways/"+url.PathEscape(id)+"?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, raw)
	}
	return printPathway(ctx, e, newNames(c), raw)
}

func printPathway(ctx context.Context, e env, n *names, raw json.RawMessage) error {
	var p struct {
		ID           string                `json:"id"`
		Cluster      string                `json:"cluster"`
		Municipality string                `json:"municipality"`
		GP           string                `json:"gp"`
		Patient      string                `json:"patient"`
		Identity     *httpapi.IdentityView `json:"identity"`
		Status       string                `json:"status"`
		Owner        struct {
			Holders []struct {
				What, Org string
				Since     time.Time
			} `json:"holders"`
			Chain []struct {
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
	patient := p.Patient + " (pseudonym)"
	if p.Identity != nil {
		patient = patientText(p.Identity)
	}
	fmt.Fprintf(e.stdout, "Pathway %s (%s)\n  cluster       %s\n  municipality  %s\n  GP            %s\n  patient       %s\n\nResponsible now:\n",
		p.ID, p.Status, n.cluster(ctx, p.Cluster), n.org(ctx, p.Municipality), n.org(ctx, p.GP), patient)
	var rows [][]string
	for _, h := range p.Owner.Holders {
		rows = append(rows, []string{h.What, n.org(ctx, h.Org), when(h.Since)})
	}
	table(e.stdout, []string{"WHAT", "HOLDER", "SINCE"}, rows)
	fmt.Fprintln(e.stdout, "\nChain of custody:")
	rows = nil
	for _, h := range p.Owner.Chain {
		rows = append(rows, []string{h.What, n.org(ctx, h.From), n.org(ctx, h.To), h.Status, when(h.Offered), when(h.Deadline), when(h.Answered), h.Offer})
	}
	table(e.stdout, []string{"WHAT", "FROM", "TO", "STATUS", "OFFERED", "DEADLINE", "ANSWERED", "OFFER"}, rows)
	fmt.Fprintln(e.stdout, "\nOpen gaps:")
	sortGaps(p.OpenGaps)
	rows = nil
	now := time.Now()
	for _, g := range p.OpenGaps {
		lateBy := "-"
		if d := late(g, now); d > 0 {
			lateBy = ago(d)
		}
		rows = append(rows, []string{when(g.OpenedAt), string(g.Kind), string(g.Severity), n.orgList(ctx, g.Closers), lateBy})
	}
	table(e.stdout, []string{"OPENED", "KIND", "SEVERITY", "CAN CLOSE", "LATE"}, rows)
	fmt.Fprintln(e.stdout, "\nTimeline:")
	rows = nil
	for _, ev := range p.Timeline {
		actor := "-"
		if ev.Actor != nil {
			actor = n.org(ctx, ev.Actor.Org)
		}
		note := ""
		if ev.Annulled {
			note = "annulled"
		}
		rows = append(rows, []string{strconv.FormatUint(ev.Seq, 10), when(ev.OccurredAt), ev.Type, actor, note})
	}
	table(e.stdout, []string{"SEQ", "OCCURRED", "TYPE", "ACTOR", ""}, rows)
	fmt.Fprintf(e.stderr, "Times are local (%s).\n", time.Now().Format("MST"))
	return nil
}
