package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReplacementCPRJoinedOverMLLP: a patient admitted at AUH under a
// national replacement CPR number, and admitted at Randers under her CPR
// number; then AUH's A47 says the replacement number is that CPR number.
// Over a real MLLP socket and stafetd's own alert service, the two
// pathways are joined by an event on each, naming the other, and every
// party of each pathway is alerted (patient-linked), without a CPR or
// replacement number in the alerts.
func TestReplacementCPRJoinedOverMLLP(t *testing.T) {
	svc, _ := startService(t, t.TempDir(), map[string]string{"STAFET_ORGANISATIONS": "testdata/organisations.json"})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)

	type alert struct {
		Kind    string `json:"kind"`
		Org     string `json:"org"`
		Pathway string `json:"pathway"`
		Link    *struct {
			Joined string `json:"joined"`
			Reason string `json:"reason"`
		} `json:"link"`
	}
	stream := alertStream(t, base, svc.admin)

	for _, f := range []string{"testdata/a01_replacement.hl7", "testdata/a01_cpr_randers.hl7", "testdata/a47_replacement_to_cpr.hl7"} {
		if code := sendMLLP(t, svc.mllpAddr.String(), f); code != "AA" {
			t.Fatalf("%s: got %s; want AA", f, code)
		}
	}

	// Every party of both pathways hears of it: the municipality on both,
	// each hospital on its own pathway, and AUH, which sent the A47, on
	// Randers' too, where its join is now recorded.
	got := map[string][]string{} // pathway → alerted organisations
	joined := map[string]string{}
	var lines []string
	deadline := time.After(30 * time.Second)
	for n := 0; n < 5; {
		select {
		case line := <-stream:
			lines = append(lines, line)
			var a alert
			if json.Unmarshal([]byte(line), &a) != nil || a.Kind != "patient-linked" {
				continue
			}
			n++
			got[a.Pathway] = append(got[a.Pathway], a.Org)
			if a.Link == nil || a.Link.Joined == "" || a.Link.Reason != "HL7 A47 change patient identifier list" {
				t.Fatalf("alert %+v; want the other pathway and the A47 named", a)
			}
			joined[a.Pathway] = a.Link.Joined
		case <-deadline:
			t.Fatalf("patient-linked alerts after 30 s: %v; want the parties of both pathways", got)
		}
	}
	var pathways []string
	for pw := range got {
		pathways = append(pathways, pw)
		slices.Sort(got[pw])
	}
	if joined[pathways[0]] != pathways[1] || joined[pathways[1]] != pathways[0] {
		t.Errorf("joined %v; want each pathway naming the other", joined)
	}
	want := map[string]bool{"kommune:0751,sor:100011000016001": true, "kommune:0751,sor:100011000016001,sor:100041000016004": true}
	for pw, orgs := range got {
		if !want[strings.Join(orgs, ",")] {
			t.Errorf("pathway %s: alerted %v; want the municipality and the hospitals of the pathway", pw, orgs)
		}
	}
	for _, line := range lines {
		if strings.Contains(line, "2509479989") || strings.Contains(line, "0703921VJ4") {
			t.Errorf("an alert names the patient: %s", line)
		}
	}

	// Each pathway's history holds the join.
	for _, pw := range pathways {
		var p struct {
			Timeline []struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"timeline"`
		}
		if code := apiJSON(t, "GET", base+"/v1/pathways/"+pw, svc.admin, nil, &p); code != 200 {
			t.Fatalf("GET pathway %s: %d", pw, code)
		}
		last := p.Timeline[len(p.Timeline)-1]
		if last.Type != "PatientIdentityLinked" || !strings.Contains(string(last.Data), joined[pw]) {
			t.Errorf("pathway %s ends with %s %s; want the join naming %s", pw, last.Type, last.Data, joined[pw])
		}
	}
}
