package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// A pathway's state is a fold of its history; Decide checks each command
// against it and returns the events to append.
func ExampleDecide() {
	pathway := uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa01")
	hospital, municipality := events.SOR("6620000000001"), events.Kommune("0751")
	at := time.Date(2025, 3, 10, 8, 15, 0, 0, time.UTC)

	var history []events.Envelope
	run := func(actor events.OrgID, ps ...events.Payload) error {
		evs, err := events.Decide(events.Fold(history), events.Command{
			Pathway: pathway, Actor: events.Actor{Org: actor}, OccurredAt: at, Payloads: ps,
		})
		if err != nil {
			return err
		}
		history = append(history, evs...) // the engine appends them to the log here
		for _, e := range evs {
			fmt.Println("appended", e.Type)
		}
		return nil
	}

	ps, _ := events.NewPseudonymizer([]byte("a deployment secret of 32+ bytes!"))
	patient, _ := ps.Ref("2509479989")
	_ = run(hospital,
		&events.PathwayOpened{Patient: patient, Cluster: "aarhus", Municipality: municipality},
		&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient},
		&events.HandoffOffered{Offer: "offer-1", From: hospital, To: municipality, What: events.HomeCare},
	)

	// Only the addressee answers an offer; an organisation that is not
	// party to the pathway may say nothing on it but start its own care.
	var rule *events.RuleError
	for _, by := range []events.OrgID{hospital, events.Kommune("0730")} {
		if err := run(by, &events.HandoffAccepted{Offer: "offer-1", By: by}); errors.As(err, &rule) {
			fmt.Println("refused:", rule.Rule)
		}
	}
	_ = run(municipality, &events.HandoffAccepted{Offer: "offer-1", By: municipality})

	// A discharge with no accepted receiver would be allowed too: that is a
	// gap for the projections to show, not an error.
	_ = run(hospital, &events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: municipality})

	p := events.Fold(history)
	fmt.Println("home care:", p.Holder(events.HomeCare), "admitted:", p.Admitted())
	// Output:
	// appended PathwayOpened
	// appended PatientAdmitted
	// appended HandoffOffered
	// refused: only-addressee-answers
	// refused: not-party
	// appended HandoffAccepted
	// appended PatientDischarged
	// home care: kommune:0751 admitted: false
}

// A Correction annuls an earlier event; Fold then skips it, as if it had
// never been (MedCom AN_SLHJ, HL7 A13 cancel discharge).
func ExampleFold() {
	pathway := uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa01")
	hospital := events.SOR("6620000000001")
	at := time.Date(2025, 3, 10, 8, 15, 0, 0, time.UTC)
	decide := func(h []events.Envelope, p events.Payload) []events.Envelope {
		evs, err := events.Decide(events.Fold(h), events.Command{Pathway: pathway, OccurredAt: at, Payloads: []events.Payload{p}})
		if err != nil {
			panic(err)
		}
		return append(h, evs...)
	}
	ps, _ := events.NewPseudonymizer([]byte("a deployment secret of 32+ bytes!"))
	patient, _ := ps.Ref("2509479989")

	h := decide(nil, &events.PathwayOpened{Patient: patient, Cluster: "aarhus"})
	h = decide(h, &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient})
	h = decide(h, &events.PatientDischarged{Hospital: hospital, Destination: events.DestHome})
	fmt.Println("after discharge, admitted:", events.Fold(h).Admitted())

	h = decide(h, &events.Correction{Annuls: h[2].ID, Reason: "AN_SLHJ"})
	fmt.Println("after the correction, admitted:", events.Fold(h).Admitted(), "events:", len(h))
	// Output:
	// after discharge, admitted: false
	// after the correction, admitted: true events: 4
}

// The codec stores an envelope as one JSON object with the payload under
// "data", and decodes it back at the current schema version.
func ExampleCodec() {
	c := events.NewCodec()
	e := events.Envelope{
		ID:         uuid.MustParse("01957f2a-6c00-7000-8000-000000000001"),
		Pathway:    uuid.MustParse("01957f2a-6c00-7000-8000-00000000aa01"),
		OccurredAt: time.Date(2025, 3, 10, 9, 15, 0, 0, time.FixedZone("CET", 3600)),
		Source:     events.Source{System: "hl7v2", Org: events.SOR("6620000000001"), MessageID: "MSG00001"},
		Payload:    &events.LeaveStarted{Hospital: events.SOR("6620000000001")},
	}
	b, err := c.Encode(&e)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))

	back, err := c.Decode(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(back.Type, back.Schema, back.OccurredAt, back.Payload.(*events.LeaveStarted).Hospital)
	// Output:
	// {"id":"01957f2a-6c00-7000-8000-000000000001","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"LeaveStarted","schema":1,"occurred_at":"2025-03-10T08:15:00Z","source":{"system":"hl7v2","org":"sor:6620000000001","message_id":"MSG00001"},"data":{"hospital":"sor:6620000000001"}}
	// LeaveStarted 1 2025-03-10 08:15:00 +0000 UTC sor:6620000000001
}

// Stored events are never rewritten. When a payload's shape changes, the
// codec gets an upcaster from the old version to the new one, and old
// events are upcast as they are read.
func ExampleCodec_Upcast() {
	c := events.NewCodec()
	// Imagine PathwayClosed version 1 called its reason "why".
	c.Upcast(events.TypePathwayClosed, 1, func(data json.RawMessage) (json.RawMessage, error) {
		var v1 struct {
			Why string `json:"why"`
		}
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(&events.PathwayClosed{Reason: v1.Why})
	})
	stored := `{"id":"01957f2a-6c00-7000-8000-000000000001","pathway":"01957f2a-6c00-7000-8000-00000000aa01",` +
		`"type":"PathwayClosed","schema":1,"occurred_at":"2025-03-10T08:15:00Z","data":{"why":"done"}}`
	e, err := c.Decode([]byte(stored))
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Schema, e.Payload.(*events.PathwayClosed).Reason)

	_, err = events.NewCodec().Decode([]byte(`{"type":"PathwayClosed","schema":3,"data":{}}`))
	fmt.Println(errors.Is(err, events.ErrFutureSchema))
	// Output:
	// 2 done
	// true
}
