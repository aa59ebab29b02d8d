package events

import (
	"bytes"
	"embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is the sector an organisation belongs to.
type Kind string

// Organisation kinds.
const (
	KindHospital     Kind = "hospital"
	KindMunicipality Kind = "municipality"
	KindGP           Kind = "gp"
	KindRegion       Kind = "region"
)

// Organisation is one entry of the directory.
type Organisation struct {
	ID     OrgID  `json:"id"`
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"`
	Region string `json:"region"`
	// Clusters lists the health clusters the organisation belongs to; the
	// first is its default.
	Clusters []string `json:"clusters,omitempty"`
	// EAN is the organisation's EAN/GLN location number, where it has one;
	// MedCom messages may name organisations by it.
	EAN string `json:"ean,omitempty"`
	// Parent is the owning organisation (a department's hospital).
	Parent OrgID `json:"parent,omitempty"`
	// Population is the number of inhabitants, for municipalities.
	Population int `json:"population,omitempty"`
	// Aliases are other names senders use for the organisation, e.g. an
	// HL7 MSH-4 sending facility or PV1-3 location code.
	Aliases []string `json:"aliases,omitempty"`
	// Source says where the entry comes from.
	Source string `json:"source,omitempty"`
}

// Cluster is a health cluster (sundhedsklynge).
type Cluster struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Region         string    `json:"region"`
	AcuteHospital  string    `json:"acute_hospital"`
	ValidFrom      time.Time `json:"valid_from"`
	ValidTo        time.Time `json:"valid_to,omitzero"`
	Municipalities []OrgID   `json:"municipalities"`
	Source         string    `json:"source,omitempty"`
}

// Region is one of Denmark's regions.
type Region struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

//go:embed reference/*.csv
var reference embed.FS

// Directory knows Denmark's regions, municipalities and health clusters
// (embedded reference data, docs in events/reference/README.md) and the
// hospitals, departments and practices an operator configures. It is read
// only after it is built, so it is safe for concurrent use.
type Directory struct {
	orgs     map[OrgID]*Organisation
	ean      map[string]OrgID
	alias    map[string]OrgID
	clusters map[string]*Cluster
	order    []string
	regions  []Region
}

// NewDirectory loads the embedded reference data and then, if overrides is
// not nil, an operator's organisations file (JSON, see docs/operations.md)
// that adds or corrects organisations.
func NewDirectory(overrides io.Reader) (*Directory, error) {
	d := &Directory{orgs: make(map[OrgID]*Organisation), ean: make(map[string]OrgID), alias: make(map[string]OrgID), clusters: make(map[string]*Cluster)}
	steps := []func() error{d.loadRegions, d.loadMunicipalities, d.loadClusters, d.loadMembers}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if overrides != nil {
		if err := d.loadOverrides(overrides); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Lookup returns an organisation by id.
func (d *Directory) Lookup(id OrgID) (Organisation, bool) {
	o, ok := d.orgs[id]
	if !ok {
		return Organisation{}, false
	}
	return *o, true
}

// ByEAN returns the organisation with an EAN/GLN number.
func (d *Directory) ByEAN(ean string) (Organisation, bool) {
	id, ok := d.ean[ean]
	if !ok {
		return Organisation{}, false
	}
	return d.Lookup(id)
}

// Cluster returns a cluster by id.
func (d *Directory) Cluster(id string) (Cluster, bool) {
	c, ok := d.clusters[id]
	if !ok {
		return Cluster{}, false
	}
	return *c, true
}

// Clusters returns every cluster in the reference order.
func (d *Directory) Clusters() []Cluster {
	out := make([]Cluster, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, *d.clusters[id])
	}
	return out
}

// Regions returns the regions.
func (d *Directory) Regions() []Region { return slices.Clone(d.regions) }

// Organisations returns every organisation of a kind, sorted by id.
func (d *Directory) Organisations(k Kind) []Organisation {
	var out []Organisation
	for _, o := range d.orgs {
		if o.Kind == k {
			out = append(out, *o)
		}
	}
	slices.SortFunc(out, func(a, b Organisation) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// ClusterOf returns the default cluster of an organisation, or "" when the
// organisation is unknown or in no cluster.
func (d *Directory) ClusterOf(id OrgID) string {
	o, ok := d.orgs[id]
	if !ok || len(o.Clusters) == 0 {
		return ""
	}
	return o.Clusters[0]
}

func (d *Directory) add(o *Organisation) error {
	if err := o.ID.Validate(); err != nil {
		return fmt.Errorf("events: directory: organisation %q: %w", o.ID, err)
	}
	d.orgs[o.ID] = o
	if o.EAN != "" {
		d.ean[o.EAN] = o.ID
	}
	for _, a := range o.Aliases {
		d.alias[a] = o.ID
	}
	return nil
}

// Resolve finds an organisation by anything a sender may call it: its
// OrgID ("sor:…"), a bare SOR code, its EAN/GLN number, a 4-digit
// municipality code, or a configured alias.
func (d *Directory) Resolve(name string) (Organisation, bool) {
	o, _, ok := d.Match(name)
	return o, ok
}

// Match is Resolve, and says how the name matched, for people checking a
// feed's mapping: "id", "alias", "EAN", "kommune code" or "SOR code".
func (d *Directory) Match(name string) (o Organisation, how string, ok bool) {
	if o, ok := d.Lookup(OrgID(name)); ok {
		return o, "id", true
	}
	if id, ok := d.alias[name]; ok {
		o, ok := d.Lookup(id)
		return o, "alias", ok
	}
	if o, ok := d.ByEAN(name); ok {
		return o, "EAN", true
	}
	if len(name) == 4 && digits(name) {
		o, ok := d.Lookup(Kommune(name))
		return o, "kommune code", ok
	}
	o, ok = d.Lookup(SOR(name))
	return o, "SOR code", ok
}

func (d *Directory) loadRegions() error {
	return readCSV("regions.csv", []string{"code", "name"}, func(r map[string]string) error {
		d.regions = append(d.regions, Region{Code: r["code"], Name: r["name"]})
		if r["code"] == "" {
			return nil
		}
		return d.add(&Organisation{ID: OrgID(SchemeRegion + ":" + r["code"]), Kind: KindRegion, Name: "Region " + r["name"], Region: r["name"], Source: r["source"]})
	})
}

func (d *Directory) loadMunicipalities() error {
	return readCSV("municipalities.csv", []string{"code", "name", "region"}, func(r map[string]string) error {
		pop, _ := strconv.Atoi(r["population"])
		return d.add(&Organisation{ID: Kommune(r["code"]), Kind: KindMunicipality, Name: r["name"], Region: r["region"], Population: pop, Source: r["source"]})
	})
}

func (d *Directory) loadClusters() error {
	return readCSV("clusters.csv", []string{"id", "name", "region", "acute_hospital", "valid_from"}, func(r map[string]string) error {
		if err := slug("id", r["id"]); err != nil {
			return fmt.Errorf("events: clusters.csv: %w", err)
		}
		c := &Cluster{ID: r["id"], Name: r["name"], Region: r["region"], AcuteHospital: r["acute_hospital"], Source: r["source"]}
		c.ValidFrom, _ = time.Parse(time.DateOnly, r["valid_from"])
		c.ValidTo, _ = time.Parse(time.DateOnly, r["valid_to"])
		d.clusters[c.ID] = c
		d.order = append(d.order, c.ID)
		return nil
	})
}

func (d *Directory) loadMembers() error {
	return readCSV("cluster_members.csv", []string{"cluster", "municipality", "is_default"}, func(r map[string]string) error {
		c, ok := d.clusters[r["cluster"]]
		m, known := d.orgs[Kommune(r["municipality"])]
		if !ok || !known {
			return fmt.Errorf("events: cluster_members.csv: unknown cluster %q or municipality %q", r["cluster"], r["municipality"])
		}
		c.Municipalities = append(c.Municipalities, m.ID)
		if r["is_default"] == "true" {
			m.Clusters = append([]string{c.ID}, m.Clusters...)
		} else {
			m.Clusters = append(m.Clusters, c.ID)
		}
		return nil
	})
}

// overrides is the operator's organisations file.
type overrides struct {
	Organisations []Organisation `json:"organisations"`
}

func (d *Directory) loadOverrides(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var f overrides
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("events: organisations file: %w", err)
	}
	for i := range f.Organisations {
		o := f.Organisations[i]
		field := fmt.Sprintf("organisations[%d]", i)
		if err := d.checkOverride(&o); err != nil {
			return fmt.Errorf("events: organisations file: %w", prefix(field, err))
		}
		if old, ok := d.orgs[o.ID]; ok {
			if old.EAN != "" && old.EAN != o.EAN {
				delete(d.ean, old.EAN)
			}
			// Cluster membership and population come from the reference
			// data; a correction of, say, a name must not drop them.
			if len(o.Clusters) == 0 {
				o.Clusters = old.Clusters
			}
			if o.Population == 0 {
				o.Population = old.Population
			}
		}
		if err := d.add(&o); err != nil {
			return err
		}
	}
	return nil
}

func (d *Directory) checkOverride(o *Organisation) error {
	if err := o.ID.Validate(); err != nil {
		return prefix("id", err)
	}
	if err := oneOf("kind", o.Kind, set(KindHospital, KindMunicipality, KindGP, KindRegion)); err != nil {
		return err
	}
	if o.Name == "" {
		return &ValidationError{Field: "name", Reason: "missing"}
	}
	for _, c := range o.Clusters {
		if _, ok := d.clusters[c]; !ok {
			return &ValidationError{Field: "clusters", Reason: fmt.Sprintf("unknown cluster %q", c)}
		}
	}
	if o.Kind == KindMunicipality && o.ID.Scheme() != SchemeKommune {
		return &ValidationError{Field: "id", Reason: "a municipality is identified by kommune:NNNN"}
	}
	return nil
}

// readCSV reads an embedded reference file, checking its header names the
// required columns, and calls row for each record as a column→value map.
func readCSV(name string, required []string, row func(map[string]string) error) error {
	b, err := reference.ReadFile("reference/" + name)
	if err != nil {
		return fmt.Errorf("events: reference %s: %w", name, err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("events: reference %s: %w", name, err)
	}
	for _, col := range required {
		if !slices.Contains(header, col) {
			return fmt.Errorf("events: reference %s: missing column %q", name, col)
		}
	}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("events: reference %s: %w", name, err)
		}
		m := make(map[string]string, len(header))
		for i, col := range header {
			m[col] = strings.TrimSpace(rec[i])
		}
		if err := row(m); err != nil {
			return err
		}
	}
}
