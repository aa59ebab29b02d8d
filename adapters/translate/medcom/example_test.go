package medcom_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/stafet/stafet/adapters/translate/medcom"
)

func ExampleParse() {
	raw, err := os.ReadFile("testdata/hospitalnotification/d3128d9b-cede-4c7f-8904-809eab322d7d.json")
	if err != nil {
		log.Fatal(err)
	}
	m, err := medcom.Parse(raw)
	if err != nil {
		log.Fatal(err)
	}
	code, err := m.NotificationCode()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Kind, code)
	fmt.Println("from", m.Sender.SOR, "to", m.Receiver.SOR)
	fmt.Println("stay", m.Encounter.StayID.Value, "on leave since", m.Encounter.Leave.Start.Format(time.RFC3339))
	// Output:
	// hospital-notification-message STOR
	// from 265161000016000 to 953741000016009
	// stay bd481c38-a921-11ed-afa1-0242ac120002 on leave since 2022-12-13T14:00:10+02:00
}

func ExampleAcknowledge() {
	raw, err := os.ReadFile("testdata/hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json")
	if err != nil {
		log.Fatal(err)
	}
	m, err := medcom.Parse(raw)
	if err != nil {
		log.Fatal(err)
	}
	ids := []string{
		"4e6c3c5e-6c1b-4f0e-9a51-2f0c5b7d9a01", // Bundle
		"4e6c3c5e-6c1b-4f0e-9a51-2f0c5b7d9a02", // MessageHeader
		"4e6c3c5e-6c1b-4f0e-9a51-2f0c5b7d9a03", // Provenance
	}
	newID := func() string {
		id := ids[0]
		ids = ids[1:]
		return id
	}
	now := time.Date(2022, 12, 7, 12, 0, 30, 0, time.UTC)
	ack, err := medcom.Acknowledge(m, "ok", "", now, newID)
	if err != nil {
		log.Fatal(err)
	}
	a, err := medcom.Parse(ack)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(a.Kind, a.Acknowledgement.Code, "for", a.Acknowledgement.ResponseTo)
	fmt.Println("to", a.Receiver.Endpoint)
	// Output:
	// acknowledgement-message ok for b9b4818e-02de-4cc4-b418-d20cbc7b5404
	// to https://sor2.sum.dsdn.dk/#id=265161000016000
}
