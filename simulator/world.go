package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stafet/stafet/events"
)

// The fictitious organisations of the simulated country. Municipalities and
// clusters are the real ones (events/reference); hospitals, general
// practices, SOR codes, EAN numbers and ydernumre are made up here, with
// prefixes that keep them apart from real registers:
//
//	hospital SOR      9910 + cluster number (2 digits) + 9 zeros   (15 digits)
//	municipal SOR     9920 + kommune code (4 digits) + 7 zeros     (15 digits)
//	practice SOR      9930 + practice number (6 digits) + 5 zeros  (15 digits)
//	ydernummer        9 + practice number (5 digits)
//	EAN/GLN           5799 + 8 digits + GS1 check digit
//
// A real SOR code is a SNOMED CT extension id ending in the Danish namespace
// (…1000016…); none of these does.

// hospital is one simulated hospital.
type hospital struct {
	id      events.OrgID
	sor     string
	ean     string
	name    string
	region  string
	cluster string
	// hl7 says the hospital's patient-administration system feeds Stafet
	// HL7 v2 ADT over MLLP; otherwise it sends MedCom HospitalNotifications.
	hl7 bool
}

// municipality is one of the 98 municipalities with its fictitious SOR
// code (MedCom names a municipality's receiving unit by SOR).
type municipality struct {
	id         events.OrgID
	code       string
	name       string
	region     string
	population int
	sor        string
	ean        string
	clusters   []string
	gps        []*practice
}

// practice is a general practice (almen praksis).
type practice struct {
	id      events.OrgID
	yder    string
	sor     string
	name    string
	region  string
	cluster string
}

// cluster is a health cluster with its acute hospital and members.
type cluster struct {
	id       string
	name     string
	region   string
	hospital *hospital
	// specialist is the region's highly specialised hospital, where
	// transfers go; it may be the cluster's own hospital.
	specialist *hospital
	members    []*municipality
}

// world is the simulated country. It is built once from the embedded
// reference data and never changed after.
type world struct {
	dir            *events.Directory
	clusters       []*cluster
	byCluster      map[string]*cluster
	municipalities []*municipality
	byMunicipality map[events.OrgID]*municipality
	hospitals      []*hospital
	practices      []*practice
}

// inhabitantsPerPractice sizes general practice: about 1 700 practices for
// 5.9 million inhabitants [U: PLO's figure of "about 1 700 practices",
// rounded; the split across municipalities is by population].
const inhabitantsPerPractice = 3470

// hl7Regions are the regions whose hospitals feed Stafet HL7 v2 ADT; the
// others send MedCom HospitalNotifications. [U: a simulation choice, one
// patient-administration system per region, so both inbound channels carry
// national volume.]
var hl7Regions = []string{"Hovedstaden", "Sjælland", "Nordjylland"}

// specialistCluster names, per region, the cluster whose hospital takes the
// region's transfers ("" = a separate hospital, Rigshospitalet).
var specialistCluster = map[string]string{
	"Hovedstaden": "",
	"Sjælland":    "koege",
	"Syddanmark":  "fyn",
	"Midtjylland": "aarhus",
	"Nordjylland": "aalborg",
}

var loadWorld = sync.OnceValues(buildWorld)

// sundhedsklyngeDay is a day on which the 21 sundhedsklynger were in force.
var sundhedsklyngeDay = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func buildWorld() (*world, error) {
	dir, err := events.NewDirectory(nil)
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	w := &world{dir: dir, byCluster: map[string]*cluster{}, byMunicipality: map[events.OrgID]*municipality{}}
	for _, o := range dir.Organisations(events.KindMunicipality) {
		m := &municipality{
			id: o.ID, code: o.ID.Code(), name: o.Name, region: o.Region, population: o.Population,
			sor: "9920" + o.ID.Code() + "0000000",
		}
		for _, c := range o.Clusters {
			if b, ok := dir.Cluster(c); ok && b.InForce(sundhedsklyngeDay) {
				m.clusters = append(m.clusters, c)
			}
		}
		m.ean = gln(fmt.Sprintf("57992%s000", m.code))
		if m.population <= 0 {
			m.population = 1
		}
		w.municipalities = append(w.municipalities, m)
		w.byMunicipality[m.id] = m
	}
	// The hospitals are those of the 21 sundhedsklynger; from 2027 the
	// directory places each in the sundhedsråd that took over its
	// catchment (events.Directory.ClusterAt), so one world runs across
	// the date.
	for i, c := range dir.ClustersAt(sundhedsklyngeDay) {
		h := &hospital{
			sor: fmt.Sprintf("9910%02d000000000", i+1), name: c.AcuteHospital, region: c.Region, cluster: c.ID,
			hl7: slices.Contains(hl7Regions, c.Region),
		}
		h.id = events.SOR(h.sor)
		h.ean = gln(fmt.Sprintf("57991%02d00000", i+1))
		cl := &cluster{id: c.ID, name: c.Name, region: c.Region, hospital: h}
		for _, mid := range c.Municipalities {
			cl.members = append(cl.members, w.byMunicipality[mid])
		}
		w.clusters = append(w.clusters, cl)
		w.byCluster[cl.id] = cl
		w.hospitals = append(w.hospitals, h)
	}
	for _, cl := range w.clusters {
		sc, ok := specialistCluster[cl.region]
		switch {
		case !ok:
			cl.specialist = cl.hospital
		case sc == "":
			// Rigshospitalet serves the whole region; it is placed in the
			// first cluster of the region for the directory.
			cl.specialist = w.rigshospitalet(cl)
		default:
			cl.specialist = w.byCluster[sc].hospital
		}
	}
	n := 0
	for _, m := range w.municipalities {
		k := max(1, (m.population+inhabitantsPerPractice/2)/inhabitantsPerPractice)
		for j := range k {
			n++
			p := &practice{
				yder: fmt.Sprintf("9%05d", n), sor: fmt.Sprintf("9930%06d00000", n),
				name:   fmt.Sprintf("Lægerne %s %d", m.name, j+1),
				region: m.region, cluster: m.clusters[0],
			}
			p.id = events.OrgID(events.SchemeYder + ":" + p.yder)
			m.gps = append(m.gps, p)
			w.practices = append(w.practices, p)
		}
	}
	return w, nil
}

func (w *world) rigshospitalet(cl *cluster) *hospital {
	for _, h := range w.hospitals {
		if h.name == "Rigshospitalet" {
			return h
		}
	}
	h := &hospital{
		sor: "991099000000000", name: "Rigshospitalet", region: cl.region, cluster: cl.id,
		hl7: slices.Contains(hl7Regions, cl.region), ean: gln("579919900000"),
	}
	h.id = events.SOR(h.sor)
	w.hospitals = append(w.hospitals, h)
	return h
}

// gln appends the GS1 check digit to 12 digits.
func gln(d12 string) string {
	sum := 0
	for i := len(d12) - 1; i >= 0; i-- {
		v := int(d12[i] - '0')
		if (len(d12)-1-i)%2 == 0 {
			v *= 3
		}
		sum += v
	}
	return d12 + string(rune('0'+(10-sum%10)%10))
}

// ClientName is the subject common name of the simulator's MLLP client
// certificate: like a region's integration engine, it sends for every
// simulated hospital (Organisations maps it to them).
const ClientName = "stafet-simulator"

// Organisations returns the organisations file (stafetd -organisations)
// that makes the simulated hospitals, practices and the municipalities'
// SOR codes known to Stafet's directory: the format of events.Directory's
// overrides. The content is the same on every call.
func Organisations() []byte {
	w, err := loadWorld()
	if err != nil {
		// The embedded reference data is part of the binary and its own
		// tests load it; an error here means a broken build.
		return []byte(`{"organisations":[]}`)
	}
	return w.organisations()
}

func (w *world) organisations() []byte {
	const src = "Stafet simulator: fictitious organisation (simulator)"
	var orgs []events.Organisation
	for _, h := range w.hospitals {
		orgs = append(orgs, events.Organisation{
			ID: h.id, Kind: events.KindHospital, Name: h.name, Region: h.region, Clusters: []string{h.cluster},
			EAN: h.ean, Aliases: []string{h.sor}, Source: src, MLLPClients: []string{"cn:" + ClientName},
		})
	}
	for _, m := range w.municipalities {
		orgs = append(orgs, events.Organisation{
			ID: m.id, Kind: events.KindMunicipality, Name: m.name, Region: m.region,
			EAN: m.ean, Aliases: []string{m.sor}, Source: "municipality from events/reference; SOR alias and EAN fictitious (simulator)",
		})
	}
	for _, p := range w.practices {
		orgs = append(orgs, events.Organisation{
			ID: p.id, Kind: events.KindGP, Name: p.name, Region: p.region, Clusters: []string{p.cluster},
			Aliases: []string{p.sor}, Source: src,
		})
	}
	var b bytes.Buffer
	b.WriteString("{\"organisations\": [\n")
	for i, o := range orgs {
		line, _ := json.Marshal(o)
		b.WriteString("  ")
		b.Write(line)
		if i < len(orgs)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Bytes()
}
