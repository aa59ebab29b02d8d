package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

const problems = "https://stafet.dk/problems/"

// cpr returns a valid, distinct CPR number for each n < 100.
func cpr(n int) string { return fmt.Sprintf("0101%02d4321", n) }

func TestCommands(t *testing.T) {
	e := newEnv(t)
	kommune, other := e.token(aarhus), e.token(odder)
	big := `{"reason": "` + strings.Repeat("x", 100<<10) + `"}`
	cases := []struct {
		name   string
		token  string
		path   string // {pw} is the case's own pathway
		body   any
		want   int
		ptype  string
		field  string
		rule   string
		line   int
		column int
	}{
		{name: "open", token: e.hosp, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "020304-1234", "name": "A"}, "municipality": aarhus}, want: 201},
		{name: "open for a patient with an open pathway", token: e.hosp, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "{cpr}"}, "municipality": aarhus}, want: 200},
		{name: "open with a bad CPR", token: e.hosp, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "3102001234"}}, want: 422, ptype: "invalid-field", field: "patient.cpr"},
		{name: "open in an unknown cluster", token: e.hosp, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "0203041235"}, "cluster": "atlantis"}, want: 422, ptype: "invalid-field", field: "cluster"},
		{name: "open with a wrong municipality", token: e.hosp, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "0203041236"}, "municipality": "kommune:75"}, want: 422, ptype: "invalid-field", field: "municipality"},
		{name: "the operator names the actor", token: adminToken, path: "/v1/pathways", body: map[string]any{"patient": map[string]string{"cpr": "0203041237"}}, want: 422, ptype: "invalid-field", field: "actor"},
		{name: "the operator acts for an organisation", token: adminToken, path: "/v1/pathways/{pw}/offers", body: map[string]any{"actor": hospital, "to": aarhus, "what": "home-nursing"}, want: 201},
		{name: "an organisation acts only as itself", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"actor": odder, "to": aarhus, "what": "home-nursing"}, want: 403, ptype: "forbidden"},
		{name: "offer", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"to": aarhus, "what": "home-nursing", "deadline": t0.Add(5 * time.Hour)}, want: 201},
		{name: "offer to oneself", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"to": hospital, "what": "home-nursing"}, want: 422, ptype: "invalid-field", field: "to"},
		{name: "offer an unknown responsibility", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"to": aarhus, "what": "gardening"}, want: 422, ptype: "invalid-field", field: "what"},
		{name: "offer with a bad deadline", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"to": aarhus, "what": "home-nursing", "deadline": "tomorrow"}, want: 422, ptype: "invalid-field", field: "deadline"},
		{name: "offer an id twice", token: e.hosp, path: "/v1/pathways/{pw}/offers", body: map[string]any{"offer": "home-care", "to": aarhus, "what": "home-nursing"}, want: 409, ptype: "rule", rule: "offer-id-unique"},
		{name: "accept", token: kommune, path: "/v1/pathways/{pw}/offers/home-care/accept", want: 201},
		{name: "accept another's offer", token: e.hosp, path: "/v1/pathways/{pw}/offers/home-care/accept", want: 409, ptype: "rule", rule: "only-addressee-answers"},
		{name: "accept an unknown offer", token: kommune, path: "/v1/pathways/{pw}/offers/nope/accept", want: 409, ptype: "rule", rule: "unknown-offer"},
		{name: "reject", token: kommune, path: "/v1/pathways/{pw}/offers/home-care/reject", body: map[string]any{"reason": "no capacity"}, want: 201},
		{name: "reject without a reason", token: kommune, path: "/v1/pathways/{pw}/offers/home-care/reject", body: map[string]any{}, want: 422, ptype: "invalid-field", field: "reason"},
		{name: "withdraw", token: e.hosp, path: "/v1/pathways/{pw}/offers/home-care/withdraw", want: 201},
		{name: "withdraw another's offer", token: kommune, path: "/v1/pathways/{pw}/offers/home-care/withdraw", want: 409, ptype: "rule", rule: "only-sender-withdraws"},
		{name: "release", token: e.hosp, path: "/v1/pathways/{pw}/release", body: map[string]any{"what": "hospital-stay"}, want: 201},
		{name: "release what one does not hold", token: kommune, path: "/v1/pathways/{pw}/release", body: map[string]any{"what": "home-care"}, want: 409, ptype: "rule", rule: "only-holder-releases"},
		{name: "send a document", token: e.hosp, path: "/v1/pathways/{pw}/documents", body: map[string]any{"kind": "discharge-letter", "to": aarhus}, want: 201},
		{name: "send a document of an unknown kind", token: e.hosp, path: "/v1/pathways/{pw}/documents", body: map[string]any{"kind": "postcard", "to": aarhus}, want: 422, ptype: "invalid-field", field: "kind"},
		{name: "acknowledge an unknown document", token: kommune, path: "/v1/pathways/{pw}/documents/nope/acknowledge", want: 409, ptype: "rule", rule: "unknown-document"},
		{name: "close", token: e.hosp, path: "/v1/pathways/{pw}/close", body: map[string]any{"reason": "done"}, want: 201},
		{name: "close without a reason", token: e.hosp, path: "/v1/pathways/{pw}/close", want: 422, ptype: "invalid-field", field: "reason"},
		{name: "any event", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "DischargeExpected", "data": map[string]any{"hospital": hospital, "expected": t0.Add(48 * time.Hour)}}, want: 201},
		{name: "an event of an unknown type", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "PatientTeleported", "data": map[string]any{}}, want: 422, ptype: "unknown-type", field: "type"},
		{name: "an event with a field of the wrong type", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "HandoffOffered", "data": map[string]any{"offer": 5}}, want: 422, ptype: "invalid-field", field: "data.offer"},
		{name: "an event with a missing field", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "LeaveStarted", "data": map[string]any{}}, want: 422, ptype: "invalid-field", field: "data.hospital"},
		{name: "an event against the rules", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "LeaveEnded", "data": map[string]any{"hospital": hospital}}, want: 409, ptype: "rule", rule: "not-on-leave"},
		{name: "an opening through the generic endpoint", token: e.hosp, path: "/v1/pathways/{pw}/events", body: map[string]any{"type": "PathwayOpened", "data": map[string]any{}}, want: 422, ptype: "invalid-field", field: "type"},
		{name: "an unknown pathway", token: e.hosp, path: "/v1/pathways/" + events.NewID().String() + "/close", body: map[string]any{"reason": "x"}, want: 404, ptype: "unknown-pathway"},
		{name: "a pathway id that is none", token: e.hosp, path: "/v1/pathways/xyz/close", body: map[string]any{"reason": "x"}, want: 400, ptype: "bad-parameter", field: "id"},
		{name: "another organisation's pathway", token: other, path: "/v1/pathways/{pw}/offers", body: map[string]any{"to": aarhus, "what": "home-nursing"}, want: 403, ptype: "forbidden", rule: events.RuleNotParty},
		{name: "malformed JSON", token: e.hosp, path: "/v1/pathways/{pw}/close", body: "{\n  \"reason\": ,\n}", want: 400, ptype: "malformed-json", line: 2, column: 13},
		{name: "an unknown field", token: e.hosp, path: "/v1/pathways/{pw}/close", body: `{"reasn": "done"}`, want: 400, ptype: "malformed-json", field: "reasn"},
		{name: "a field of the wrong JSON type", token: e.hosp, path: "/v1/pathways/{pw}/close", body: `{"reason": 42}`, want: 400, ptype: "malformed-json", field: "reason"},
		{name: "a body too large", token: e.hosp, path: "/v1/pathways/{pw}/close", body: big, want: 413, ptype: "too-large"},
		{name: "no token", path: "/v1/pathways/{pw}/close", body: map[string]any{"reason": "x"}, want: 401, ptype: "unauthenticated"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pw := e.admitted(cpr(i), aarhus, t0)
			path := strings.ReplaceAll(c.path, "{pw}", pw.String())
			body := c.body
			if m, ok := body.(map[string]any); ok {
				if p, ok := m["patient"].(map[string]string); ok && p["cpr"] == "{cpr}" {
					m["patient"] = map[string]string{"cpr": cpr(i)}
				}
			}
			res := e.do("POST", path, c.token, body)
			if res.status != c.want {
				t.Fatalf("status %d; want %d (%s)", res.status, c.want, res.body)
			}
			if c.want < 300 {
				var r result
				res.json(t, &r)
				if len(r.Seqs) == 0 && !r.Existing {
					t.Errorf("got no seqs: %s", res.body)
				}
				if c.want == http.StatusOK && (!r.Existing || r.Pathway != pw) {
					t.Errorf("got %+v; want the existing pathway %s", r, pw)
				}
				return
			}
			p := res.problem(t)
			if p.Type != problems+c.ptype || p.Status != c.want {
				t.Errorf("got problem %s %d; want %s %d", p.Type, p.Status, problems+c.ptype, c.want)
			}
			if p.Field != c.field || p.Rule != c.rule {
				t.Errorf("got field %q rule %q; want field %q rule %q (%s)", p.Field, p.Rule, c.field, c.rule, p.Detail)
			}
			if c.line != 0 && (p.Line != c.line || p.Column != c.column) {
				t.Errorf("got line %d column %d; want %d %d", p.Line, p.Column, c.line, c.column)
			}
		})
	}
}

func TestIdempotentResend(t *testing.T) {
	e := newEnv(t)
	pw := e.admitted(cpr(1), aarhus, t0)
	path := "/v1/pathways/" + pw.String() + "/documents"
	body := map[string]any{"kind": "discharge-letter", "to": aarhus}
	first := e.do("POST", path, e.hosp, body, "Idempotency-Key", "letter-1")
	if first.status != http.StatusCreated {
		t.Fatalf("first: status %d: %s", first.status, first.body)
	}
	var a result
	first.json(t, &a)
	again := e.do("POST", path, e.hosp, body, "Idempotency-Key", "letter-1")
	if again.status != http.StatusOK {
		t.Fatalf("resend: status %d; want 200: %s", again.status, again.body)
	}
	var b result
	again.json(t, &b)
	if !b.Duplicate || len(b.Seqs) != 1 || b.Seqs[0] != a.Seqs[0] {
		t.Errorf("resend: got %+v; want a duplicate of seq %v", b, a.Seqs)
	}
	other := e.do("POST", path, e.hosp, body, "Idempotency-Key", "letter-2")
	if other.status != http.StatusCreated {
		t.Errorf("another key: status %d; want 201", other.status)
	}
}

func TestOpenMeetsTheSamePatient(t *testing.T) {
	e := newEnv(t)
	first := e.command("POST", "/v1/pathways", e.hosp, map[string]any{"patient": map[string]string{"cpr": "0505501234", "name": "B"}, "municipality": aarhus})
	again := e.do("POST", "/v1/pathways", e.hosp, map[string]any{"patient": map[string]string{"cpr": "050550-1234"}})
	var r result
	again.json(t, &r)
	if again.status != http.StatusOK || !r.Existing || r.Pathway != first.Pathway {
		t.Errorf("second opening: status %d %+v; want 200 with the existing pathway %s", again.status, r, first.Pathway)
	}
	// An organisation not party to the pathway learns only that there is
	// one, and the attempt is recorded for the parties.
	res := e.do("POST", "/v1/pathways", e.token(odder), map[string]any{"patient": map[string]string{"cpr": "0505501234"}})
	if res.status != http.StatusForbidden {
		t.Fatalf("a stranger's opening: status %d; want 403", res.status)
	}
	log := e.accessLog(e.token(aarhus), "")
	if len(log) != 1 || log[0].What != "open-existing" || log[0].Reader != string(odder) || log[0].Allowed {
		t.Errorf("access log: got %+v; want the refused opening by %s", log, odder)
	}
}

// TestOpenAfterClose opens a pathway, closes it, and opens one for the
// same patient again: the second opening is a new pathway that names the
// first (PathwayOpened.previous), not the closed one answered as
// existing.
func TestOpenAfterClose(t *testing.T) {
	e := newEnv(t)
	open := map[string]any{"patient": map[string]string{"cpr": "0606601234", "name": "C"}, "municipality": aarhus}
	first := e.command("POST", "/v1/pathways", e.hosp, open)
	e.command("POST", "/v1/pathways/"+first.Pathway.String()+"/close", e.hosp, map[string]any{"reason": "done"})
	again := e.do("POST", "/v1/pathways", e.hosp, open)
	var r result
	again.json(t, &r)
	if again.status != http.StatusCreated || r.Existing || r.Pathway == first.Pathway {
		t.Fatalf("opening after the close: status %d %+v; want 201 with a new pathway", again.status, r)
	}
	h, err := e.store.Log().Load(context.Background(), r.Pathway)
	if err != nil || len(h) != 1 {
		t.Fatalf("new pathway: %d events, %v", len(h), err)
	}
	if got := h[0].Payload.(*events.PathwayOpened).Previous; got != first.Pathway {
		t.Errorf("previous: got %s; want %s", got, first.Pathway)
	}
}
