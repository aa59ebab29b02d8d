package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

const offerUsage = "usage: stafet offer accept|reject PATHWAY OFFER [-reason R] [-actor ORG] [-json] | stafet offer release PATHWAY -what W [-actor ORG] [-json]"

// cmdOffer answers an offer of the worklist, or gives a responsibility
// back, with the same commands as the API and the dashboard: an
// organisation's token acts as the organisation; the operator names the
// organisation it acts for with -actor.
func cmdOffer(ctx context.Context, e env) error {
	if len(e.args) == 0 {
		return fmt.Errorf(offerUsage)
	}
	verb, rest := e.args[0], e.args[1:]
	want := 2
	switch verb {
	case "accept", "reject":
	case "release":
		want = 1
	default:
		return fmt.Errorf("offer %q: want accept, reject or release; %s", verb, offerUsage)
	}
	if len(rest) < want || strings.HasPrefix(rest[0], "-") || want == 2 && strings.HasPrefix(rest[1], "-") {
		return fmt.Errorf(offerUsage)
	}
	args, rest := rest[:want], rest[want:]
	fs, asJSON := newFlags("offer "+verb, e)
	reason := fs.String("reason", "", "why the offer is rejected (required to reject)")
	what := fs.String("what", "", "the responsibility given back, e.g. home-care")
	actor := fs.String("actor", "", "the organisation acting (the operator only; an organisation's token acts as itself)")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	c, err := newClient(e)
	if err != nil {
		return err
	}
	c.named(map[string]string{"reason": "-reason", "what": "-what", "actor": "-actor", "offer": "OFFER", "id": "PATHWAY"})
	pathway, err := resolvePathway(ctx, c, args[0])
	if err != nil {
		return err
	}
	body := map[string]string{}
	if *actor != "" {
		if body["actor"], err = newNames(c).orgFlag(ctx, "-actor", *actor, ""); err != nil {
			return err
		}
	}
	path := "/v1/pathways/" + url.PathEscape(pathway)
	switch verb {
	case "reject":
		if strings.TrimSpace(*reason) == "" {
			return fmt.Errorf("-reason: missing; a rejection says why, for the hospital that offered")
		}
		body["reason"] = *reason
		fallthrough
	case "accept":
		path += "/offers/" + url.PathEscape(args[1]) + "/" + verb
	case "release":
		if *what == "" {
			return fmt.Errorf("-what: missing; want the responsibility given back, e.g. home-care")
		}
		body["what"] = *what
		path += "/release"
	}
	var out json.RawMessage
	if err := c.getJSON(ctx, "POST", path, body, &out); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e.stdout, out)
	}
	var res struct {
		Seqs      []uint64 `json:"seqs"`
		Duplicate bool     `json:"duplicate"`
	}
	json.Unmarshal(out, &res)
	done := map[string]string{"accept": "Accepted", "reject": "Rejected", "release": "Released"}[verb]
	if res.Duplicate {
		fmt.Fprintf(e.stdout, "%s before: nothing new recorded on pathway %s.\n", done, pathway)
		return nil
	}
	fmt.Fprintf(e.stdout, "%s: recorded on pathway %s at log position %v.\n", done, pathway, res.Seqs)
	return nil
}
