package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

const corpus = "../../translate/medcom/testdata/hospitalnotification/"

func readCorpus(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(corpus + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ack reads a MedCom Acknowledgement answer.
func ack(t *testing.T, res response) *medcom.Acknowledgement {
	t.Helper()
	if ct := res.header.Get("Content-Type"); ct != "application/fhir+json" {
		t.Fatalf("content type %q; want application/fhir+json (%s)", ct, res.body)
	}
	m, err := medcom.Parse(res.body)
	if err != nil {
		t.Fatalf("the answer is no MedCom message: %v\n%s", err, res.body)
	}
	if m.Kind != medcom.KindAcknowledgement || m.Acknowledgement == nil {
		t.Fatalf("the answer is a %s; want an acknowledgement", m.Kind)
	}
	return m.Acknowledgement
}

func TestMedCom(t *testing.T) {
	e := newEnv(t)
	stin := readCorpus(t, "hn_touchstone_STIN_a5e5b880.json")
	const header = "b9b4818e-02de-4cc4-b418-d20cbc7b5404" // MessageHeader.id of the STIN
	fhirJSON := []string{"Content-Type", "application/fhir+json"}
	herlevToken := e.token(herlev)

	t.Run("a STIN is acknowledged ok", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", herlevToken, stin, fhirJSON...)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		a := ack(t, res)
		if a.Code != "ok" || a.ResponseTo != header {
			t.Errorf("got %s for %s; want ok for %s", a.Code, a.ResponseTo, header)
		}
		pw := res.header.Get("Stafet-Pathway")
		p := e.read("/v1/pathways/"+pw, herlevToken)
		if p.Cluster != "midt-hovedstaden" || len(p.Timeline) != 2 || p.Timeline[1].Type != events.TypePatientAdmitted {
			t.Errorf("pathway: got cluster %s, %+v; want midt-hovedstaden, opened and admitted", p.Cluster, p.Timeline)
		}
	})
	t.Run("a resend gets the same answer, and nothing is appended twice", func(t *testing.T) {
		before, _ := e.store.Log().LastSeq(t.Context())
		for _, c := range []struct{ file, ct string }{
			{"hn_touchstone_STIN_a5e5b880.json", "application/fhir+json"},
			{"hn_touchstone_STIN_a5e5b880.xml", "application/fhir+xml"},
		} {
			res := e.do("POST", "/v1/medcom", adminToken, readCorpus(t, c.file), "Content-Type", c.ct)
			if a := ack(t, res); res.status != http.StatusOK || a.Code != "ok" {
				t.Errorf("%s: status %d %s; want 200 ok", c.file, res.status, a.Code)
			}
		}
		if after, _ := e.store.Log().LastSeq(t.Context()); after != before {
			t.Errorf("log grew from %d to %d; want no new events", before, after)
		}
	})
	t.Run("only the sender's own token", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", e.token(aarhus), stin, fhirJSON...)
		if p := res.problem(t); res.status != http.StatusForbidden || p.Code != events.CodeNotSender || p.RawSeq == 0 {
			t.Errorf("status %d, %+v; want 403 not-sender, stored", res.status, p)
		}
	})
	t.Run("an invalid message is acknowledged fatal-error and kept", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", herlevToken, readCorpus(t, "f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"), fhirJSON...)
		a := ack(t, res)
		if res.status != http.StatusUnprocessableEntity || a.Code != "fatal-error" || len(a.Issues) == 0 || a.Issues[0].Text == "" {
			t.Errorf("status %d, %+v; want 422 fatal-error with a reason", res.status, a)
		}
		seq := res.header.Get("Stafet-Raw-Seq")
		if got := e.do("GET", "/v1/dead-letters/"+seq, adminToken, nil); got.status != http.StatusOK {
			t.Errorf("dead letter %s: status %d", seq, got.status)
		}
	})
	t.Run("a body that is no MedCom message is stored raw and dead-lettered", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", herlevToken, "this is not FHIR", fhirJSON...)
		p := res.problem(t)
		if res.status != http.StatusUnprocessableEntity || p.Type != problems+"invalid-message" || p.RawSeq == 0 {
			t.Fatalf("got %d %+v; want 422 invalid-message with the raw sequence", res.status, p)
		}
		var list struct {
			Items []struct {
				RawSeq uint64 `json:"raw_seq"`
				Code   string `json:"code"`
			} `json:"items"`
		}
		e.do("GET", "/v1/dead-letters", adminToken, nil).json(t, &list)
		if n := len(list.Items); n != 3 || list.Items[0].Code != events.CodeNotSender || list.Items[2].RawSeq != p.RawSeq || list.Items[2].Code != "parse" {
			t.Errorf("dead letters: got %+v; want the forgery (not-sender), the SLHJ and this one (parse)", list.Items)
		}
		var d struct {
			RawSeq uint64 `json:"raw_seq"`
			Raw    struct {
				System string `json:"system"`
				Body   string `json:"body"`
			} `json:"raw"`
		}
		path := "/v1/dead-letters/" + strconv.FormatUint(p.RawSeq, 10)
		e.do("GET", path, adminToken, nil).json(t, &d)
		if d.Raw.System != "medcom" || d.Raw.Body != "this is not FHIR" {
			t.Errorf("dead letter: got %+v; want the raw body", d)
		}
		log := e.accessLog(adminToken, "reader=operator")
		if len(log) == 0 || log[len(log)-1].What != "dead-letter/"+strconv.FormatUint(p.RawSeq, 10) {
			t.Errorf("access log: got %+v; want the read of the raw body", log)
		}

		again := e.do("POST", path+"/replay", adminToken, nil)
		if p2 := again.problem(t); again.status != http.StatusUnprocessableEntity || p2.RawSeq != p.RawSeq {
			t.Errorf("replay as is: got %d %+v; want 422 again", again.status, p2)
		}
		fixed := e.do("POST", path+"/replay", adminToken, readCorpus(t, "n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json"))
		if fixed.status != http.StatusOK {
			t.Fatalf("replay with a corrected body: status %d: %s", fixed.status, fixed.body)
		}
		var r struct {
			Seqs []uint64 `json:"seqs"`
		}
		fixed.json(t, &r)
		if len(r.Seqs) != 1 {
			t.Errorf("replay appended %v; want one admission", r.Seqs)
		}
		if res := e.do("GET", path, adminToken, nil); res.status != http.StatusNotFound {
			t.Errorf("dead letter after the replay: status %d; want 404", res.status)
		}
		if res := e.do("POST", path+"/replay", adminToken, nil); res.status != http.StatusNotFound {
			t.Errorf("replay again: status %d; want 404", res.status)
		}
	})
	t.Run("media types", func(t *testing.T) {
		res := e.do("POST", "/v1/medcom", herlevToken, stin, "Content-Type", "text/plain")
		if p := res.problem(t); res.status != http.StatusUnsupportedMediaType || p.Field != "Content-Type" {
			t.Errorf("got %d %+v; want 415 on Content-Type", res.status, p)
		}
	})
	t.Run("dead letters page", func(t *testing.T) {
		res := e.do("GET", "/v1/dead-letters?limit=2", adminToken, nil)
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		res.json(t, &page)
		if len(page.Items) != 2 || page.Next != "" {
			t.Errorf("got %d items, next %q; want the two dead letters left (the forgery, the SLHJ) on one page", len(page.Items), page.Next)
		}
	})
}

func TestRebuild(t *testing.T) {
	e := newEnv(t)
	e.admitted(cpr(1), aarhus, t0)
	e.admitted(cpr(2), odder, t0)
	if res := e.do("POST", "/v1/admin/rebuild", e.hosp, nil); res.status != http.StatusForbidden {
		t.Errorf("by an organisation: status %d; want 403", res.status)
	}
	res := e.do("POST", "/v1/admin/rebuild", adminToken, nil)
	if res.status != http.StatusOK || res.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, %s: %s", res.status, res.header.Get("Content-Type"), res.body)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(res.body))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	last := lines[len(lines)-1]
	if lines[0]["type"] != "progress" || last["type"] != "report" || last["same"] != true || last["events"] != float64(e.host.Applied()) {
		t.Errorf("got %v; want progress, then a report of %d events, the same state", lines, e.host.Applied())
	}
}
