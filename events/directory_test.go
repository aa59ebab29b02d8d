package events_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stafet/stafet/events"
)

func mustDirectory(t *testing.T, overrides string) *events.Directory {
	t.Helper()
	var d *events.Directory
	var err error
	if overrides == "" {
		d, err = events.NewDirectory(nil)
	} else {
		d, err = events.NewDirectory(strings.NewReader(overrides))
	}
	if err != nil {
		t.Fatalf("NewDirectory: %v", err)
	}
	return d
}

func TestDirectoryReference(t *testing.T) {
	d := mustDirectory(t, "")
	t.Run("regions", func(t *testing.T) {
		rs := d.Regions()
		if len(rs) < 5 {
			t.Fatalf("got %d regions; want at least 5", len(rs))
		}
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = r.Name
		}
		for _, want := range []string{"Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland"} {
			if !slices.Contains(names, want) {
				t.Errorf("got regions %v; want %s among them", names, want)
			}
		}
		if got := len(d.Organisations(events.KindRegion)); got != 6 {
			t.Errorf("got %d region organisations; want 6 (the five of 2007 and Østdanmark's provisional region:1086)", got)
		}
		if o, ok := d.Lookup("region:1082"); !ok || o.Kind != events.KindRegion {
			t.Errorf("Lookup(region:1082): got %+v, %t; want Region Midtjylland", o, ok)
		}
	})
	t.Run("municipalities", func(t *testing.T) {
		ms := d.Organisations(events.KindMunicipality)
		if len(ms) != 98 {
			t.Fatalf("got %d municipalities; want 98", len(ms))
		}
		for _, m := range ms {
			if len(m.Clusters) == 0 {
				t.Errorf("%s (%s): no cluster; want a default", m.ID, m.Name)
			}
			if m.Region == "" || m.Name == "" || m.Source == "" {
				t.Errorf("%s: got region %q, name %q, source %q; want all three", m.ID, m.Region, m.Name, m.Source)
			}
			if d.ClusterOf(m.ID) != m.Clusters[0] {
				t.Errorf("ClusterOf(%s): got %q; want the first cluster %q", m.ID, d.ClusterOf(m.ID), m.Clusters[0])
			}
		}
		if !slices.IsSortedFunc(ms, func(a, b events.Organisation) int { return strings.Compare(string(a.ID), string(b.ID)) }) {
			t.Errorf("Organisations: got unsorted; want sorted by id")
		}
	})
	t.Run("clusters", func(t *testing.T) {
		cs := d.ClustersAt(day("2026-12-31"))
		if len(cs) != 21 {
			t.Fatalf("got %d clusters; want 21", len(cs))
		}
		members := 0
		for _, c := range cs {
			if err := events.ValidateClusterID(c.ID); err != nil {
				t.Errorf("cluster %q: %v", c.ID, err)
			}
			if len(c.Municipalities) == 0 || c.AcuteHospital == "" || c.ValidFrom.IsZero() || c.Source == "" {
				t.Errorf("cluster %s: got %d municipalities, hospital %q, from %s, source %q; want all set",
					c.ID, len(c.Municipalities), c.AcuteHospital, c.ValidFrom, c.Source)
			}
			members += len(c.Municipalities)
			got, ok := d.Cluster(c.ID)
			if !ok || got.ID != c.ID {
				t.Errorf("Cluster(%s): got %+v, %t", c.ID, got, ok)
			}
		}
		if members != 99 {
			t.Errorf("got %d memberships; want 99 (98 municipalities, København twice)", members)
		}
		if _, ok := d.Cluster("atlantis"); ok {
			t.Errorf("Cluster(atlantis): got ok; want not found")
		}
	})
	t.Run("København in two clusters", func(t *testing.T) {
		kbh, ok := d.Lookup(events.Kommune("0101"))
		if !ok {
			t.Fatal("Lookup(kommune:0101): not found")
		}
		if !slices.Equal(kbh.Clusters, []string{"byen", "syd-hovedstaden", "raad-byen"}) {
			t.Errorf("got clusters %v; want [byen syd-hovedstaden raad-byen] (byen the default up to 2026, then Sundhedsråd Byen)", kbh.Clusters)
		}
	})
	t.Run("ClusterOf", func(t *testing.T) {
		tests := []struct {
			id   events.OrgID
			want string
		}{
			{events.Kommune("0101"), "byen"},
			{events.Kommune("0147"), "byen"},
			{events.Kommune("0751"), "aarhus"},
			{events.Kommune("0400"), "bornholm"},
			{events.Kommune("0851"), "aalborg"},
			{events.Kommune("0787"), "thisted"},
			{events.Kommune("9999"), ""},
			{"region:1082", ""},
			{auh, ""},
		}
		for _, tt := range tests {
			if got := d.ClusterOf(tt.id); got != tt.want {
				t.Errorf("ClusterOf(%s): got %q; want %q", tt.id, got, tt.want)
			}
		}
	})
	t.Run("copies", func(t *testing.T) {
		o, _ := d.Lookup(events.Kommune("0101"))
		o.Name = "changed"
		if again, _ := d.Lookup(events.Kommune("0101")); again.Name == "changed" {
			t.Errorf("Lookup returned shared state; want a copy")
		}
		rs := d.Regions()
		rs[0].Name = "changed"
		if d.Regions()[0].Name == "changed" {
			t.Errorf("Regions returned shared state; want a copy")
		}
	})
}

func TestDirectoryOverrides(t *testing.T) {
	file := filepath.Join("testdata", "organisations.json")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := events.NewDirectory(f)
	if err != nil {
		t.Fatalf("NewDirectory(%s): %v", file, err)
	}
	t.Run("hospital with EAN", func(t *testing.T) {
		o, ok := d.ByEAN("5790000123456")
		if !ok {
			t.Fatal("ByEAN: not found")
		}
		if o.ID != auh || o.Kind != events.KindHospital || o.Region != "Midtjylland" {
			t.Errorf("got %+v; want the hospital %s in Midtjylland", o, auh)
		}
		if got := d.ClusterOf(auh); got != "aarhus" {
			t.Errorf("ClusterOf: got %q; want aarhus", got)
		}
		if _, ok := d.ByEAN("0000000000000"); ok {
			t.Errorf("ByEAN(unknown): got ok; want not found")
		}
	})
	t.Run("department", func(t *testing.T) {
		o, ok := d.Lookup(events.SOR("6620000000011"))
		if !ok || o.Parent != auh {
			t.Errorf("got %+v, %t; want a department of %s", o, ok, auh)
		}
	})
	t.Run("practice", func(t *testing.T) {
		if o, ok := d.Lookup(gp); !ok || o.Kind != events.KindGP {
			t.Errorf("got %+v, %t; want the practice", o, ok)
		}
		if got := len(d.Organisations(events.KindGP)); got != 1 {
			t.Errorf("got %d practices; want 1", got)
		}
	})
	t.Run("corrected municipality", func(t *testing.T) {
		o, ok := d.Lookup(events.Kommune("0101"))
		if !ok || o.Name != "Københavns Kommune" {
			t.Errorf("got %+v; want the corrected name", o)
		}
		if got := d.ClusterOf(o.ID); got != "syd-hovedstaden" {
			t.Errorf("ClusterOf: got %q; want syd-hovedstaden (the corrected default)", got)
		}
	})
	t.Run("corrected municipality keeps its clusters", func(t *testing.T) {
		o, _ := d.Lookup(events.Kommune("0751"))
		if o.Name != "Aarhus Kommune" {
			t.Errorf("got name %q; want the corrected one", o.Name)
		}
		if got := d.ClusterOf(o.ID); got != "aarhus" {
			t.Errorf("ClusterOf: got %q; want aarhus (a correction that names no clusters keeps them)", got)
		}
		if o.Population == 0 {
			t.Errorf("got population 0; want the reference figure kept")
		}
	})
	t.Run("Resolve", func(t *testing.T) {
		tests := []struct {
			name string
			want events.OrgID // "" means not found
		}{
			{"sor:6620000000001", auh},
			{"6620000000001", auh},
			{"5790000123456", auh},
			{"AUH", auh},
			{"AUH-SKEJBY", auh},
			{"0751", aarhus},
			{"kommune:0751", aarhus},
			{"yder:012345", gp},
			{"region:1082", "region:1082"},
			{"auh", ""},
			{"9999", ""},
			{"", ""},
			{"sor:", ""},
		}
		for _, tt := range tests {
			o, ok := d.Resolve(tt.name)
			if ok != (tt.want != "") || o.ID != tt.want {
				t.Errorf("Resolve(%q): got %q, %t; want %q", tt.name, o.ID, ok, tt.want)
			}
		}
	})
	t.Run("EAN moved", func(t *testing.T) {
		d := mustDirectory(t, `{"organisations":[
			{"id":"sor:1","kind":"hospital","name":"A","region":"Midtjylland","ean":"5790000000001"},
			{"id":"sor:1","kind":"hospital","name":"A","region":"Midtjylland","ean":"5790000000002"}]}`)
		if _, ok := d.ByEAN("5790000000001"); ok {
			t.Errorf("ByEAN(old): got ok; want the old EAN forgotten")
		}
		if o, ok := d.ByEAN("5790000000002"); !ok || o.ID != "sor:1" {
			t.Errorf("ByEAN(new): got %+v, %t; want sor:1", o, ok)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		d := mustDirectory(t, `{}`)
		if len(d.Organisations(events.KindMunicipality)) != 98 {
			t.Errorf("got a changed directory; want the reference data")
		}
	})
}

func TestDirectoryBadOverrides(t *testing.T) {
	tests := []struct {
		name, file string
		field      string // the *ValidationError field, or
		msg        string // a part of the message
	}{
		{"unknown kind", `{"organisations":[{"id":"sor:1","kind":"clinic","name":"X"}]}`, "organisations[0].kind", ""},
		{"missing kind", `{"organisations":[{"id":"sor:1","name":"X"}]}`, "organisations[0].kind", ""},
		{"unknown cluster", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X","clusters":["atlantis"]}]}`, "organisations[0].clusters", ""},
		{"bad id", `{"organisations":[{"id":"sor:abc","kind":"hospital","name":"X"}]}`, "organisations[0].id", ""},
		{"id without scheme", `{"organisations":[{"id":"6620000000001","kind":"hospital","name":"X"}]}`, "organisations[0].id", ""},
		{"missing name", `{"organisations":[{"id":"sor:1","kind":"hospital"}]}`, "organisations[0].name", ""},
		{"municipality by SOR", `{"organisations":[{"id":"sor:1","kind":"municipality","name":"X"}]}`, "organisations[0].id", ""},
		{"second entry", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X"},{"id":"sor:2","kind":"shop","name":"Y"}]}`, "organisations[1].kind", ""},
		{"unknown field", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X","beds":400}]}`, "", `unknown field "beds"`},
		{"mllp client of no kind", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X","mllp_clients":["auh-epj"]}]}`, "organisations[0].mllp_clients[0]", ""},
		{"short fingerprint", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X","mllp_clients":["cn:a","sha256:abcd"]}]}`, "organisations[0].mllp_clients[1]", ""},
		{"bad address", `{"organisations":[{"id":"sor:1","kind":"hospital","name":"X","mllp_clients":["addr:10.1.2.300"]}]}`, "organisations[0].mllp_clients[0]", ""},
		{"unknown top-level field", `{"hospitals":[]}`, "", `unknown field "hospitals"`},
		{"not JSON", `organisations: []`, "", "organisations file"},
		{"empty", ``, "", "organisations file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := events.NewDirectory(strings.NewReader(tt.file))
			if err == nil {
				t.Fatalf("got a directory (%d orgs); want an error", len(d.Organisations(events.KindHospital)))
			}
			if !strings.HasPrefix(err.Error(), "events: organisations file: ") {
				t.Errorf("got %q; want it to name the organisations file", err)
			}
			if tt.field != "" {
				var ve *events.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Errorf("got %v; want *ValidationError on %s", err, tt.field)
				}
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("got %q; want it to say %q", err, tt.msg)
			}
		})
	}
}
