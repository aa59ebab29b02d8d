package fhir_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTaskLifecycle walks a Task through its statuses by update and
// checks what an update refuses, the versions, history and as-of reads,
// the EpisodeOfCare and Encounter that follow, and that every error is
// an OperationOutcome with the right code.
func TestTaskLifecycle(t *testing.T) {
	e := newEnv(t)
	muni := e.token(aarhus)
	pw := e.admitted("0101801234", aarhus, t0)
	tasks := e.taskIDs(pw)
	care, nursing := tasks["home-care"], tasks["home-nursing"]
	first := e.task(care, muni)
	v1 := first["meta"].(map[string]any)["versionId"].(string)

	for _, c := range []struct {
		name   string
		res    func() response
		status int
		code   string
	}{
		{"no token", func() response { return e.do("GET", "/fhir/Task/"+care, "", nil) }, 401, "login"},
		{"XML asked for", func() response { return e.do("GET", "/fhir/Task/"+care, muni, nil, "Accept", "application/fhir+xml") }, 406, "not-supported"},
		{"_format xml", func() response { return e.do("GET", "/fhir/Task/"+care+"?_format=xml", muni, nil) }, 406, "not-supported"},
		{"an unknown search parameter", func() response { return e.do("GET", "/fhir/Task?colour=blue", muni, nil) }, 400, "invalid"},
		{"a bad date", func() response { return e.do("GET", "/fhir/Task?period=yesterday", muni, nil) }, 400, "invalid"},
		{"an interaction the server lacks", func() response { return e.do("DELETE", "/fhir/Task/"+care, muni, nil) }, 404, "not-supported"},
		{"a resource the server lacks", func() response { return e.do("GET", "/fhir/Patient/x", muni, nil) }, 404, "not-supported"},
		{"no such Task", func() response { return e.do("GET", "/fhir/Task/"+pw.String()+".0000000000000000", muni, nil) }, 404, "not-found"},
		{"a stale If-Match", func() response {
			return e.update(care, muni, map[string]any{"status": "accepted"}, "If-Match", `W/"1"`)
		}, 412, "conflict"},
		{"a rejection without a reason", func() response { return e.update(care, muni, map[string]any{"status": "rejected"}) }, 422, "value"},
		{"a jump from requested to completed", func() response { return e.update(care, muni, map[string]any{"status": "completed"}) }, 409, "business-rule"},
		{"a new owner", func() response {
			return e.update(care, muni, map[string]any{"status": "accepted", "owner": map[string]any{"reference": "Organization/kommune-0727"}})
		}, 422, "value"},
		{"another Task's id in the body", func() response {
			b := e.task(nursing, muni)
			return e.do("PUT", "/fhir/Task/"+care, muni, b)
		}, 400, "value"},
		{"not JSON", func() response { return e.do("PUT", "/fhir/Task/"+care, muni, "<Task/>") }, 400, "structure"},
		{"the owner cannot cancel", func() response { return e.update(care, muni, map[string]any{"status": "cancelled"}) }, 409, "business-rule"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := c.res()
			if res.status != c.status {
				t.Fatalf("status %d; want %d (%s)", res.status, c.status, res.body)
			}
			if code := res.outcome(t); code != c.code {
				t.Errorf("issue code %q; want %q", code, c.code)
			}
		})
	}

	move := func(id, status string, header ...string) map[string]any {
		t.Helper()
		res := e.update(id, muni, map[string]any{"status": status, "statusReason": map[string]any{"text": "no capacity this week"}}, header...)
		if res.status != http.StatusOK {
			t.Fatalf("to %s: %d %s", status, res.status, res.body)
		}
		var v map[string]any
		res.json(t, &v)
		if v["status"] != status || res.header.Get("ETag") != `W/"`+v["meta"].(map[string]any)["versionId"].(string)+`"` {
			t.Fatalf("to %s: got %v with ETag %s", status, v["status"], res.header.Get("ETag"))
		}
		return v
	}
	e.setNow(t0.Add(90 * time.Minute))
	move(care, "accepted", "If-Match", `W/"`+e.task(care, muni)["meta"].(map[string]any)["versionId"].(string)+`"`)
	move(care, "accepted") // the same status again changes nothing
	move(care, "in-progress")
	done := move(care, "completed")
	rejected := move(nursing, "rejected")
	if rejected["statusReason"].(map[string]any)["text"] != "no capacity this week" {
		t.Errorf("statusReason %v; want the reason given", rejected["statusReason"])
	}
	if done["executionPeriod"].(map[string]any)["end"] == nil {
		t.Errorf("completed Task's executionPeriod %v; want an end", done["executionPeriod"])
	}

	t.Run("history lists the versions the Task changed in, newest first", func(t *testing.T) {
		var h struct {
			Entry []struct {
				Resource struct {
					Status string
					Meta   struct{ VersionID string }
				} `json:"resource"`
			} `json:"entry"`
		}
		e.do("GET", "/fhir/Task/"+care+"/_history", muni, nil).json(t, &h)
		var got []string
		for _, en := range h.Entry {
			got = append(got, en.Resource.Status)
		}
		if strings.Join(got, ",") != "completed,in-progress,accepted,requested" {
			t.Errorf("history %v; want completed, in-progress, accepted, requested", got)
		}
		res := e.do("GET", "/fhir/Task/"+care+"/_history/"+v1, muni, nil)
		var old map[string]any
		res.json(t, &old)
		if res.status != 200 || old["status"] != "requested" {
			t.Errorf("vread %s: %d %v; want the requested Task", v1, res.status, old["status"])
		}
		res = e.do("GET", "/fhir/Task/"+care+"?as_of_seq="+v1, muni, nil)
		res.json(t, &old)
		if old["status"] != "requested" {
			t.Errorf("as_of_seq=%s: %v; want requested", v1, old["status"])
		}
		res = e.do("GET", "/fhir/Task/"+care+"?as_of=2026-11-02T08:30:00Z&as_of_kind=valid", muni, nil)
		if res.status != http.StatusNotFound {
			t.Errorf("valid time before the offer: %d; want 404 (no Task yet)", res.status)
		}
	})

	t.Run("episodes and the stay follow", func(t *testing.T) {
		for _, c := range []struct {
			query string
			want  int
		}{
			{"organization=Organization/kommune-0751", 1},
			{"organization=Organization/kommune-0751&status=finished", 1},
			{"organization=Organization/kommune-0751&status=active", 0},
			{"organization=Organization/sor-6620000000001&status=active", 1},
			{"date=ge2026-11-02", 2},
			{"_lastUpdated=lt2020-01-01", 0},
		} {
			if got := len(e.search(muni, "/fhir/EpisodeOfCare?"+c.query)); got != c.want {
				t.Errorf("EpisodeOfCare?%s: %d; want %d", c.query, got, c.want)
			}
		}
		res := e.do("GET", "/fhir/Encounter/"+pw.String(), muni, nil)
		var enc map[string]any
		res.json(t, &enc)
		if enc["status"] != "in-progress" || enc["class"].(map[string]any)["code"] != "IMP" {
			t.Errorf("Encounter %v %v; want an inpatient stay in progress", enc["status"], enc["class"])
		}
		for _, q := range []string{"status=completed", "period=ge2026-11-02&status=completed,rejected", "_lastUpdated=ge2026-01-01"} {
			if got := len(e.search(muni, "/fhir/Task?owner=kommune:0751&"+q)); got != 2 && q != "status=completed" || q == "status=completed" && got != 1 {
				t.Errorf("Task?%s: %d", q, got)
			}
		}
	})
	e.validate()
}

func (e *env) setNow(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}
