package alerts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

type call struct {
	method, path string
	as           http.Header
	body         string
}

func (c call) do(t *testing.T, base string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
	for k, v := range c.as {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

var operator = http.Header{"X-Test-Operator": {"1"}}

func TestWebhookEndpoints(t *testing.T) {
	store := openStore(t, engine.Config{})
	s := startService(t, store, Config{MaxWebhooks: 2})
	srv := api(t, s)
	hookURL := "http://127.0.0.1:9/hook"

	status, body := call{"POST", "/v1/webhooks", asOrg(aarhus), `{"url": "` + hookURL + `"}`}.do(t, srv.URL)
	if status != http.StatusCreated {
		t.Fatalf("register: got %d %s; want 201", status, body)
	}
	var created webhookCreated
	json.Unmarshal(body, &created)
	if created.Org != aarhus || created.URL != hookURL || !strings.HasPrefix(created.Secret, "whsec_") || created.ID == "" {
		t.Fatalf("register: got %+v; want aarhus' webhook with a whsec_ secret", created)
	}
	if _, err := rawStream(t, s).Consumer(context.Background(), consumerName(created.ID)); err != nil {
		t.Errorf("consumer of the webhook: %v", err)
	}
	raw, _, _ := s.hooks.Get(context.Background(), created.ID)
	if bytes.Contains(raw, []byte(created.Secret)) {
		t.Error("the bucket holds the secret in the clear")
	}

	tests := []struct {
		name string
		call call
		want int
		has  string
	}{
		{"the organisation lists its own, without the secret", call{"GET", "/v1/webhooks", asOrg(aarhus), ""}, 200, created.ID},
		{"another organisation does not see it", call{"GET", "/v1/webhooks", asOrg(odder), ""}, 200, `"webhooks": []`},
		{"the operator sees every organisation's", call{"GET", "/v1/webhooks", operator, ""}, 200, created.ID},
		{"the operator filters by org", call{"GET", "/v1/webhooks?org=kommune:0727", operator, ""}, 200, `"webhooks": []`},
		{"an organisation cannot list another's", call{"GET", "/v1/webhooks?org=kommune:0751", asOrg(odder), ""}, 403, "own"},
		{"another organisation cannot delete it", call{"DELETE", "/v1/webhooks/" + created.ID, asOrg(odder), ""}, 404, "no such webhook"},
		{"an organisation cannot register for another", call{"POST", "/v1/webhooks", asOrg(odder), `{"url": "` + hookURL + `", "org": "kommune:0751"}`}, 403, "itself"},
		{"the operator names the organisation", call{"POST", "/v1/webhooks", operator, `{"url": "` + hookURL + `"}`}, 422, "org"},
		{"plain http elsewhere than loopback", call{"POST", "/v1/webhooks", asOrg(aarhus), `{"url": "http://example.org/hook"}`}, 422, "https"},
		{"credentials in the url", call{"POST", "/v1/webhooks", asOrg(aarhus), `{"url": "https://u:p@example.org/hook"}`}, 422, "credentials"},
		{"not a url", call{"POST", "/v1/webhooks", asOrg(aarhus), `{"url": "hook"}`}, 422, "absolute"},
		{"unknown field", call{"POST", "/v1/webhooks", asOrg(aarhus), `{"uri": "https://example.org"}`}, 400, "url"},
		{"nobody", call{"GET", "/v1/webhooks", nil, ""}, 403, "operator"},
		{"the operator registers for an organisation", call{"POST", "/v1/webhooks", operator, `{"url": "https://example.org/hook", "org": "kommune:0751"}`}, 201, "whsec_"},
		{"at most MaxWebhooks per organisation", call{"POST", "/v1/webhooks", asOrg(aarhus), `{"url": "https://example.org/3"}`}, 409, "too many"},
		{"a bad stream request", call{"GET", "/v1/alerts/stream?kind=everything", asOrg(aarhus), ""}, 400, "kind"},
		{"a bad Last-Event-ID", call{"GET", "/v1/alerts/stream?last_event_id=x", asOrg(aarhus), ""}, 400, "Last-Event-ID"},
		{"the owner deletes it", call{"DELETE", "/v1/webhooks/" + created.ID, asOrg(aarhus), ""}, 204, ""},
		{"then it is gone", call{"DELETE", "/v1/webhooks/" + created.ID, asOrg(aarhus), ""}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := tt.call.do(t, srv.URL)
			if status != tt.want || !strings.Contains(string(body), tt.has) {
				t.Errorf("got %d %s; want %d with %q", status, body, tt.want, tt.has)
			}
			if strings.Contains(string(body), created.Secret) {
				t.Errorf("the secret is shown again: %s", body)
			}
		})
	}
	if _, err := rawStream(t, s).Consumer(context.Background(), consumerName(created.ID)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("consumer after delete: got %v; want not found", err)
	}
}

func TestWebhookURLs(t *testing.T) {
	store := openStore(t, engine.Config{})
	s, err := New(context.Background(), Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:8080/x", "https://localhost/x", "https://[::1]/x", "ftp://example.org/x"} {
		if _, _, err := s.Register(context.Background(), aarhus, u); err == nil {
			t.Errorf("register %s without AllowLoopback: got no error; want one", u)
		}
	}
	if _, _, err := s.Register(context.Background(), events.OrgID("nobody"), "https://example.org/x"); err == nil {
		t.Error("register for a malformed org: got no error; want one")
	}
	// A name that resolves to loopback is refused when dialled.
	req, _ := http.NewRequest(http.MethodPost, "http://localhost:9/x", nil)
	if _, err := s.client.Do(req); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("dial loopback: got %v; want not allowed", err)
	}
}

// TestWebhookSecretsOffThePseudonymSecret: a webhook secret an earlier
// release sealed under the pseudonym secret is re-sealed at start under
// the alert service's own key from the Vault (wrapped under the KEK), and
// still signs with the same secret; new secrets are sealed under that key
// only, so the pseudonym secret keys nothing but pseudonyms.
func TestWebhookSecretsOffThePseudonymSecret(t *testing.T) {
	store := openStore(t, engine.Config{})
	rc := newReceiver(t)
	first := startService(t, store, Config{})
	w, secret, err := first.Register(context.Background(), "kommune:0751", rc.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec, err := first.record(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if first.openWith(first.legacy, rec) == nil {
		t.Fatal("a new secret opens with the pseudonym secret's key; want the service key only")
	}
	// As an earlier release stored it: sealed under the pseudonym secret.
	nonce := make([]byte, first.legacy.NonceSize())
	rand.Read(nonce)
	rec.Secret = first.legacy.Seal(nonce, nonce, []byte(secret), []byte(w.ID))
	b, _ := json.Marshal(rec)
	if err := first.hooks.Put(ctx, w.ID, b); err != nil {
		t.Fatal(err)
	}

	second := startService(t, store, Config{})
	moved, err := second.record(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.openWith(second.legacy, moved) == nil || second.openWith(second.seal, moved) != nil {
		t.Error("after a start, the old record still opens with the pseudonym secret's key; want it re-sealed under the service key")
	}
	got, err := second.openSecret(moved)
	if err != nil || string(got) != secret {
		t.Errorf("secret after the move: %v; want the registered one", err)
	}
}
