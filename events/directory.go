package events

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
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
	// MLLPClients are the MLLP connections that may send HL7 for the
	// organisation: "cn:NAME" (a client certificate's subject common
	// name), "sha256:HEX" (its SHA-256 fingerprint) or "addr:IP[/BITS]"
	// (a plaintext sender's address, where the operator allows
	// plaintext). A connection speaks for every organisation that lists
	// it, and for their departments (docs/security.md).
	MLLPClients []string `json:"mllp_clients,omitempty"`
}

// Cluster is a body where region, municipalities and general practice
// meet: one of the 21 health clusters (sundhedsklynger) up to 2026-12-31,
// or one of the 17 sundhedsråd from 2027-01-01. Its municipalities are the
// catchment of its acute hospital(s).
type Cluster struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Kind           BodyKind  `json:"kind"`
	Region         string    `json:"region"`
	AcuteHospital  string    `json:"acute_hospital"`
	ValidFrom      time.Time `json:"valid_from"`
	ValidTo        time.Time `json:"valid_to,omitzero"`
	Municipalities []OrgID   `json:"municipalities"`
	// Status is "V" when the membership was read in a primary source, "U"
	// when it is a sensible default (events/reference/README.md).
	Status string `json:"status,omitempty"`
	Source string `json:"source,omitempty"`
}

// BodyKind says which structure a Cluster belongs to.
type BodyKind string

// Body kinds.
const (
	Sundhedsklynge BodyKind = "sundhedsklynge"
	Sundhedsraad   BodyKind = "sundhedsraad"
)

// InForce reports whether the body is in force on at's date in Denmark.
func (c Cluster) InForce(at time.Time) bool { return inForce(c.ValidFrom, c.ValidTo, at) }

// Region is one of Denmark's regions, in force from ValidFrom through
// ValidTo (zero: open-ended).
type Region struct {
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to,omitzero"`
	Source    string    `json:"source,omitempty"`
}

// ID returns the region's organisation id (region:<code>).
func (r Region) ID() OrgID { return OrgID(SchemeRegion + ":" + r.Code) }

// Sector is the kind of organisation that receives a handoff.
type Sector string

// Receiving sectors.
const (
	SectorMunicipality Sector = "municipality"
	SectorRegion       Sector = "region"
	SectorGP           Sector = "gp"
)

// span is a row of reference data in valid time: from and to are the
// first and last day it holds (to zero: open-ended).
type span struct {
	from, to time.Time
	value    string
	source   string
}

//go:embed reference/*.csv
var reference embed.FS

// Directory knows Denmark's regions, municipalities and health clusters
// (embedded reference data, docs in events/reference/README.md) and the
// hospitals, departments and practices an operator configures. It is read
// only after it is built, so it is safe for concurrent use.
type Directory struct {
	orgs      map[OrgID]*Organisation
	ean       map[string]OrgID
	alias     map[string]OrgID
	clusters  map[string]*Cluster
	order     []string
	regions   []Region
	munRegion map[OrgID][]span          // a municipality's region in valid time
	receivers map[Responsibility][]span // which sector receives each kind of handoff
}

// LoadDirectory is NewDirectory with the operator's organisations file
// named by path; an empty path means the reference data alone.
func LoadDirectory(file string) (*Directory, error) {
	if file == "" {
		return NewDirectory(nil)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("organisations file: %w", err)
	}
	defer f.Close()
	return NewDirectory(f)
}

// NewDirectory loads the embedded reference data and then, if overrides is
// not nil, an operator's organisations file (JSON, see docs/operations.md)
// that adds or corrects organisations.
func NewDirectory(overrides io.Reader) (*Directory, error) {
	d := &Directory{orgs: make(map[OrgID]*Organisation), ean: make(map[string]OrgID), alias: make(map[string]OrgID), clusters: make(map[string]*Cluster),
		munRegion: make(map[OrgID][]span), receivers: make(map[Responsibility][]span)}
	steps := []func() error{d.loadRegions, d.loadMunicipalities, d.loadMunicipalityRegions, d.loadClusters, d.loadMembers, d.loadReceivers}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	for _, o := range d.orgs {
		d.sortClusters(o)
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

// Clusters returns every body, the 21 sundhedsklynger and the 17
// sundhedsråd, in the reference order, whatever their dates.
func (d *Directory) Clusters() []Cluster {
	out := make([]Cluster, 0, len(d.order))
	for _, id := range d.order {
		out = append(out, *d.clusters[id])
	}
	return out
}

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

// ClusterOf returns the first body an organisation was configured with,
// whatever its dates, or "" when the organisation is unknown or in no
// body. Use ClusterAt for the body in force at an event's valid time.
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
	return readCSV("regions.csv", []string{"code", "name", "valid_from", "valid_to"}, func(r map[string]string) error {
		from, to, err := dates(r)
		if err != nil {
			return fmt.Errorf("events: regions.csv: %s: %w", r["name"], err)
		}
		reg := Region{Code: r["code"], Name: r["name"], ValidFrom: from, ValidTo: to, Source: r["source"]}
		d.regions = append(d.regions, reg)
		if r["code"] == "" {
			return nil
		}
		return d.add(&Organisation{ID: reg.ID(), Kind: KindRegion, Name: "Region " + r["name"], Region: r["name"], Source: r["source"]})
	})
}

func (d *Directory) loadMunicipalityRegions() error {
	return readCSV("municipality_regions.csv", []string{"municipality", "region", "valid_from", "valid_to", "source"}, func(r map[string]string) error {
		m := Kommune(r["municipality"])
		from, to, err := dates(r)
		if _, ok := d.orgs[m]; !ok || err != nil || !slices.ContainsFunc(d.regions, func(x Region) bool { return x.Name == r["region"] }) {
			return fmt.Errorf("events: municipality_regions.csv: %s in %q: unknown municipality or region, or bad dates (%v)", m, r["region"], err)
		}
		d.munRegion[m] = append(d.munRegion[m], span{from: from, to: to, value: r["region"], source: r["source"]})
		return nil
	})
}

func (d *Directory) loadReceivers() error {
	return readCSV("handoff_receivers.csv", []string{"responsibility", "sector", "valid_from", "valid_to", "source"}, func(r map[string]string) error {
		what := Responsibility(r["responsibility"])
		from, to, err := dates(r)
		if err == nil {
			err = firstErr(what.Validate(), oneOf("sector", Sector(r["sector"]), set(SectorMunicipality, SectorRegion, SectorGP)))
		}
		if err != nil {
			return fmt.Errorf("events: handoff_receivers.csv: %s: %w", what, err)
		}
		d.receivers[what] = append(d.receivers[what], span{from: from, to: to, value: r["sector"], source: r["source"]})
		return nil
	})
}

// dates reads a row's valid_from and valid_to (empty: open-ended).
func dates(r map[string]string) (from, to time.Time, err error) {
	if from, err = time.Parse(time.DateOnly, r["valid_from"]); err != nil {
		return from, to, fmt.Errorf("valid_from: %w", err)
	}
	if r["valid_to"] != "" {
		if to, err = time.Parse(time.DateOnly, r["valid_to"]); err != nil {
			return from, to, fmt.Errorf("valid_to: %w", err)
		}
		if to.Before(from) {
			return from, to, errors.New("valid_to before valid_from")
		}
	}
	return from, to, nil
}

func (d *Directory) loadMunicipalities() error {
	return readCSV("municipalities.csv", []string{"code", "name", "region"}, func(r map[string]string) error {
		pop, _ := strconv.Atoi(r["population"])
		return d.add(&Organisation{ID: Kommune(r["code"]), Kind: KindMunicipality, Name: r["name"], Region: r["region"], Population: pop, Source: r["source"]})
	})
}

func (d *Directory) loadClusters() error {
	return readCSV("clusters.csv", []string{"id", "name", "kind", "region", "acute_hospital", "valid_from", "valid_to"}, func(r map[string]string) error {
		from, to, err := dates(r)
		if err == nil {
			err = firstErr(slug("id", r["id"]), oneOf("kind", BodyKind(r["kind"]), set(Sundhedsklynge, Sundhedsraad)))
		}
		if err != nil {
			return fmt.Errorf("events: clusters.csv: %s: %w", r["id"], err)
		}
		c := &Cluster{ID: r["id"], Name: r["name"], Kind: BodyKind(r["kind"]), Region: r["region"], AcuteHospital: r["acute_hospital"],
			ValidFrom: from, ValidTo: to, Status: r["status"], Source: r["source"]}
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
		d.sortClusters(&o)
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
	for i, c := range o.MLLPClients {
		if err := checkMLLPClient(c); err != nil {
			return prefix(fmt.Sprintf("mllp_clients[%d]", i), err)
		}
	}
	return nil
}

// checkMLLPClient checks one Organisation.MLLPClients entry's shape.
func checkMLLPClient(c string) error {
	kind, v, _ := strings.Cut(c, ":")
	switch {
	case v == "":
	case kind == "cn":
		return nil
	case kind == "sha256":
		if b, err := hex.DecodeString(strings.ReplaceAll(v, ":", "")); err == nil && len(b) == sha256.Size {
			return nil
		}
	case kind == "addr":
		if _, err := netip.ParsePrefix(v); err == nil {
			return nil
		}
		if _, err := netip.ParseAddr(v); err == nil {
			return nil
		}
	}
	return &ValidationError{Field: "", Reason: fmt.Sprintf("%q: want cn:NAME, sha256:FINGERPRINT (64 hex digits) or addr:IP[/BITS]", c)}
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
