package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// TestCareRelationshipsOverTheAPI: the care relationship rule through the
// JSON API, the same rule the intake applies to MLLP and MedCom (engine
// tests and the end-to-end test): a non-party's death, discharge or
// opening is refused, its admission to itself joins the pathway, is in
// the access log and alerts the parties; the identity is shown to a
// current or recent care relationship, and otherwise only by breaking
// the glass with a reason, which alerts the parties.
func TestCareRelationshipsOverTheAPI(t *testing.T) {
	e := newEnv(t)
	kommune, herlevTok := e.token(aarhus), e.token(herlev)
	pw := e.admitted("2509479989", aarhus, t0)
	path := "/v1/pathways/" + pw.String()
	event := func(token string, typ events.Type, at time.Time, data map[string]any) response {
		return e.do("POST", path+"/events", token, map[string]any{"type": typ, "occurred_at": at, "data": data})
	}
	refusals := []struct {
		name string
		typ  events.Type
		data map[string]any
	}{
		{"a non-party's death", events.TypePatientDied, map[string]any{"place": herlev}},
		{"a non-party's discharge of the stay", events.TypePatientDischarged, map[string]any{"hospital": hospital, "destination": "home"}},
		{"a non-party's leave", events.TypeLeaveStarted, map[string]any{"hospital": hospital}},
		{"a non-party's offer", events.TypeHandoffOffered, map[string]any{"offer": "x", "from": herlev, "to": odder, "what": "home-care"}},
	}
	for _, c := range refusals {
		t.Run(c.name+" is refused", func(t *testing.T) {
			res := event(herlevTok, c.typ, t0.Add(2*time.Hour), c.data)
			if p := res.problem(t); res.status != http.StatusForbidden || p.Rule != events.RuleNotParty {
				t.Errorf("got %d %s rule %q; want 403 rule %s", res.status, p.Type, p.Rule, events.RuleNotParty)
			}
		})
	}
	t.Run("nothing of them is on the pathway", func(t *testing.T) {
		if got := len(e.read(path, kommune).Timeline); got != 3 {
			t.Errorf("timeline: %d events; want the 3 the parties sent", got)
		}
	})
	t.Run("a non-party cannot open its way in", func(t *testing.T) {
		res := e.do("POST", "/v1/pathways", herlevTok, map[string]any{"patient": map[string]string{"cpr": "2509479989"}})
		if p := res.problem(t); res.status != http.StatusForbidden || p.Rule != events.RuleNotParty {
			t.Errorf("got %d rule %q; want 403 rule %s", res.status, p.Rule, events.RuleNotParty)
		}
	})

	joinedAt := t0.Add(3 * time.Hour)
	t.Run("a non-party's admission to itself joins the pathway", func(t *testing.T) {
		res := event(herlevTok, events.TypePatientAdmitted, joinedAt, map[string]any{"hospital": herlev, "class": "inpatient"})
		if res.status != http.StatusCreated {
			t.Fatalf("status %d: %s; want 201", res.status, res.body)
		}
		var r result
		res.json(t, &r)
		e.waitApplied(r.Seqs[0])
		p := e.read(path, herlevTok)
		if last := p.Timeline[len(p.Timeline)-1]; last.Type != events.TypePatientTransferred {
			t.Errorf("last event %s; want the admission at another hospital taken as a transfer to it", last.Type)
		}
	})
	t.Run("the join is in the parties' access log", func(t *testing.T) {
		for _, tok := range []string{kommune, e.hosp} {
			var joins []accessEntry
			for _, a := range e.accessLog(tok, "reader="+string(herlev)) {
				if a.What == "join/"+string(events.TypePatientTransferred) {
					joins = append(joins, a)
				}
			}
			if len(joins) != 1 || !joins[0].Allowed || joins[0].Pathway != pw {
				t.Errorf("join records: %+v; want one, allowed, for %s", joins, pw)
			}
		}
	})
	t.Run("the parties are alerted to the join", func(t *testing.T) {
		for _, org := range []events.OrgID{aarhus, hospital} {
			a := e.lastAlert(org, alerts.PartyJoined)
			if a.Access == nil || a.Access.Org != herlev || a.Access.By != events.TypePatientTransferred || a.Pathway != pw {
				t.Errorf("%s: alert %+v; want %s joined by PatientTransferred", org, a, herlev)
			}
		}
	})

	// The municipality takes home care: the hospital, its stay moved on,
	// has nothing pending.
	e.command("POST", path+"/offers/home-care/accept", kommune, map[string]any{"occurred_at": joinedAt})
	identity := func(token string, header ...string) response {
		return e.do("GET", path+"?identity=true", token, nil, header...)
	}
	t.Run("the identity is shown to a current care relationship", func(t *testing.T) {
		e.setNow(t0.Add(400 * 24 * time.Hour))
		for _, tok := range []string{kommune, herlevTok} {
			if res := identity(tok); res.status != http.StatusOK || !bytes.Contains(res.body, []byte("2509479989")) {
				t.Errorf("status %d; want 200 with the CPR number", res.status)
			}
		}
	})
	t.Run("a hospital whose care ended within the window sees it", func(t *testing.T) {
		e.setNow(joinedAt.Add(events.CareWindow))
		if res := identity(e.hosp); res.status != http.StatusOK {
			t.Errorf("status %d: %s; want 200", res.status, res.body)
		}
	})
	outside := joinedAt.Add(events.CareWindow + time.Hour)
	t.Run("after the window it reads the pathway but not the identity", func(t *testing.T) {
		e.setNow(outside)
		if res := e.do("GET", path, e.hosp, nil); res.status != http.StatusOK {
			t.Errorf("the pathway: status %d; want 200 (still a party)", res.status)
		}
		res := identity(e.hosp)
		if p := res.problem(t); res.status != http.StatusForbidden || !bytes.Contains([]byte(p.Detail), []byte(httpapi.ReasonHeader)) {
			t.Errorf("the identity: %d %q; want 403 naming %s", res.status, p.Detail, httpapi.ReasonHeader)
		}
		if bytes.Contains(res.body, []byte("2509479989")) {
			t.Error("the refusal holds the CPR number")
		}
	})
	reason := "readmitted to our emergency ward, checking earlier course"
	t.Run("breaking the glass with a reason shows it, logs the reason, alerts the parties", func(t *testing.T) {
		res := identity(e.hosp, httpapi.ReasonHeader, reason)
		if res.status != http.StatusOK || !bytes.Contains(res.body, []byte("2509479989")) {
			t.Fatalf("status %d: %s; want 200 with the identity", res.status, res.body)
		}
		var got []accessEntry
		for _, a := range e.accessLog(kommune, "reader="+string(hospital)) {
			if a.Reason != "" {
				got = append(got, a)
			}
		}
		if len(got) != 1 || got[0].Reason != reason || got[0].What != "pathway+identity" || !got[0].Allowed {
			t.Errorf("break-the-glass records: %+v; want one with the reason", got)
		}
		for _, org := range []events.OrgID{aarhus, herlev} {
			a := e.lastAlert(org, alerts.BrokeGlass)
			if a.Access == nil || a.Access.Org != hospital || a.Access.Reason != reason || a.Pathway != pw {
				t.Errorf("%s: alert %+v; want %s's read with its reason", org, a, hospital)
			}
		}
	})
	t.Run("a stranger may break the glass too, and is seen doing it", func(t *testing.T) {
		res := identity(e.token(odder), httpapi.ReasonHeader, "patient unconscious in our care, no other record")
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s; want 200", res.status, res.body)
		}
		if a := e.lastAlert(aarhus, alerts.BrokeGlass); a.Access == nil || a.Access.Org != odder {
			t.Errorf("alert %+v; want one naming %s", a, odder)
		}
	})
	t.Run("a reason must say something", func(t *testing.T) {
		for _, bad := range []string{"because", "a tab\tin the reason", string(bytes.Repeat([]byte("a"), 501))} {
			res := identity(e.hosp, httpapi.ReasonHeader, bad)
			if p := res.problem(t); res.status != http.StatusBadRequest || p.Field != httpapi.ReasonHeader {
				t.Errorf("reason %.12q: %d field %q; want 400 %s", bad, res.status, p.Field, httpapi.ReasonHeader)
			}
		}
	})
}

// lastAlert waits for the last alert of a kind to an organisation and
// returns it.
func (e *env) lastAlert(org events.OrgID, kind alerts.Kind) alerts.Alert {
	e.t.Helper()
	st, err := natstest.JetStream(e.t, e.store.NATS().Conn()).Stream(e.t.Context(), alerts.Stream)
	if err != nil {
		e.t.Fatal(err)
	}
	subject := alerts.StoredPrefix + ".*." + org.Token() + "." + string(kind)
	var m *jetstream.RawStreamMsg
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m, err = st.GetLastMsgForSubject(e.t.Context(), subject); err == nil {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no %s alert for %s in 10s: %v", kind, org, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var a alerts.Alert
	if err := json.Unmarshal(m.Data, &a); err != nil {
		e.t.Fatal(err)
	}
	return a
}
