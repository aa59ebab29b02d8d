package hl7v2_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/events"
)

func ExampleTranslator_Translate() {
	// The operator's organisations file names the hospital by its SOR code
	// and by the name its PAS puts in MSH-4 and PV1-3.4.
	dir, err := events.NewDirectory(strings.NewReader(`{"organisations": [
		{"id": "sor:100011000016001", "kind": "hospital", "name": "Aarhus Universitetshospital",
		 "region": "Midtjylland", "clusters": ["aarhus"], "aliases": ["AUH"]}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	tr := hl7v2.NewTranslator(dir, cph)

	for _, msg := range []string{
		"MSH|^~\\&|EPJ|AUH|STAFET|STAFET|20260302081502||ADT^A03^ADT_A03|AUH0010|P|2.5\r" +
			"EVN|A03|20260305111500||||20260305110000\r" +
			"PID|1||0102030405^^^CPR^NNDNK||Jensen^Søren\r" +
			"PV1|1|I|KARD^S12^3^AUH||||||||||||||||1000123|||||||||||||||||06|0751\r",
		"MSH|^~\\&|EPJ|AUH|STAFET|STAFET|20260302081502||ADT^Z31^ADT_A05|AUH0011|P|2.5\r",
	} {
		got, err := tr.Translate([]byte(msg))
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		d := got.Payloads[0].(*events.PatientDischarged)
		fmt.Println(got.Episode, got.OccurredAt.UTC().Format(time.RFC3339))
		fmt.Println(d.Type(), d.Hospital, d.Destination, d.To)
	}
	// Output:
	// sor:100011000016001/1000123 2026-03-05T10:00:00Z
	// PatientDischarged sor:100011000016001 home-with-municipal-services kommune:0751
	// error: message: MSH-9: trigger event Z31 is not one Stafet maps (docs/adapters.md) (unknown-trigger)
}
