package projections_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	monday   = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
)

func at(h int) time.Time { return monday.Add(time.Duration(h) * time.Hour) }

// history is a pathway discharged home with services, with an offer of
// home care that Aarhus has not answered.
func history() []events.Envelope {
	pw := uuid.MustParse("0194f5a0-0000-7000-8000-000000000001")
	n := 0
	e := func(t time.Time, p events.Payload) events.Envelope {
		n++
		return events.Envelope{ID: uuid.NewSHA1(pw, []byte{byte(n)}), Pathway: pw, Type: p.Type(), OccurredAt: t, RecordedAt: t, Seq: uint64(n), Payload: p}
	}
	return []events.Envelope{
		e(at(8), &events.PathwayOpened{Patient: "p0123456789abcdef0123456789abcdef", Cluster: "aarhus", Municipality: aarhus}),
		e(at(8), &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}),
		e(at(12), &events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices}),
		e(at(12), &events.HandoffOffered{Offer: "o1", From: hospital, To: aarhus, What: events.HomeCare, Deadline: at(16)}),
	}
}

func ExampleSet() {
	set, err := projections.NewSet(projections.Rules{}) // the default rules
	if err != nil {
		panic(err)
	}
	for _, e := range history() { // a host feeds the log in order
		if err := set.Apply(e); err != nil {
			panic(err)
		}
	}
	for _, g := range set.Gaps.List(projections.GapFilter{Cluster: "aarhus"}, at(17)) {
		fmt.Println(g.Kind, g.Ref, g.Severity, "opened", g.OpenedAt.Format("15:04"), "recorded:", g.Recorded)
	}
	wl := set.Worklists.Worklist(aarhus, at(17))
	fmt.Println("waiting for Aarhus:", wl.Offers[0].What, "overdue:", wl.Offers[0].Overdue)
	for _, d := range set.Gaps.Due(time.Time{}, at(17)) {
		fmt.Println("due:", d.Ref, d.Rule, d.At.Format("15:04"))
	}
	// Output:
	// no-owner home-care/1 critical opened 12:00 recorded: true
	// offer-overdue o1 warning opened 16:00 recorded: false
	// waiting for Aarhus: home-care overdue: true
	// due: d52ffc45-fcae-569e-b600-d90533c72388 no-owner 16:00
	// due: o1 offer-answer 16:00
}

func ExampleLoadRules() {
	rules, err := projections.LoadRules(strings.NewReader(`{
		"rules": {"municipal-acceptance": {"after": "2h", "clock": "business-hours"}}
	}`))
	if err != nil {
		panic(err)
	}
	r := rules.Deadlines[projections.RuleMunicipalAcceptance]
	fmt.Println(r.After, r.Clock, r.Severity)

	_, err = projections.LoadRules(strings.NewReader(`{"rules": {"discharge-letter": {"after": "3 days"}}}`))
	fmt.Println(err)
	// Output:
	// 2h business-hours critical
	// projections: rules: rules.discharge-letter.after: want a duration like "72h", "90m" or "7d", got "3 days"
}

func ExamplePolicies_Decide() {
	policies, err := projections.NewPolicies(projections.Rules{})
	if err != nil {
		panic(err)
	}
	h := history()[:3] // up to the discharge
	state := events.Fold(h)
	for _, cmd := range policies.Decide(state, h[2]) {
		o := cmd.Payloads[0].(*events.HandoffOffered)
		fmt.Println(o.What, "to", o.To, "by", o.Deadline.Format("15:04"), "source", cmd.Source.System)
	}
	// Output:
	// home-care to kommune:0751 by 16:00 source policy
}

func ExampleAsOfRecorded() {
	h := history()
	g, err := projections.NewGaps(projections.Rules{})
	if err != nil {
		panic(err)
	}
	before := g.PathwayView(projections.AsOfRecorded(h, at(10)), at(10))
	after := g.PathwayView(h, at(13))
	fmt.Println("10:00 hospital stay:", before.Owner.Holder(events.HospitalStay), "gaps:", len(before.Gaps))
	fmt.Println("13:00 hospital stay:", after.Owner.Holder(events.HospitalStay) == "", "gaps:", after.Gaps[0].Kind)
	// Output:
	// 10:00 hospital stay: sor:6620000000001 gaps: 0
	// 13:00 hospital stay: true gaps: no-owner
}
