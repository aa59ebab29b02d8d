package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestIdentity checks the one rule for who sees a patient's name and CPR
// number (MaySeePatient), on every read that shows them: organisations in
// the patient's care and the operator do, each read in the parties' access
// log; other organisations do not, and their attempts are in the log too.
func TestIdentity(t *testing.T) {
	e := newEnv(t)
	kommune, stranger := e.token(aarhus), e.token(odder)
	pw := e.admitted("2509479989", aarhus, t0)
	e.setNow(t0.Add(3 * time.Hour))
	type who struct {
		CPR  string `json:"cpr"`
		Name string `json:"name"`
	}
	var wl struct {
		Offers []struct {
			Pathway uuid.UUID `json:"pathway"`
			Patient *who      `json:"patient"`
		} `json:"offers"`
		Gaps []struct {
			Pathway uuid.UUID `json:"pathway"`
			Patient *who      `json:"patient"`
		} `json:"gaps"`
	}
	tests := []struct {
		name, token, path string
		status            int
		shows             bool
	}{
		{"a party's pathway read", kommune, "/v1/pathways/" + pw.String() + "?identity=true", 200, true},
		{"a party's worklist", kommune, "/v1/worklist?identity=true", 200, true},
		{"a party's worklist by its id", kommune, "/v1/orgs/kommune:0751/worklist?identity=true", 200, true},
		{"a party's worklist without asking", kommune, "/v1/worklist", 200, false},
		{"the operator's pathway read", adminToken, "/v1/pathways/" + pw.String() + "?identity=true", 200, true},
		{"the operator's view of a worklist", adminToken, "/v1/orgs/kommune:0751/worklist?identity=true", 200, true},
		{"the operator's view without asking", adminToken, "/v1/orgs/kommune:0751/worklist", 200, false},
		{"another organisation's pathway read", stranger, "/v1/pathways/" + pw.String() + "?identity=true", 403, false},
		{"a bad flag", kommune, "/v1/worklist?identity=perhaps", 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", tt.path, tt.token, nil)
			if res.status != tt.status {
				t.Fatalf("status %d; want %d: %s", res.status, tt.status, res.body)
			}
			if got := bytes.Contains(res.body, []byte("2509479989")) && bytes.Contains(res.body, []byte("Test Testesen")); got != tt.shows {
				t.Errorf("the answer shows the CPR and name: %v; want %v", got, tt.shows)
			}
			if tt.shows && strings.Contains(tt.path, "worklist") {
				res.json(t, &wl)
				if len(wl.Offers) != 1 || wl.Offers[0].Patient == nil || wl.Offers[0].Patient.CPR != "2509479989" {
					t.Errorf("offers: got %+v; want the offer's patient", wl.Offers)
				}
				for _, g := range wl.Gaps {
					if g.Patient == nil || g.Patient.Name != "Test Testesen" {
						t.Errorf("gap on %s: patient %+v; want named", g.Pathway, g.Patient)
					}
				}
			}
		})
	}
	t.Run("every identity read is in the parties' access log", func(t *testing.T) {
		var allowed, refused []string
		for _, r := range e.accessLog(kommune, "pathway="+pw.String()) {
			if strings.Contains(r.What, "identity") {
				if r.Allowed {
					allowed = append(allowed, r.Reader+" "+r.What)
				} else {
					refused = append(refused, r.Reader+" "+r.What)
				}
			}
		}
		wantAllowed := []string{"kommune:0751 pathway+identity", "kommune:0751 worklist+identity", "kommune:0751 worklist+identity", "operator pathway+identity", "operator worklist+identity"}
		wantRefused := []string{"kommune:0727 pathway+identity"}
		if strings.Join(allowed, "; ") != strings.Join(wantAllowed, "; ") || strings.Join(refused, "; ") != strings.Join(wantRefused, "; ") {
			t.Errorf("access log: allowed %q, refused %q; want %q and %q", allowed, refused, wantAllowed, wantRefused)
		}
	})
}

func TestFindPathways(t *testing.T) {
	e := newEnv(t)
	kommune, stranger := e.token(aarhus), e.token(odder)
	pw := e.admitted("2509479989", aarhus, t0)
	id := pw.String()
	type page struct {
		Items []struct {
			ID     uuid.UUID `json:"id"`
			Status string    `json:"status"`
		} `json:"items"`
	}
	tests := []struct {
		name, token, abbrev string
		status              int
		found               bool
	}{
		{"the beginning", kommune, id[:13], 200, true},
		{"the end, as the dashboard shows it", kommune, id[len(id)-8:], 200, true},
		{"in capitals", adminToken, strings.ToUpper(id[len(id)-8:]), 200, true},
		{"not a party", stranger, id[len(id)-8:], 200, false},
		{"no match", kommune, "ffffeeee", 200, false},
		{"too short", kommune, "abc", 400, false},
		{"not hex", kommune, "pathway", 400, false},
		{"missing", kommune, "", 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("GET", "/v1/pathways?id="+tt.abbrev, tt.token, nil)
			if res.status != tt.status {
				t.Fatalf("status %d; want %d: %s", res.status, tt.status, res.body)
			}
			if res.status != http.StatusOK {
				if p := res.problem(t); p.Field != "id" {
					t.Errorf("problem field %q; want id", p.Field)
				}
				return
			}
			var p page
			res.json(t, &p)
			if got := len(p.Items) == 1 && p.Items[0].ID == pw && p.Items[0].Status == "open"; got != tt.found {
				t.Errorf("got %+v; found %v, want %v", p.Items, got, tt.found)
			}
		})
	}
}
