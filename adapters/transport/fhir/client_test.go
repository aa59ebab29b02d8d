package fhir_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/alerts"
)

// receiver is a subscriber's rest-hook endpoint on 127.0.0.1: it keeps
// every notification whose signature checks.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret []byte
	got    []notification
	bodies []json.RawMessage
	bad    int
}

// notification is what the test reads of a notification bundle.
type notification struct {
	typ, number, since, focus string
	resources                 []string // resourceType/id of the entries after the status
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		// The handshake comes before the test knows the secret: its
		// signature is checked once the secret is known (check).
		rc.bodies = append(rc.bodies, body)
		n, err := parseNotification(body)
		if err != nil || r.Header.Get("Content-Type") != "application/fhir+json" {
			rc.bad++
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if rc.secret != nil && alerts.Sign(rc.secret, r.Header.Get(alerts.HeaderTimestamp), body) != r.Header.Get(alerts.HeaderSignature) {
			rc.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.got = append(rc.got, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func parseNotification(body []byte) (notification, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return notification{}, err
	}
	var n notification
	if len(b.Entry) == 0 {
		return n, io.ErrUnexpectedEOF
	}
	var status struct {
		Parameter []struct {
			Name        string `json:"name"`
			ValueCode   string `json:"valueCode"`
			ValueString string `json:"valueString"`
			Part        []struct {
				Name           string `json:"name"`
				ValueString    string `json:"valueString"`
				ValueReference struct {
					Reference string `json:"reference"`
				} `json:"valueReference"`
			} `json:"part"`
		} `json:"parameter"`
	}
	json.Unmarshal(b.Entry[0].Resource, &status)
	for _, p := range status.Parameter {
		switch p.Name {
		case "type":
			n.typ = p.ValueCode
		case "events-since-subscription-start":
			n.since = p.ValueString
		case "notification-event":
			for _, part := range p.Part {
				switch part.Name {
				case "event-number":
					n.number = part.ValueString
				case "focus":
					n.focus = part.ValueReference.Reference
				}
			}
		}
	}
	for _, e := range b.Entry[1:] {
		var r struct{ ResourceType, ID string }
		json.Unmarshal(e.Resource, &r)
		n.resources = append(n.resources, r.ResourceType+"/"+r.ID)
	}
	return n, nil
}

func (rc *receiver) events() []notification {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []notification
	for _, n := range rc.got {
		if n.typ == "event-notification" {
			out = append(out, n)
		}
	}
	return out
}

// TestFHIRClient is the facade's end-to-end test with a real FHIR client
// (fhir-kit-client): a municipality subscribes to handoff offers with a
// rest-hook on 127.0.0.1, the hospital offers it handoffs through the
// JSON API, the notifications arrive signed and numbered, the client
// searches the municipality's requested Tasks across pages and accepts
// one by update with If-Match, and the JSON API sees the acceptance.
// Everything the facade sent validates against FHIR R4.
func TestFHIRClient(t *testing.T) {
	needNode(t)
	e := newEnv(t)
	muni := e.token(aarhus)
	rc := newReceiver(t)

	out, err := node(t, "client.mjs", "subscribe", e.srv.URL+"/fhir", muni, rc.srv.URL+"/notify", "https://stafet.dk/fhir/SubscriptionTopic/handoff-offered")
	if err != nil {
		t.Fatalf("subscribe: %s\n%v", out, err)
	}
	var sub struct {
		FhirVersion, ID, Status, Secret string
	}
	json.Unmarshal(out, &sub)
	if sub.FhirVersion != "4.0.1" || sub.Status != "active" || sub.Secret == "" {
		t.Fatalf("subscribe: %s; want FHIR 4.0.1, an active subscription and its secret", out)
	}
	rc.mu.Lock()
	rc.secret = []byte(sub.Secret)
	if len(rc.got) != 1 || rc.got[0].typ != "handshake" {
		t.Errorf("got %+v before any event; want the handshake", rc.got)
	}
	rc.mu.Unlock()

	p1 := e.admitted("0101801234", aarhus, t0)
	e.admitted("0202801234", aarhus, t0.Add(time.Minute))
	e.admitted("0303801234", odder, t0.Add(2*time.Minute)) // not Aarhus's

	var got []notification
	for deadline := time.Now().Add(60 * time.Second); len(got) < 4; got = rc.events() {
		if time.Now().After(deadline) {
			t.Fatalf("got %d notifications in 60s; want 4 (offers to Aarhus)", len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, n := range got {
		want := string(rune('1' + i))
		if n.number != want || n.since != want {
			t.Errorf("notification %d: event-number %q, events-since-start %q; want %s", i, n.number, n.since, want)
		}
		if !strings.Contains(n.focus, "/fhir/Task/") || len(n.resources) != 1 || !strings.HasSuffix(n.focus, n.resources[0]) {
			t.Errorf("notification %d: focus %q with %v; want the Task and the Task itself (full-resource)", i, n.focus, n.resources)
		}
	}
	if rc.bad != 0 {
		t.Errorf("%d notifications were not signed FHIR JSON bundles", rc.bad)
	}

	out, err = node(t, "client.mjs", "accept", e.srv.URL+"/fhir", muni, aarhus.Token())
	if err != nil {
		t.Fatalf("accept: %s\n%v", out, err)
	}
	var acc struct {
		IDs      []string `json:"ids"`
		Accepted string   `json:"accepted"`
		Status   string   `json:"status"`
		Version  string   `json:"version"`
		Before   string   `json:"before"`
	}
	json.Unmarshal(out, &acc)
	if len(acc.IDs) != 4 || acc.Status != "accepted" || acc.Version == acc.Before {
		t.Fatalf("accept: %s; want Aarhus's 4 requested Tasks over pages of 2, the first accepted in a new version", out)
	}
	if !strings.HasPrefix(acc.Accepted, p1.String()+".") {
		t.Errorf("accepted %s; want a Task of the first pathway %s (oldest first)", acc.Accepted, p1)
	}
	res := e.do("GET", "/v1/pathways/"+p1.String(), muni, nil)
	var pw struct {
		Owner struct {
			Holders []struct{ What, Org string }
		}
	}
	res.json(t, &pw)
	held := false
	for _, h := range pw.Owner.Holders {
		held = held || h.Org == string(aarhus)
	}
	if !held {
		t.Errorf("JSON API holders %+v; want Aarhus holding what it accepted through FHIR", pw.Owner.Holders)
	}
	rc.mu.Lock()
	bodies := rc.bodies
	rc.mu.Unlock()
	e.validate(bodies...)
}
