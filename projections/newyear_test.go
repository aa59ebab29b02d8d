package projections

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// The golden pathway across 1 January 2027 (docs/reform-2027.md): a
// København patient admitted to Hvidovre on Wednesday 30 December, ready
// for discharge on the 31st, discharged to a municipal bed on Saturday 2
// January. It is opened in cluster Byen and keeps that subject; from 1
// January it belongs to Sundhedsråd Byen; the discharge's implied offer
// goes to Region Østdanmark, the receiver of municipal beds from 2027.
// Beside it, an Odder patient discharged to a municipal bed on 31
// December: that offer goes to the municipality, the rule of 2026.
func TestGoldenAcrossNewYear(t *testing.T) {
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := newSim(t, Rules{})
	s.pol = s.pol.WithDirectory(dir)
	kbh, odder, hvidovre, horsens := events.Kommune("0101"), events.Kommune("0727"), events.SOR("1101"), events.SOR("1102")
	oest := events.OrgID("region:1086")
	cet := func(day, hm string) time.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, cph)
		if err != nil {
			panic(err)
		}
		return t
	}
	open := func(name string, m, hospital events.OrgID, at time.Time) {
		pw := pathwayID(name)
		s.at(at, pw, hospital,
			&events.PathwayOpened{Patient: patientRef(len(name)), Cluster: dir.ClusterAt(m, at), Municipality: m},
			&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient, Notified: m})
	}
	pw, other := pathwayID("kbh"), pathwayID("odder")
	open("kbh", kbh, hvidovre, cet("2026-12-30", "10:00"))
	open("odder", odder, horsens, cet("2026-12-30", "11:00"))
	s.at(cet("2026-12-30", "14:00"), pw, kbh, &events.HandoffAccepted{Offer: policyOffer(s, pw, "admission-notified"), By: kbh})
	s.at(cet("2026-12-31", "09:00"), pw, hvidovre, &events.ReadyForDischarge{Hospital: hvidovre})
	s.at(cet("2026-12-31", "11:00"), other, horsens, &events.PatientDischarged{Hospital: horsens, Destination: events.DestRehabilitationBed})
	s.at(cet("2026-12-31", "13:00"), other, odder, &events.HandoffAccepted{Offer: policyOffer(s, other, "discharge-services"), By: odder})
	s.at(cet("2027-01-02", "11:00"), pw, hvidovre, &events.PatientDischarged{Hospital: hvidovre, Destination: events.DestRehabilitationBed})
	s.at(cet("2027-01-02", "13:00"), pw, oest, &events.HandoffAccepted{Offer: policyOffer(s, pw, "discharge-services"), By: oest})
	now := cet("2027-01-02", "18:00")
	s.tick(now)

	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	set.UseDirectory(dir)
	host(t, set, s.log, 0)
	names := map[string]string{pw.String(): "kbh", other.String(): "odder"}
	when := func(t time.Time) string { return t.In(cph).Format("Mon 02 Jan 15:04") }

	t.Run("log", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("seq valid-time              pathway opened-in body-then           event\n")
		for _, e := range s.log {
			st := events.Fold(nil)
			for _, h := range s.hist[e.Pathway] {
				st.Apply(&h)
			}
			body := dir.BodyOf(st.Cluster(), st.Municipality(), e.OccurredAt)
			fmt.Fprintf(&b, "%3d %s  %-7s %-9s %-18s %-22s %s\n", e.Seq, when(e.OccurredAt), names[e.Pathway.String()], st.Cluster(), body, e.Type, brief(e))
		}
		golden(t, filepath.Join("testdata", "newyear_log.golden"), []byte(b.String()))
	})
	t.Run("offers go by the rules of their valid time", func(t *testing.T) {
		want := map[string]events.OrgID{"kbh": oest, "odder": odder}
		for _, e := range s.log {
			if o, ok := e.Payload.(*events.HandoffOffered); ok && o.What == events.MunicipalBed {
				if n := names[e.Pathway.String()]; o.To != want[n] {
					t.Errorf("%s: municipal bed offered to %s on %s; want %s", n, o.To, when(e.OccurredAt), want[n])
				}
			}
		}
	})
	t.Run("the pathway belongs to the body in force", func(t *testing.T) {
		for _, c := range []struct {
			at   time.Time
			want string
		}{
			{cet("2026-12-31", "23:59"), "byen"},
			{cet("2027-01-01", "00:00"), "raad-byen"},
			{now, "raad-byen"},
		} {
			if got, _ := set.Gaps.BodyAt(pw, c.at); got != c.want {
				t.Errorf("BodyAt(%s): got %q; want %q", when(c.at), got, c.want)
			}
			if got := len(set.Gaps.List(GapFilter{Cluster: c.want, At: c.at, Status: AllGaps}, now)); got == 0 {
				t.Errorf("List(cluster %s at %s): no gaps; want the pathway's", c.want, when(c.at))
			}
		}
	})
	t.Run("gaps and figures", func(t *testing.T) {
		var b strings.Builder
		for _, g := range set.Gaps.List(GapFilter{Status: AllGaps}, now) {
			fmt.Fprintf(&b, "%-24s %-6s body=%-10s ref=%s opened=%s", g.Kind, names[g.Pathway.String()], g.Body, g.Ref, when(g.OpenedAt))
			if !g.Open() {
				fmt.Fprintf(&b, " closed=%s by=%s", when(g.ClosedAt), g.ClosedByType)
			}
			if g.Kind == ReadyButWaiting {
				fmt.Fprintf(&b, " days=%d", g.Days)
			}
			fmt.Fprintf(&b, " closers=%v", g.Closers)
			b.WriteString("\n")
		}
		dec, _ := ParseMonth("2026-12")
		jan, _ := ParseMonth("2027-01")
		months := append(set.Figures.Months("byen", dec, dec, now), set.Figures.Months("raad-byen", dec, jan, now)...)
		months = append(months, set.Figures.Months("horsens", dec, dec, now)...)
		js, err := json.MarshalIndent(months, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		b.Write(js)
		b.WriteString("\n")
		golden(t, filepath.Join("testdata", "newyear_gaps.golden"), []byte(b.String()))
	})
}
