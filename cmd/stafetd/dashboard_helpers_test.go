package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/simulator"
)

// unknownSOR is a SOR code no directory knows.
const unknownSOR = "991001999999999"

// deadHL7 is an admission from the simulator whose hospital's SOR code is
// replaced by one the directory does not know: a dead letter. It returns
// the message and the SOR code that fixes it.
func deadHL7(t *testing.T) (body []byte, facility string) {
	t.Helper()
	m, err := simulator.NewModel(uint64(time.Now().UnixNano()), simulator.ModelOptions{Start: time.Now(), RunID: "dashboard-dead"})
	if err != nil {
		t.Fatal(err)
	}
	for range 100000 {
		s := m.Next()
		if s.Channel != simulator.HL7 || s.Kind != "A01" {
			continue
		}
		msg, err := hl7v2.Parse(s.Body)
		if err != nil {
			t.Fatal(err)
		}
		facility = msg.Get("MSH-4")
		return bytes.ReplaceAll(s.Body, []byte(facility), []byte(unknownSOR)), facility
	}
	t.Fatal("the simulator made no HL7 admission")
	return nil, ""
}
