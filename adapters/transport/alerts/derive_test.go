package alerts

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// history builds a pathway's log without NATS: each step is decided
// against the state so far and numbered as the store would.
type history struct {
	t   testing.TB
	pw  uuid.UUID
	evs []events.Envelope
}

func newHistory(t testing.TB) *history { return &history{t: t, pw: events.NewID()} }

func (h *history) do(actor events.OrgID, at time.Time, ps ...events.Payload) *history {
	h.t.Helper()
	evs, err := events.Decide(events.Fold(h.evs), events.Command{Pathway: h.pw, Actor: events.Actor{Org: actor}, OccurredAt: at, Payloads: ps})
	if err != nil {
		h.t.Fatalf("decide %T: %v", ps[0], err)
	}
	for _, e := range evs {
		e.Seq = uint64(len(h.evs) + 1)
		e.RecordedAt = at.Add(time.Minute)
		h.evs = append(h.evs, e)
	}
	return h
}

// discharged is the discharge flow up to the discharge.
func discharged(t testing.TB) *history {
	return newHistory(t).
		do(hospital, t0, &events.PathwayOpened{Patient: patient(t), Cluster: "aarhus", Municipality: aarhus}, &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}).
		do(hospital, t0.Add(time.Hour), &events.HandoffOffered{Offer: "o1", From: hospital, To: aarhus, What: events.HomeCare, Deadline: t0.Add(5 * time.Hour)}).
		do(hospital, t0.Add(2*time.Hour), &events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: aarhus})
}

// elapse records the deadline due first as elapsed, as the scheduler does.
func (h *history) elapse(g Viewer, kind projections.GapKind) *history {
	h.t.Helper()
	for _, d := range g.PathwayView(h.evs, t0.Add(240*time.Hour)).Due {
		if d.Kind == kind {
			return h.do("", d.At, &events.DeadlineElapsed{Ref: d.Ref, Rule: d.Rule, Deadline: d.At})
		}
	}
	h.t.Fatalf("no %s deadline due", kind)
	return h
}

// summary names an alert by kind, addressee and gap kind, for tables.
func summary(as []Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		s := string(a.Kind) + " " + string(a.Org)
		if a.Gap != nil {
			s += " " + string(a.Gap.Kind)
		}
		if a.Offer != nil {
			s += " offer " + a.Offer.ID
		}
		out[i] = s
	}
	slices.Sort(out)
	return out
}

func TestDerive(t *testing.T) {
	g, err := projections.NewGaps(projections.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	const (
		muni = "kommune:0751"
		hosp = "sor:6620000000001"
	)
	tests := []struct {
		name    string
		history func(t *testing.T) *history
		want    []string
	}{
		{"opening and admission say nothing", func(t *testing.T) *history {
			return newHistory(t).do(hospital, t0, &events.PathwayOpened{Patient: patient(t), Cluster: "aarhus", Municipality: aarhus}, &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient})
		}, nil},
		{"an offer goes to its addressee", func(t *testing.T) *history {
			h := discharged(t)
			h.evs = h.evs[:3]
			return h
		}, []string{"offer-received " + muni + " offer o1"}},
		{"discharge with nobody accepting opens two gaps for both closers", func(t *testing.T) *history { return discharged(t) }, []string{
			"gap-opened " + hosp + " discharged-before-accept", "gap-opened " + hosp + " no-owner",
			"gap-opened " + muni + " discharged-before-accept", "gap-opened " + muni + " no-owner",
		}},
		{"an offer deadline opens an overdue gap", func(t *testing.T) *history {
			return discharged(t).elapse(g, projections.OfferOverdue)
		}, []string{
			"deadline-elapsed " + hosp + " offer-overdue offer o1", "deadline-elapsed " + muni + " offer-overdue offer o1",
			"gap-opened " + hosp + " offer-overdue", "gap-opened " + muni + " offer-overdue",
		}},
		{"a gap's deadline escalates it", func(t *testing.T) *history {
			return discharged(t).elapse(g, projections.NoOwner)
		}, []string{
			"deadline-elapsed " + hosp + " no-owner", "deadline-elapsed " + muni + " no-owner",
			"gap-escalated " + hosp + " no-owner", "gap-escalated " + muni + " no-owner",
		}},
		{"acceptance closes the gaps", func(t *testing.T) *history {
			return discharged(t).do(aarhus, t0.Add(3*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus})
		}, []string{
			"gap-closed " + hosp + " discharged-before-accept", "gap-closed " + hosp + " no-owner",
			"gap-closed " + muni + " discharged-before-accept", "gap-closed " + muni + " no-owner",
		}},
		{"a correction of the discharge closes its gaps", func(t *testing.T) *history {
			h := discharged(t)
			return h.do(hospital, t0.Add(3*time.Hour), &events.Correction{Annuls: h.evs[len(h.evs)-1].ID, Reason: "wrong patient"})
		}, []string{
			"gap-closed " + hosp + " discharged-before-accept", "gap-closed " + hosp + " no-owner",
			"gap-closed " + muni + " discharged-before-accept", "gap-closed " + muni + " no-owner",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.history(t)
			got := Derive(g, h.evs)
			slices.Sort(tt.want)
			if s := summary(got); !slices.Equal(s, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(s, "\n  "), strings.Join(tt.want, "\n  "))
			}
			again := Derive(g, h.evs)
			for i := range got {
				if got[i].ID != again[i].ID {
					t.Errorf("alert %d: id %s then %s; want the same", i, got[i].ID, again[i].ID)
				}
			}
			last := h.evs[len(h.evs)-1]
			for _, a := range got {
				if a.EventID != last.ID || a.EventSeq != last.Seq || a.Pathway != h.pw || a.Cluster != "aarhus" {
					t.Errorf("%s: got event %s seq %d pathway %s; want %s %d %s", a.Kind, a.EventID, a.EventSeq, a.Pathway, last.ID, last.Seq, h.pw)
				}
			}
		})
	}
}

func TestDeriveIDsDiffer(t *testing.T) {
	g, _ := projections.NewGaps(projections.DefaultRules())
	seen := map[string]string{}
	for _, a := range Derive(g, discharged(t).elapse(g, projections.OfferOverdue).evs) {
		key := fmt.Sprint(a.Kind, a.Org, a.Gap.ID)
		if prev, ok := seen[a.ID]; ok {
			t.Errorf("id %s for both %s and %s", a.ID, prev, key)
		}
		seen[a.ID] = key
	}
}

// TestAlertJSON pins the payload's field names (docs/alerts.md shows them).
func TestAlertJSON(t *testing.T) {
	g, _ := projections.NewGaps(projections.DefaultRules())
	as := Derive(g, discharged(t).evs)
	b, err := json.Marshal(as[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, f := range []string{"id", "kind", "cluster", "org", "pathway", "gap", "event_id", "event_type", "event_seq", "occurred_at", "recorded_at", "counter"} {
		if _, ok := m[f]; !ok {
			t.Errorf("payload %s lacks %q", b, f)
		}
	}
	gap := m["gap"].(map[string]any)
	for _, f := range []string{"id", "kind", "severity", "opened_at", "deadline", "closers"} {
		if _, ok := gap[f]; !ok {
			t.Errorf("gap %v lacks %q", gap, f)
		}
	}
}

// TestDeriveLinks: a join of two identities tells every party of the
// pathway, and so does its undoing; nothing else is said.
func TestDeriveLinks(t *testing.T) {
	g, err := projections.NewGaps(projections.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	p, err := events.NewPseudonymizer([]byte("alert-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	realCPR, _ := p.Ref("0102030405")
	other := events.NewID()
	h := discharged(t).do(hospital, t0.Add(3*time.Hour), &events.PatientIdentityLinked{
		Patient: realCPR, Other: patient(t), Joined: other, Reason: "HL7 A47 change patient identifier list",
	})
	got := Derive(g, h.evs)
	if want := []string{"patient-linked " + string(aarhus), "patient-linked " + string(hospital)}; !slices.Equal(summary(got), want) {
		t.Fatalf("got %v; want %v: every party of the pathway", summary(got), want)
	}
	for _, a := range got {
		if a.Link == nil || a.Link.Joined != other || a.Link.Reason != "HL7 A47 change patient identifier list" {
			t.Errorf("%s: link %+v; want the other pathway and the reason", a.Org, a.Link)
		}
		if b, _ := json.Marshal(a); strings.Contains(string(b), string(realCPR)) || strings.Contains(string(b), string(patient(t))) {
			t.Errorf("the alert names a patient: %s", b)
		}
	}
	link := h.evs[len(h.evs)-1].ID
	h.do(hospital, t0.Add(4*time.Hour), &events.Correction{Annuls: link, Reason: "HL7 A37 unlink patient information"})
	if got, want := summary(Derive(g, h.evs)), []string{"patient-unlinked " + string(aarhus), "patient-unlinked " + string(hospital)}; !slices.Equal(got, want) {
		t.Errorf("after the Correction: got %v; want %v", got, want)
	}
	if again := Derive(g, h.evs); again[0].ID != Derive(g, h.evs)[0].ID {
		t.Error("the same history gave different alert ids")
	}
}
