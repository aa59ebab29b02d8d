package httpapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

type receiptItem struct {
	RawSeq     uint64 `json:"raw_seq"`
	System     string `json:"system"`
	Sender     string `json:"sender"`
	ControlID  string `json:"control_id"`
	Answer     string `json:"answer"`
	Code       string `json:"code"`
	Org        string `json:"org"`
	Pathway    string `json:"pathway"`
	Dead       bool   `json:"dead"`
	ResolvedBy uint64 `json:"resolved_by"`
}

// messages lists the messages a token may see for a query.
func (e *env) messages(token, query string) []receiptItem {
	e.t.Helper()
	var out []receiptItem
	for next := "/v1/messages?limit=2&" + query; next != ""; {
		res := e.do("GET", next, token, nil)
		if res.status != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", next, res.status, res.body)
		}
		var page struct {
			Items []receiptItem `json:"items"`
			Next  string        `json:"next"`
		}
		res.json(e.t, &page)
		out = append(out, page.Items...)
		next = page.Next
	}
	return out
}

func rawSeqs(items []receiptItem) []uint64 {
	var out []uint64
	for _, i := range items {
		out = append(out, i.RawSeq)
	}
	return out
}

// waitMessages waits until the index holds n messages.
func (e *env) waitMessages(n int) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); e.receipts.Len() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("the message index holds %d messages; want %d", e.receipts.Len(), n)
		}
	}
}

// TestMessageBrowser searches inbound messages and dead letters as the
// dashboard's message browser does, shows one beside its translation
// (the read in the access log), reprocesses the dead letters after a
// mapping fix, and reads the channel counters; an organisation sees its
// own messages only.
func TestMessageBrowser(t *testing.T) {
	e := newEnv(t)
	herlevToken, aarhusToken := e.token(herlev), e.token(aarhus)
	fhirJSON := []string{"Content-Type", "application/fhir+json"}
	post := func(file string) uint64 {
		t.Helper()
		res := e.do("POST", "/v1/medcom", herlevToken, readCorpus(t, file), fhirJSON...)
		seq, err := strconv.ParseUint(res.header.Get("Stafet-Raw-Seq"), 10, 64)
		if err != nil {
			t.Fatalf("%s: no raw sequence (%d %s)", file, res.status, res.body)
		}
		return seq
	}
	stin := post("hn_touchstone_STIN_a5e5b880.json")
	dead := post("f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json") // not a STIN: the tests' translator refuses it
	junk := e.do("POST", "/v1/medcom", adminToken, "this is not FHIR", fhirJSON...).problem(t).RawSeq
	e.waitMessages(3)

	t.Run("search", func(t *testing.T) {
		for _, c := range []struct {
			name, token, query string
			want               []uint64
		}{
			{"everything, newest first", adminToken, "", []uint64{junk, dead, stin}},
			{"dead letters", adminToken, "status=dead", []uint64{junk, dead}},
			{"by error code", adminToken, "code=unknown-event", []uint64{dead}},
			{"by answer", adminToken, "answer=ar", []uint64{junk}},
			{"by sender", adminToken, "sender=265161000016000", []uint64{dead, stin}},
			{"by channel", adminToken, "channel=hl7v2", nil},
			{"by time", adminToken, "from=2020-01-01&to=2020-01-02", nil},
			{"the sender's own", herlevToken, "", []uint64{dead, stin}},
			{"another organisation's", aarhusToken, "", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := rawSeqs(e.messages(c.token, c.query)); !slices.Equal(got, c.want) {
					t.Errorf("got %v; want %v", got, c.want)
				}
			})
		}
		for _, q := range []string{"answer=OK", "status=lost", "from=monday", "pathway=x"} {
			if res := e.do("GET", "/v1/messages?"+q, adminToken, nil); res.status != http.StatusBadRequest {
				t.Errorf("GET /v1/messages?%s: status %d; want 400", q, res.status)
			}
		}
	})
	t.Run("one message beside its translation, the read logged", func(t *testing.T) {
		var m struct {
			Receipt    receiptItem `json:"receipt"`
			DeadLetter *struct {
				Code string `json:"code"`
			} `json:"dead_letter"`
			Raw struct {
				Body string `json:"body"`
			} `json:"raw"`
			Translation struct {
				OK     bool `json:"ok"`
				Events []struct {
					Type string `json:"type"`
				} `json:"events"`
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			} `json:"translation"`
		}
		path := "/v1/messages/" + strconv.FormatUint(dead, 10)
		e.do("GET", path, herlevToken, nil).json(t, &m)
		if !strings.Contains(m.Raw.Body, `"resourceType"`) || m.DeadLetter == nil || m.Translation.OK || m.Translation.Error == nil || m.Translation.Error.Code != "unknown-event" {
			t.Errorf("got %+v; want the body, the dead letter and the translation's error", m)
		}
		e.do("GET", "/v1/messages/"+strconv.FormatUint(stin, 10), adminToken, nil).json(t, &m)
		if !m.Translation.OK || len(m.Translation.Events) != 1 || m.Translation.Events[0].Type != "PatientAdmitted" || m.Receipt.Pathway == "" {
			t.Errorf("got %+v; want the admission and the pathway", m)
		}
		if res := e.do("GET", path, aarhusToken, nil); res.status != http.StatusForbidden {
			t.Errorf("another organisation: status %d; want 403", res.status)
		}
		if res := e.do("GET", "/v1/messages/9999", adminToken, nil); res.status != http.StatusNotFound {
			t.Errorf("no such message: status %d; want 404", res.status)
		}
		var reads []string
		for _, r := range e.accessLog(adminToken, "") {
			if strings.HasPrefix(r.What, "message/") {
				reads = append(reads, r.Reader+" "+r.What+" "+strconv.FormatBool(r.Allowed))
			}
		}
		want := []string{
			"sor:265161000016000 message/" + strconv.FormatUint(dead, 10) + " true",
			"operator message/" + strconv.FormatUint(stin, 10) + " true", // in the pathway's party's log
			"kommune:0751 message/" + strconv.FormatUint(dead, 10) + " false",
		}
		if !slices.Equal(reads, want) {
			t.Errorf("access log: %q; want %q", reads, want)
		}
	})
	t.Run("reprocess all that match after a mapping fix", func(t *testing.T) {
		if res := e.do("POST", "/v1/messages/reprocess", herlevToken, nil); res.status != http.StatusForbidden {
			t.Errorf("by an organisation: status %d; want 403", res.status)
		}
		e.fixed.Store(true)
		var out struct {
			Tried, Succeeded, Failed int
			Results                  []struct {
				RawSeq uint64 `json:"raw_seq"`
				OK     bool   `json:"ok"`
				Code   string `json:"code"`
			}
		}
		res := e.do("POST", "/v1/messages/reprocess?status=dead&channel=medcom", adminToken, nil)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		res.json(t, &out)
		// Oldest first: the refused notification goes through now; the
		// body that is no MedCom message fails again, as it must.
		if out.Tried != 2 || out.Succeeded != 1 || out.Failed != 1 || out.Results[0].RawSeq != dead || !out.Results[0].OK || out.Results[1].Code != "parse" {
			t.Errorf("got %+v; want the notification through and the junk refused again", out)
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			if got := rawSeqs(e.messages(adminToken, "status=dead")); slices.Equal(got, []uint64{junk}) {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("dead letters after the reprocessing: %v; want only %d", got, junk)
			}
		}
		var one struct {
			Tried int
		}
		e.do("POST", "/v1/messages/reprocess", adminToken, map[string]any{"seqs": []uint64{junk}}).json(t, &one)
		if one.Tried != 1 {
			t.Errorf("one by its sequence: tried %d; want 1", one.Tried)
		}
	})
	t.Run("counters per channel and sender", func(t *testing.T) {
		var page struct {
			Items []struct {
				Channel  string         `json:"channel"`
				Sender   string         `json:"sender"`
				Org      string         `json:"org"`
				Received int            `json:"received"`
				Answers  map[string]int `json:"answers"`
				Dead     int            `json:"dead_letters"`
				LastSeen time.Time      `json:"last_seen"`
			} `json:"items"`
		}
		e.do("GET", "/v1/channels", herlevToken, nil).json(t, &page)
		if len(page.Items) != 1 {
			t.Fatalf("the hospital's channels: %+v; want its one sender", page.Items)
		}
		c := page.Items[0]
		if c.Channel != "medcom" || c.Org != string(herlev) || c.Received != 2 || c.Answers["AA"] != 2 || c.Answers["AE"] != 1 || c.Dead != 0 || c.LastSeen.IsZero() {
			t.Errorf("got %+v; want 2 received, AA 2 (one after the fix), AE 1, no dead letter left", c)
		}
		e.do("GET", "/v1/channels", adminToken, nil).json(t, &page)
		if len(page.Items) != 2 {
			t.Errorf("the operator's channels: %+v; want the hospital's and the unreadable body's sender", page.Items)
		}
	})
}
