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

// delivery is one request a subscriber's endpoint got.
type delivery struct {
	body      []byte
	sig, ts   string
	n         notification
	parsedErr error
}

// TestTopics subscribes a municipality to the overdue, gap-opened and
// gap-closed topics, with each payload content, makes an offer's
// deadline pass and then accepts it, and checks each subscription gets
// its notification, numbered from 1, with the focus its content asks
// for and a valid signature.
func TestTopics(t *testing.T) {
	e := newEnv(t)
	muni := e.token(aarhus)
	var mu sync.Mutex
	got := make(map[string][]delivery)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := parseNotification(body)
		mu.Lock()
		got[r.URL.Path] = append(got[r.URL.Path], delivery{body: body, sig: r.Header.Get(alerts.HeaderSignature), ts: r.Header.Get(alerts.HeaderTimestamp), n: n, parsedErr: err})
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)

	subs := []struct{ topic, content, path string }{
		{"handoff-overdue", "id-only", "/overdue"},
		{"gap-opened", "empty", "/opened"},
		{"gap-closed", "full-resource", "/closed"},
	}
	secrets := make(map[string]string)
	for _, s := range subs {
		res := e.do("POST", "/fhir/Subscription", muni, map[string]any{
			"resourceType": "Subscription", "status": "requested", "reason": "test", "criteria": "https://stafet.dk/fhir/SubscriptionTopic/" + s.topic,
			"channel": map[string]any{"type": "rest-hook", "endpoint": srv.URL + s.path, "payload": "application/fhir+json",
				"extension": []any{map[string]any{"url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content", "valueCode": s.content}}},
		})
		if res.status != http.StatusCreated {
			t.Fatalf("subscribe %s: %d %s", s.topic, res.status, res.body)
		}
		var sub struct {
			Channel struct {
				Extension []struct{ URL, ValueString string }
			}
		}
		res.json(t, &sub)
		secrets[s.path] = sub.Channel.Extension[0].ValueString
	}
	for _, c := range []struct {
		name string
		body map[string]any
		code string
	}{
		{"an unknown topic", map[string]any{"criteria": "https://stafet.dk/fhir/SubscriptionTopic/nope"}, "value"},
		{"a private address", map[string]any{"endpoint": "https://10.0.0.1/hook"}, "value"},
		{"a channel header", map[string]any{"header": []string{"Authorization: Bearer x"}}, "value"},
		{"an endpoint that refuses the handshake", map[string]any{"endpoint": srv.URL + "/refuse/" + strings.Repeat("x", 3)}, "value"},
	} {
		t.Run("refused: "+c.name, func(t *testing.T) {
			channel := map[string]any{"type": "rest-hook", "endpoint": srv.URL + "/ok"}
			body := map[string]any{"resourceType": "Subscription", "status": "requested", "reason": "test",
				"criteria": "https://stafet.dk/fhir/SubscriptionTopic/gap-opened", "channel": channel}
			for k, v := range c.body {
				if k == "criteria" {
					body[k] = v
				} else {
					channel[k] = v
				}
			}
			if c.name == "an endpoint that refuses the handshake" {
				refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
				defer refuse.Close()
				channel["endpoint"] = refuse.URL
			}
			res := e.do("POST", "/fhir/Subscription", muni, body)
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d; want 422 (%s)", res.status, res.body)
			}
			if code := res.outcome(t); code != c.code {
				t.Errorf("issue %q; want %q", code, c.code)
			}
		})
	}
	var list struct{ Entry []any }
	e.do("GET", "/fhir/Subscription", muni, nil).json(t, &list)
	if len(list.Entry) != 3 {
		t.Errorf("GET /fhir/Subscription: %d; want the 3 subscriptions, none of the refused", len(list.Entry))
	}

	pw := e.admitted("0101801234", aarhus, t0)
	var view struct {
		Deadlines []struct {
			Ref, Rule string
			At        time.Time
		}
	}
	e.do("GET", "/v1/pathways/"+pw.String(), adminToken, nil).json(t, &view)
	for _, d := range view.Deadlines {
		if d.Ref == "home-care" {
			e.command("/v1/pathways/"+pw.String()+"/events", adminToken, map[string]any{
				"actor": hospital, "type": "DeadlineElapsed", "occurred_at": d.At,
				"data": map[string]any{"ref": d.Ref, "rule": d.Rule, "deadline": d.At},
			})
		}
	}
	e.command("/v1/pathways/"+pw.String()+"/offers/home-care/accept", muni, map[string]any{"occurred_at": t0.Add(3 * time.Hour)})

	wait := func(path string) delivery {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			var events []delivery
			for _, d := range got[path] {
				if d.n.typ == "event-notification" {
					events = append(events, d)
				}
			}
			mu.Unlock()
			if len(events) > 0 {
				return events[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no notification in 60s", path)
			}
		}
	}
	for _, c := range []struct {
		path, focus string
		resources   int
	}{
		{"/overdue", "/fhir/Task/" + pw.String() + ".", 0},
		{"/opened", "", 0},
		{"/closed", "/fhir/EpisodeOfCare/" + pw.String() + ".kommune-0751", 1},
	} {
		t.Run("notified"+c.path, func(t *testing.T) {
			d := wait(c.path)
			if d.parsedErr != nil || d.n.number != "1" {
				t.Fatalf("notification %+v (%v); want event number 1", d.n, d.parsedErr)
			}
			if alerts.Sign([]byte(secrets[c.path]), d.ts, d.body) != d.sig {
				t.Errorf("signature does not check")
			}
			if (c.focus == "") != (d.n.focus == "") || !strings.Contains(d.n.focus, c.focus) || len(d.n.resources) != c.resources {
				t.Errorf("focus %q with %v; want %q and %d resources", d.n.focus, d.n.resources, c.focus, c.resources)
			}
		})
	}
	var status struct {
		Entry []struct {
			Resource struct {
				Parameter []struct{ Name, ValueString string }
			}
		}
	}
	var ids struct {
		Entry []struct{ Resource struct{ ID string } }
	}
	e.do("GET", "/fhir/Subscription", muni, nil).json(t, &ids)
	e.do("GET", "/fhir/Subscription/"+ids.Entry[0].Resource.ID+"/$status", muni, nil).json(t, &status)
	since := ""
	for _, p := range status.Entry[0].Resource.Parameter {
		if p.Name == "events-since-subscription-start" {
			since = p.ValueString
		}
	}
	if since != "1" {
		t.Errorf("$status events-since-subscription-start %q; want 1", since)
	}
	if res := e.do("GET", "/fhir/Subscription/"+ids.Entry[0].Resource.ID, e.token(odder), nil); res.status != http.StatusNotFound {
		t.Errorf("another organisation reads the subscription: %d; want 404", res.status)
	}
	if res := e.do("DELETE", "/fhir/Subscription/"+ids.Entry[0].Resource.ID, muni, nil); res.status != http.StatusNoContent {
		t.Errorf("delete: %d; want 204", res.status)
	}
	mu.Lock()
	var bodies []json.RawMessage
	for _, ds := range got {
		for _, d := range ds {
			bodies = append(bodies, d.body)
		}
	}
	mu.Unlock()
	e.validate(bodies...)
}
