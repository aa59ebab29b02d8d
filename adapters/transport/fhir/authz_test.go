package fhir_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// task reads a Task through the facade, which must answer 200.
func (e *env) task(id, token string) map[string]any {
	e.t.Helper()
	res := e.do("GET", "/fhir/Task/"+id, token, nil)
	if res.status != http.StatusOK {
		e.t.Fatalf("GET Task/%s: %d %s", id, res.status, res.body)
	}
	var t map[string]any
	res.json(e.t, &t)
	return t
}

// taskIDs lists the Tasks of a pathway as the operator sees them, by
// offer id.
func (e *env) taskIDs(pw uuid.UUID) map[string]string {
	e.t.Helper()
	res := e.do("GET", "/fhir/Task?patient=Patient/"+e.patientOf(pw), adminToken, nil)
	var b struct {
		Entry []struct {
			Resource struct {
				ID         string `json:"id"`
				Identifier []struct{ Value string }
			} `json:"resource"`
		} `json:"entry"`
	}
	res.json(e.t, &b)
	out := make(map[string]string)
	for _, en := range b.Entry {
		if en.Resource.ID != "" {
			out[en.Resource.Identifier[0].Value] = en.Resource.ID
		}
	}
	return out
}

func (e *env) patientOf(pw uuid.UUID) string {
	e.t.Helper()
	var v struct {
		Patient string `json:"patient"`
	}
	e.do("GET", "/v1/pathways/"+pw.String(), adminToken, nil).json(e.t, &v)
	return v.Patient
}

func class(status int) string {
	switch {
	case status >= 200 && status < 300:
		return "ok"
	case status == http.StatusUnauthorized:
		return "unauthenticated"
	case status == http.StatusForbidden:
		return "forbidden"
	case status == http.StatusConflict:
		return "refused by the pathway rules"
	}
	return http.StatusText(status)
}

// TestAuthorisationMatchesJSONAPI checks, for each kind of caller, that
// the facade allows and refuses what the JSON API allows and refuses:
// reading a pathway's Task, EpisodeOfCare and Encounter against reading
// the pathway, and accepting and withdrawing offers by Task update
// against the JSON API's commands, each on a pathway of its own in the
// same state.
func TestAuthorisationMatchesJSONAPI(t *testing.T) {
	e := newEnv(t)
	muni, other := e.token(aarhus), e.token(odder)
	callers := []struct {
		name, token       string
		actor             events.OrgID // what the operator names in a JSON command
		read, accept, wdr string       // the expected class of each
	}{
		{"no token", "", "", "unauthenticated", "unauthenticated", "unauthenticated"},
		{"another municipality, not party", other, "", "forbidden", "forbidden", "forbidden"},
		{"the hospital, party and requester", e.hosp, "", "ok", "refused by the pathway rules", "ok"},
		{"the municipality, party and owner", muni, "", "ok", "ok", "refused by the pathway rules"},
		{"the operator", adminToken, aarhus, "ok", "ok", "ok"},
	}
	for i, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			at := t0.Add(time.Duration(i) * time.Hour)
			pj := e.admitted("01018012"+string(rune('0'+i))+"1", aarhus, at)
			pf := e.admitted("01018012"+string(rune('0'+i))+"2", aarhus, at)
			tasks := e.taskIDs(pf)
			episode := pf.String() + "." + aarhus.Token()

			read := map[string]int{
				"JSON pathway":       e.do("GET", "/v1/pathways/"+pj.String(), c.token, nil).status,
				"FHIR Task":          e.do("GET", "/fhir/Task/"+tasks["home-care"], c.token, nil).status,
				"FHIR EpisodeOfCare": e.do("GET", "/fhir/EpisodeOfCare/"+episode, c.token, nil).status,
				"FHIR Encounter":     e.do("GET", "/fhir/Encounter/"+pf.String(), c.token, nil).status,
				"FHIR Task history":  e.do("GET", "/fhir/Task/"+tasks["home-care"]+"/_history", c.token, nil).status,
			}
			for what, status := range read {
				if class(status) != c.read {
					t.Errorf("%s: %s (%d); want %s, as the JSON API", what, class(status), status, c.read)
				}
			}

			actor := map[string]any{}
			if c.actor != "" {
				actor["actor"] = c.actor
			}
			jsonAccept := e.do("POST", "/v1/pathways/"+pj.String()+"/offers/home-care/accept", c.token, actor).status
			fhirAccept := e.update(tasks["home-care"], c.token, map[string]any{"status": "accepted"}).status
			if class(jsonAccept) != c.accept || class(fhirAccept) != c.accept {
				t.Errorf("accept: JSON API %s (%d), FHIR %s (%d); want both %s", class(jsonAccept), jsonAccept, class(fhirAccept), fhirAccept, c.accept)
			}
			if c.actor != "" {
				actor["actor"] = hospital
			}
			jsonWithdraw := e.do("POST", "/v1/pathways/"+pj.String()+"/offers/home-nursing/withdraw", c.token, actor).status
			fhirWithdraw := e.update(tasks["home-nursing"], c.token, map[string]any{"status": "cancelled"}).status
			if class(jsonWithdraw) != c.wdr || class(fhirWithdraw) != c.wdr {
				t.Errorf("withdraw: JSON API %s (%d), FHIR %s (%d); want both %s", class(jsonWithdraw), jsonWithdraw, class(fhirWithdraw), fhirWithdraw, c.wdr)
			}
		})
	}

	t.Run("searches show only what the caller may read", func(t *testing.T) {
		for _, c := range []struct {
			name, token, query string
			want               int
		}{
			{"the owner finds its Tasks", muni, "owner=Organization/kommune-0751", 20},
			{"another municipality finds none of them", other, "owner=Organization/kommune-0751", 0},
			{"the requester finds them by requester", e.hosp, "requester=Organization/sor-6620000000001", 20},
			{"the operator finds them all", adminToken, "", 20},
			{"another municipality finds nothing by the patient's CPR", other, "patient:identifier=urn:oid:1.2.208.176.1.2|0101801201", 0},
			{"the owner finds the patient's Tasks by CPR", muni, "patient:identifier=urn:oid:1.2.208.176.1.2|0101801201", 2},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := len(e.search(c.token, "/fhir/Task?"+c.query)); got != c.want {
					t.Errorf("got %d Tasks; want %d", got, c.want)
				}
			})
		}
	})
	e.validate()
}

// update puts a Task back with some elements changed.
func (e *env) update(id, token string, change map[string]any, header ...string) response {
	e.t.Helper()
	body := e.task(id, adminToken)
	delete(body, "meta")
	for k, v := range change {
		body[k] = v
	}
	return e.do("PUT", "/fhir/Task/"+id, token, body, header...)
}

// search follows a search's pages and returns the matching resources.
func (e *env) search(token, path string) []json.RawMessage {
	e.t.Helper()
	var out []json.RawMessage
	for next := e.srv.URL + path; next != ""; {
		res := e.do("GET", next[len(e.srv.URL):], token, nil)
		if res.status != http.StatusOK {
			e.t.Fatalf("GET %s: %d %s", next, res.status, res.body)
		}
		var b struct {
			Link  []struct{ Relation, URL string }
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
				Search   struct{ Mode string }
			} `json:"entry"`
		}
		res.json(e.t, &b)
		for _, en := range b.Entry {
			if en.Search.Mode == "match" {
				out = append(out, en.Resource)
			}
		}
		next = ""
		for _, l := range b.Link {
			if strings.Contains(l.URL, "1.2.208.176.1.2") {
				e.t.Errorf("link %s repeats a CPR number; want the patient's pseudonym", l.URL)
			}
			if l.Relation == "next" {
				next = l.URL
			}
		}
	}
	return out
}
