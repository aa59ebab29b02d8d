package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stafet/stafet/events"
)

// names reads the directory from the API, once per command, so tables
// name organisations and clusters as people know them, and flags take a
// name as well as an id.
type names struct {
	c        *client
	orgs     map[string]orgEntry
	loaded   map[string]bool // kinds of organisation read
	clusters []clusterEntry
}

type orgEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type clusterEntry struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

func newNames(c *client) *names {
	return &names{c: c, orgs: map[string]orgEntry{}, loaded: map[string]bool{}}
}

// orgKindOf is the directory's kind of an organisation id's scheme.
var orgKindOf = map[string]string{"sor": "hospital", "kommune": "municipality", "yder": "gp", "region": "region"}

// load reads one kind of organisation.
func (n *names) load(ctx context.Context, kind string) error {
	if n.loaded[kind] {
		return nil
	}
	items, err := n.c.pages(ctx, "/v1/organisations?limit=500&kind="+kind)
	if err != nil {
		return err
	}
	for _, raw := range items {
		var o orgEntry
		if json.Unmarshal(raw, &o) == nil {
			n.orgs[o.ID] = o
		}
	}
	n.loaded[kind] = true
	return nil
}

// org names an organisation: its name, or its id when the directory has
// none (or cannot be read: a table is still worth printing).
func (n *names) org(ctx context.Context, id string) string {
	if id == "" {
		return "-"
	}
	scheme, _, _ := strings.Cut(id, ":")
	if kind := orgKindOf[scheme]; kind != "" {
		n.load(ctx, kind)
	}
	if o, ok := n.orgs[id]; ok && o.Name != "" {
		return o.Name
	}
	return id
}

func (n *names) orgList(ctx context.Context, ids []events.OrgID) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = n.org(ctx, string(id))
	}
	return strings.Join(out, ", ")
}

// loadClusters reads the bodies the caller may see, in either structure:
// those in force now and those of the day before the 2027 reform, whose
// ids pathways opened then keep.
func (n *names) loadClusters(ctx context.Context) error {
	if n.clusters != nil {
		return nil
	}
	n.clusters = []clusterEntry{}
	// Today in Copenhagen, where the 2027 reform takes effect: the
	// host's date is a day behind it for an hour each night (UTC).
	today := time.Now().UTC().Format(time.DateOnly)
	if cph, err := time.LoadLocation("Europe/Copenhagen"); err == nil {
		today = time.Now().In(cph).Format(time.DateOnly)
	}
	for _, at := range []string{today, "2026-12-31"} {
		items, err := n.c.pages(ctx, "/v1/clusters?at="+at)
		if err != nil {
			return err
		}
		for _, raw := range items {
			var c clusterEntry
			if json.Unmarshal(raw, &c) == nil && !slices.ContainsFunc(n.clusters, func(x clusterEntry) bool { return x.ID == c.ID }) {
				n.clusters = append(n.clusters, c)
			}
		}
	}
	return nil
}

func (n *names) cluster(ctx context.Context, id string) string {
	n.loadClusters(ctx)
	for _, c := range n.clusters {
		if c.ID == id && c.Name != "" {
			return c.Name
		}
	}
	return id
}

// clusterFlag reads a cluster flag: an id or a name, in any case.
func (n *names) clusterFlag(ctx context.Context, flag, v string) (string, error) {
	if err := n.loadClusters(ctx); err != nil {
		return "", err
	}
	want := strings.ToLower(strings.TrimSpace(v))
	var ids []string
	for _, c := range n.clusters {
		if strings.ToLower(c.ID) == want || strings.ToLower(c.Name) == want {
			return c.ID, nil
		}
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return "", fmt.Errorf("%s %q: no such cluster; want one of: %s", flag, v, strings.Join(ids, ", "))
}

// orgFlag reads an organisation flag: an id (kommune:0751), a
// municipality's code (0751) where kind is "municipality", or a name in
// any case. An ambiguous or unknown name lists what it could mean.
func (n *names) orgFlag(ctx context.Context, flag, v, kind string) (string, error) {
	v = strings.TrimSpace(v)
	if kind == "municipality" && len(v) == 4 && strings.Trim(v, "0123456789") == "" {
		v = "kommune:" + v
	}
	if scheme, _, ok := strings.Cut(v, ":"); ok && orgKindOf[scheme] != "" {
		return v, nil
	}
	kinds := []string{"municipality", "hospital", "region", "gp"}
	if kind != "" {
		kinds = []string{kind}
	}
	want := strings.ToLower(v)
	var found []orgEntry
	for _, k := range kinds {
		if err := n.load(ctx, k); err != nil {
			return "", err
		}
		for _, o := range n.orgs {
			if o.Kind == k && strings.Contains(strings.ToLower(o.Name), want) {
				if strings.ToLower(o.Name) == want {
					return o.ID, nil
				}
				found = append(found, o)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0].ID, nil
	case 0:
		what := "an organisation id such as kommune:0751 or sor:…, or a name"
		if kind == "municipality" {
			what = "a municipality code such as 0751, kommune:0751 or a name such as Aarhus"
		}
		return "", fmt.Errorf("%s %q: no organisation by that name; want %s", flag, v, what)
	}
	slices.SortFunc(found, func(a, b orgEntry) int { return strings.Compare(a.Name, b.Name) })
	var list []string
	for _, o := range found[:min(len(found), 10)] {
		list = append(list, fmt.Sprintf("%s (%s)", o.Name, o.ID))
	}
	more := ""
	if len(found) > 10 {
		more = fmt.Sprintf(" and %d more", len(found)-10)
	}
	return "", fmt.Errorf("%s %q is ambiguous: %s%s; give the id", flag, v, strings.Join(list, ", "), more)
}
