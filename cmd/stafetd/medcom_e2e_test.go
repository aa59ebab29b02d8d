package main

import (
	"bytes"
	"net/http"
	"os"
	"testing"

	"github.com/stafet/stafet/adapters/translate/medcom"
)

// TestReplacementCPRCareCommunicationOverHTTP: MedCom's own published
// CareCommunication whose patient has only a replacement CPR number
// (adapters/translate/medcom/testdata/SOURCES.md), posted to a running
// stafetd's MedCom endpoint as a sender would, is acknowledged ok and
// opens the patient's pathway; a CareCommunication in a VANS envelope is
// acknowledged ok too.
func TestReplacementCPRCareCommunicationOverHTTP(t *testing.T) {
	svc, _ := startService(t, t.TempDir(), map[string]string{"STAFET_ORGANISATIONS": "testdata/organisations.json"})
	base := "http://" + svc.httpAddr.String()
	waitReady(t, base)
	post := func(file, contentType string) (*http.Response, *medcom.Acknowledgement) {
		t.Helper()
		body, err := os.ReadFile("../../adapters/translate/medcom/testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", base+"/v1/medcom", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+svc.admin)
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		m, err := medcom.Parse(buf.Bytes())
		if err != nil || m.Acknowledgement == nil {
			t.Fatalf("%s: status %d, no acknowledgement (%v):\n%s", file, resp.StatusCode, err, buf.Bytes())
		}
		return resp, m.Acknowledgement
	}

	resp, ack := post("carecommunication/Bundle-R-Tek-CPR-3-4d9d90c5-5647-4b4a-8c61-770bc5c3e092.json", "application/fhir+json")
	if resp.StatusCode != http.StatusOK || ack.Code != "ok" {
		t.Fatalf("status %d, %+v; want 200 ok", resp.StatusCode, ack)
	}
	if resp.Header.Get("Stafet-Pathway") == "" {
		t.Error("no Stafet-Pathway: want the replacement number's pathway")
	}

	resp, ack = post("vans/VANS-CareCommunication-S-A-new-json.xml", "application/xml")
	if resp.StatusCode != http.StatusOK || ack.Code != "ok" {
		t.Fatalf("VANS envelope: status %d, %+v; want 200 ok", resp.StatusCode, ack)
	}
}
