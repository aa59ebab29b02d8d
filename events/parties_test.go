package events_test

import (
	"slices"
	"testing"

	"github.com/stafet/stafet/events"
)

func TestParties(t *testing.T) {
	hosp, other, muni, gp := events.SOR("1"), events.SOR("2"), events.Kommune("0751"), events.OrgID("yder:7")
	env := func(actor events.OrgID, p events.Payload) events.Envelope {
		return events.Envelope{ID: events.NewID(), Actor: events.Actor{Org: actor}, Payload: p}
	}
	opened := env("", &events.PathwayOpened{Municipality: muni, GP: gp})
	wrong := env(hosp, &events.PatientAdmitted{Hospital: other})
	cases := []struct {
		name    string
		history []events.Envelope
		want    []events.OrgID
	}{
		{"opening names municipality and GP", []events.Envelope{opened}, []events.OrgID{muni, gp}},
		{"actors and payload organisations", []events.Envelope{opened, env(hosp, &events.HandoffOffered{From: hosp, To: events.Kommune("0727")})},
			[]events.OrgID{events.Kommune("0727"), muni, hosp, gp}},
		{"an annulled event gives no access", []events.Envelope{opened, wrong, env(hosp, &events.Correction{Annuls: wrong.ID, Reason: "wrong hospital"})},
			[]events.OrgID{muni, hosp, gp}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := events.Parties(c.history); !slices.Equal(got, c.want) {
				t.Errorf("got %v; want %v", got, c.want)
			}
		})
	}
}
