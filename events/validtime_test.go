package events_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// The two structures, each on its side of 1 January 2027.
func TestDirectoryStructures(t *testing.T) {
	d := mustDirectory(t, "")
	tests := []struct {
		name    string
		at      time.Time
		kind    events.BodyKind
		bodies  int
		regions []string
	}{
		{"2026: 21 sundhedsklynger, five regions", day("2026-12-31"), events.Sundhedsklynge, 21, []string{"Nordjylland", "Midtjylland", "Syddanmark", "Hovedstaden", "Sjælland"}},
		{"2027: 17 sundhedsråd, four regions", day("2027-01-01"), events.Sundhedsraad, 17, []string{"Nordjylland", "Midtjylland", "Syddanmark", "Østdanmark"}},
		{"2022, first day of the clusters", day("2022-07-01"), events.Sundhedsklynge, 21, []string{"Nordjylland", "Midtjylland", "Syddanmark", "Hovedstaden", "Sjælland"}},
		{"2030", day("2030-06-01"), events.Sundhedsraad, 17, []string{"Nordjylland", "Midtjylland", "Syddanmark", "Østdanmark"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies := d.ClustersAt(tt.at)
			if len(bodies) != tt.bodies {
				t.Fatalf("got %d bodies; want %d", len(bodies), tt.bodies)
			}
			var names []string
			for _, r := range d.RegionsAt(tt.at) {
				names = append(names, r.Name)
			}
			if !sameSet(names, tt.regions) {
				t.Errorf("got regions %v; want %v", names, tt.regions)
			}
			seen := map[events.OrgID]int{}
			for _, b := range bodies {
				if b.Kind != tt.kind || b.Source == "" || b.AcuteHospital == "" {
					t.Errorf("%s: got kind %q, source %q, hospital %q; want %q with both set", b.ID, b.Kind, b.Source, b.AcuteHospital, tt.kind)
				}
				for _, m := range b.Municipalities {
					seen[m]++
					r, ok := d.RegionAt(m, tt.at)
					if !ok || r.Name != b.Region {
						t.Errorf("%s in %s: got region %q, %t; want the body's %q", m, b.ID, r.Name, ok, b.Region)
					}
					if got := d.ClusterAt(m, tt.at); got != b.ID && !(m == events.Kommune("0101") && got == "byen") {
						t.Errorf("ClusterAt(%s): got %q; want %q", m, got, b.ID)
					}
				}
			}
			if len(seen) != 98 {
				t.Errorf("got %d municipalities covered; want 98", len(seen))
			}
		})
	}
}

func TestDirectoryAtValidTime(t *testing.T) {
	d := mustDirectory(t, `{"organisations": [
		{"id": "sor:1001", "kind": "hospital", "name": "AUH", "region": "Midtjylland", "clusters": ["aarhus"]},
		{"id": "sor:1002", "kind": "hospital", "name": "Kolding", "region": "Syddanmark", "clusters": ["lillebaelt"]},
		{"id": "sor:1003", "kind": "hospital", "name": "Both", "region": "Syddanmark", "clusters": ["lillebaelt", "raad-fyn"]}]}`)
	lastMinute2026 := instant("2026-12-31T22:59:59Z") // 23:59:59 in Copenhagen
	first2027 := instant("2026-12-31T23:00:00Z")      // 00:00 on 1 January in Copenhagen
	tests := []struct {
		org  events.OrgID
		at   time.Time
		want string
	}{
		{events.Kommune("0101"), lastMinute2026, "byen"},
		{events.Kommune("0101"), first2027, "raad-byen"},
		{events.Kommune("0410"), lastMinute2026, "lillebaelt"}, // Middelfart moves to Fyn
		{events.Kommune("0410"), first2027, "raad-fyn"},
		{events.Kommune("0615"), lastMinute2026, "horsens"},
		{events.Kommune("0615"), first2027, "raad-aarhus"},
		{events.Kommune("0787"), first2027, "raad-aalborg"},
		{events.Kommune("0787"), day("2022-06-30"), ""}, // before the clusters
		{"sor:1001", lastMinute2026, "aarhus"},
		{"sor:1001", first2027, "raad-aarhus"}, // configured with its cluster only: its successor
		{"sor:1002", first2027, "raad-lillebaelt"},
		{"sor:1003", first2027, "raad-fyn"}, // configured with both: the one in force
		{"sor:9999", first2027, ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.org)+" "+tt.at.Format(time.RFC3339), func(t *testing.T) {
			if got := d.ClusterAt(tt.org, tt.at); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestDirectoryRegionsAndReceivers(t *testing.T) {
	d := mustDirectory(t, "")
	lastMinute2026, first2027 := instant("2026-12-31T22:59:59Z"), instant("2026-12-31T23:00:00Z")
	regions := []struct {
		m    events.OrgID
		at   time.Time
		want string
	}{
		{events.Kommune("0101"), lastMinute2026, "Hovedstaden"},
		{events.Kommune("0101"), first2027, "Østdanmark"},
		{events.Kommune("0370"), lastMinute2026, "Sjælland"},
		{events.Kommune("0370"), first2027, "Østdanmark"},
		{events.Kommune("0751"), lastMinute2026, "Midtjylland"},
		{events.Kommune("0751"), first2027, "Midtjylland"},
	}
	for _, tt := range regions {
		t.Run("RegionAt "+string(tt.m)+" "+tt.at.Format(time.RFC3339), func(t *testing.T) {
			r, ok := d.RegionAt(tt.m, tt.at)
			if !ok || r.Name != tt.want {
				t.Errorf("got %q, %t; want %q", r.Name, ok, tt.want)
			}
		})
	}
	receivers := []struct {
		what events.Responsibility
		m    events.OrgID
		at   time.Time
		want events.OrgID
	}{
		{events.HomeCare, events.Kommune("0101"), lastMinute2026, events.Kommune("0101")},
		{events.HomeCare, events.Kommune("0101"), first2027, events.Kommune("0101")},
		{events.Rehabilitation, events.Kommune("0751"), first2027, events.Kommune("0751")},
		{events.MunicipalBed, events.Kommune("0101"), lastMinute2026, events.Kommune("0101")},
		{events.MunicipalBed, events.Kommune("0101"), first2027, "region:1086"},
		{events.MunicipalBed, events.Kommune("0751"), first2027, "region:1082"},
		{events.AcuteNursing, events.Kommune("0851"), lastMinute2026, events.Kommune("0851")},
		{events.AcuteNursing, events.Kommune("0851"), first2027, "region:1081"},
		{events.SpecialisedRehabilitation, events.Kommune("0461"), first2027, "region:1083"},
		{events.GPFollowUp, events.Kommune("0461"), first2027, ""},
	}
	for _, tt := range receivers {
		t.Run("ReceiverOf "+string(tt.what)+" "+tt.at.Format(time.RFC3339), func(t *testing.T) {
			if got := d.ReceiverOf(tt.what, tt.m, tt.at); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
			if _, src, ok := d.Receiver(tt.what, tt.at); !ok || src == "" {
				t.Errorf("Receiver: got a rule %t with source %q; want a rule with its source", ok, src)
			}
		})
	}
}

// The mapping used to compare figures across the date: every 2026
// municipality reaches exactly one 2027 body.
func TestDirectoryLinks(t *testing.T) {
	d := mustDirectory(t, "")
	links := d.Links(day("2026-12-31"), day("2027-01-01"))
	to := map[events.OrgID]string{}
	from := map[string][]string{}
	for _, l := range links {
		from[l.From] = append(from[l.From], l.To)
		for _, m := range l.Municipalities {
			if prev, ok := to[m]; ok && prev != l.To {
				t.Errorf("%s links to %s and %s; want one body", m, prev, l.To)
			}
			to[m] = l.To
		}
	}
	if len(to) != 98 || len(from) != 21 {
		t.Errorf("got %d municipalities from %d clusters; want 98 from 21", len(to), len(from))
	}
	tests := []struct {
		cluster string
		want    []string
	}{
		{"lillebaelt", []string{"raad-lillebaelt", "raad-fyn"}},
		{"syd-hovedstaden", []string{"raad-byen", "raad-amager-vestegnen"}},
		{"horsens", []string{"raad-aarhus"}},
		{"bornholm", []string{"raad-bornholm"}},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			if !sameSet(from[tt.cluster], tt.want) {
				t.Errorf("got %v; want %v", from[tt.cluster], tt.want)
			}
		})
	}
	if got := d.Changes(); !slices.ContainsFunc(got, func(c time.Time) bool { return c.Equal(day("2027-01-01")) }) {
		t.Errorf("Changes: got %v; want 2027-01-01 among them", got)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestAgeBandOf(t *testing.T) {
	at := instant("2027-01-02T10:00:00Z")
	tests := []struct {
		cpr  string
		want events.AgeBand
		ok   bool
	}{
		{"0101101234", events.AgeOldest, true}, // 7th digit 1: born 1910
		{"0201104000", events.AgeChild, true},  // 7th digit 4, year 10: 2010, 16 years
		{"0201084000", events.AgeAdult, true},  // 2008, 19 on 2 January 2027
		{"0301094000", events.AgeChild, true},  // 2009, 18 tomorrow: 17
		{"010160-1234", events.AgeOlder, true}, // 1960: 67
		{"2509479989", events.AgeOlder, true},  // MedCom's test CPR, 1947: 79
		{"0101475000", "", false},              // 7th digit 5, year 47: 2047, not born yet
		{"0101585000", events.AgeOldest, true}, // 7th digit 5, year 58: 1858
		{"3102601234", "", false},              // 31 February
		{"12345", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.cpr, func(t *testing.T) {
			got, ok := events.AgeBandOf(tt.cpr, at)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %q, %t; want %q, %t", got, ok, tt.want, tt.ok)
			}
		})
	}
}
