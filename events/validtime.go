package events

import (
	"cmp"
	"slices"
	"time"
	_ "time/tzdata" // reference dates are Danish dates on any host
)

// The directory's rows hold from a date to a date in Denmark: an event at
// 2026-12-31T23:30Z happened on 1 January 2027 in Copenhagen, under the
// 2027 structure.
var denmark = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return time.UTC // not reached: time/tzdata is embedded
	}
	return loc
}()

// Day returns t's calendar date in Denmark, as midnight UTC of that date:
// the form the reference data's valid_from and valid_to are read in.
func Day(t time.Time) time.Time {
	y, m, d := t.In(denmark).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DayStart returns the first instant of a Danish calendar date (as Day
// returns it): 2027-01-01 starts at 2026-12-31T23:00Z.
func DayStart(day time.Time) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, denmark)
}

func inForce(from, to, at time.Time) bool {
	day := Day(at)
	return !day.Before(from) && (to.IsZero() || !day.After(to))
}

func (s span) holds(at time.Time) bool { return inForce(s.from, s.to, at) }

func spanAt(spans []span, at time.Time) (span, bool) {
	for _, s := range spans {
		if s.holds(at) {
			return s, true
		}
	}
	return span{}, false
}

// ClustersAt returns the bodies in force on at's date, in the reference
// order: the 21 sundhedsklynger up to 2026-12-31, the 17 sundhedsråd from
// 2027-01-01.
func (d *Directory) ClustersAt(at time.Time) []Cluster {
	var out []Cluster
	for _, id := range d.order {
		if c := d.clusters[id]; c.InForce(at) {
			out = append(out, *c)
		}
	}
	return out
}

// ClusterAt returns the body an organisation belongs to at valid time at,
// or "" when there is none. A municipality's is its (default) body in
// force then. Any other organisation's is the first body it is
// configured with that is in force then, else the successor in force of
// the first (Successor): a hospital configured with its 2022 cluster
// lands in the sundhedsråd that took over its catchment.
func (d *Directory) ClusterAt(id OrgID, at time.Time) string {
	o, ok := d.orgs[id]
	if !ok || len(o.Clusters) == 0 {
		return ""
	}
	for _, c := range o.Clusters {
		if b, ok := d.clusters[c]; ok && b.InForce(at) {
			return c
		}
	}
	if o.Kind == KindMunicipality {
		return ""
	}
	s, _ := d.Successor(o.Clusters[0], at)
	return s
}

// BodyOf returns the body a pathway belongs to at a date, for grouping
// and for alert subjects: the body it was opened in (its subject's) while
// that is in force, then the body in force of the patient's municipality,
// else the successor of the body it was opened in. A pathway opened in
// 2026 for a patient of Middelfart belongs to cluster Lillebælt through
// 2026-12-31 and to Sundhedsråd Fyn from 2027-01-01; its subject stays.
func (d *Directory) BodyOf(cluster string, municipality OrgID, at time.Time) string {
	if c, ok := d.clusters[cluster]; ok && c.InForce(at) {
		return cluster
	}
	if b := d.ClusterAt(municipality, at); b != "" {
		return b
	}
	if b, ok := d.Successor(cluster, at); ok {
		return b
	}
	return cluster
}

// Successor returns the body in force at at that took over the most
// inhabitants of body id (id itself when it is in force). The mapping is
// the municipalities' own: see Links.
func (d *Directory) Successor(id string, at time.Time) (string, bool) {
	c, ok := d.clusters[id]
	if !ok {
		return "", false
	}
	if c.InForce(at) {
		return id, true
	}
	best, most := "", -1
	for _, l := range d.links(c, d.ClustersAt(at)) {
		if l.Population > most {
			best, most = l.To, l.Population
		}
	}
	return best, best != ""
}

// Link says which municipalities two bodies share: the mapping used to
// compare a figure across 1 January 2027 (events/reference/README.md).
type Link struct {
	From, To       string
	Municipalities []OrgID
	// Population is the shared municipalities' inhabitants (reference
	// data), the weight of the link.
	Population int
}

// Links maps the bodies in force on one date to those in force on
// another, by the municipalities they share: every municipality of a body
// on the first date is in exactly one link to a body on the second (save
// København, a member of two 2022 clusters, which links from both).
func (d *Directory) Links(from, to time.Time) []Link {
	var out []Link
	targets := d.ClustersAt(to)
	for _, c := range d.ClustersAt(from) {
		out = append(out, d.links(&c, targets)...)
	}
	return out
}

func (d *Directory) links(c *Cluster, targets []Cluster) []Link {
	var out []Link
	for _, t := range targets {
		l := Link{From: c.ID, To: t.ID}
		for _, m := range c.Municipalities {
			if slices.Contains(t.Municipalities, m) {
				l.Municipalities = append(l.Municipalities, m)
				l.Population += d.orgs[m].Population
			}
		}
		if len(l.Municipalities) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// Regions returns every region, those of 2007 and Østdanmark from 2027.
func (d *Directory) Regions() []Region { return slices.Clone(d.regions) }

// RegionsAt returns the regions in force on at's date.
func (d *Directory) RegionsAt(at time.Time) []Region {
	var out []Region
	for _, r := range d.regions {
		if inForce(r.ValidFrom, r.ValidTo, at) {
			out = append(out, r)
		}
	}
	return out
}

// RegionAt returns a municipality's region at valid time at.
func (d *Directory) RegionAt(m OrgID, at time.Time) (Region, bool) {
	s, ok := spanAt(d.munRegion[m], at)
	if !ok {
		return Region{}, false
	}
	i := slices.IndexFunc(d.regions, func(r Region) bool { return r.Name == s.value })
	return d.regions[i], true
}

// Receiver returns the sector that receives a kind of handoff at valid
// time at, and the rule's source (events/reference/handoff_receivers.csv).
func (d *Directory) Receiver(what Responsibility, at time.Time) (Sector, string, bool) {
	s, ok := spanAt(d.receivers[what], at)
	return Sector(s.value), s.source, ok
}

// ReceiverOf returns the organisation that receives a handoff of what for
// a patient of municipality m at valid time at: the municipality, or its
// region when the task is the region's then (a municipal bed from 2027).
// It returns m when no rule says otherwise, and "" for a handoff to
// general practice, which is addressed by the patient's GP.
func (d *Directory) ReceiverOf(what Responsibility, m OrgID, at time.Time) OrgID {
	sector, _, ok := d.Receiver(what, at)
	switch {
	case !ok || sector == SectorMunicipality:
		return m
	case sector == SectorRegion:
		if r, ok := d.RegionAt(m, at); ok && r.Code != "" {
			return r.ID()
		}
		return m
	}
	return ""
}

// Changes lists the dates on which the directory's structure or handoff
// rules change, in order: 2027-01-01 for the reform.
func (d *Directory) Changes() []time.Time {
	var out []time.Time
	add := func(from, to time.Time) {
		out = append(out, from)
		if !to.IsZero() {
			out = append(out, to.AddDate(0, 0, 1))
		}
	}
	for _, c := range d.clusters {
		add(c.ValidFrom, c.ValidTo)
	}
	for _, spans := range d.receivers {
		for _, s := range spans {
			add(s.from, s.to)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// sortClusters orders an organisation's bodies by when they begin,
// keeping the default first within each structure, so Clusters[0] (and
// ClusterOf) stays the earliest structure's default.
func (d *Directory) sortClusters(o *Organisation) {
	slices.SortStableFunc(o.Clusters, func(a, b string) int {
		ca, cb := d.clusters[a], d.clusters[b]
		if ca == nil || cb == nil {
			return 0
		}
		return cmp.Compare(ca.ValidFrom.Unix(), cb.ValidFrom.Unix())
	})
}
