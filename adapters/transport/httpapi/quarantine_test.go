package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// forge stores a message on a pathway's subject as another writer would,
// linked to the pathway's last message.
func (e *env) forge(subject string, data []byte, prev uint64) uint64 {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if prev > 0 {
		m.Header.Set(engine.HeaderPrev, strconv.FormatUint(prev, 10))
	}
	ack, err := natstest.JetStream(e.t, e.store.NATS().Conn()).PublishMsg(context.Background(), m)
	if err != nil {
		e.t.Fatal(err)
	}
	e.waitApplied(ack.Sequence)
	return ack.Sequence
}

func TestQuarantineAndHealth(t *testing.T) {
	e := newEnv(t)
	pw := e.admitted("0101801234", aarhus, t0)
	if r := e.do("GET", "/readyz", "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), `"status": "live"`) {
		t.Fatalf("readyz before: %d %s; want 200 live", r.status, r.body)
	}
	history, err := e.store.Log().Load(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	garbage := e.forge("stafet.ev.aarhus."+pw.String(), []byte(`{"garbage":true}`), history[len(history)-1].Seq)

	t.Run("intake goes on and the pathway still answers", func(t *testing.T) {
		e.command("POST", "/v1/pathways/"+pw.String()+"/offers/home-care/accept", e.token(aarhus), map[string]any{"occurred_at": t0.Add(90 * time.Minute)})
		r := e.do("GET", "/v1/pathways/"+pw.String(), e.token(aarhus), nil)
		if r.status != http.StatusOK {
			t.Fatalf("pathway read: %d %s; want 200", r.status, r.body)
		}
		var v struct {
			OpenGaps []gap `json:"open_gaps"`
			Timeline []struct {
				Seq  uint64
				Type events.Type
			}
		}
		r.json(t, &v)
		if !hasKind(v.OpenGaps, "integrity") {
			t.Errorf("the pathway's open gaps %+v; want an integrity gap", v.OpenGaps)
		}
		found := false
		for _, ev := range v.Timeline {
			found = found || ev.Seq == garbage && ev.Type == events.TypeQuarantined
		}
		if !found {
			t.Errorf("timeline %+v; want the stand-in of seq %d", v.Timeline, garbage)
		}
	})
	t.Run("the party and the operator see the integrity gap; another organisation does not", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			token string
			want  bool
		}{
			{"operator", adminToken, true},
			{"municipality", e.token(aarhus), true},
			{"hospital", e.hosp, true},
			{"another municipality", e.token(odder), false},
		} {
			if got := hasKind(e.gaps(tt.token, "kind=integrity"), "integrity"); got != tt.want {
				t.Errorf("%s: sees the integrity gap %v; want %v", tt.name, got, tt.want)
			}
		}
	})
	t.Run("health says degraded and names the sequence", func(t *testing.T) {
		r := e.do("GET", "/readyz", "", nil)
		var h engine.Health
		r.json(t, &h)
		if r.status != http.StatusOK || h.Status != engine.HealthDegraded || !h.Ready {
			t.Fatalf("readyz: %d %s; want 200, degraded and ready", r.status, r.body)
		}
		if len(h.Reasons) == 0 || h.Reasons[0].Code != engine.ReasonQuarantined || len(h.Reasons[0].Seqs) != 1 || h.Reasons[0].Seqs[0] != garbage {
			t.Errorf("reasons %+v; want quarantined naming seq %d", h.Reasons, garbage)
		}
		if r := e.do("GET", "/healthz", "", nil); r.status != http.StatusOK {
			t.Errorf("healthz: %d; want 200 (degraded is up)", r.status)
		}
		m := string(e.do("GET", "/metrics", adminToken, nil).body)
		for _, want := range []string{`stafet_quarantined_events{reason="undecodable"} 1`, `stafet_health_status{status="degraded"} 1`, "stafet_ready 1"} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("every read says how fresh it is", func(t *testing.T) {
		for _, path := range []string{"/v1/gaps", "/v1/pathways/" + pw.String(), "/v1/clusters", "/v1/quarantine"} {
			r := e.do("GET", path, adminToken, nil)
			pos, err := strconv.ParseUint(r.header.Get("Stafet-Position"), 10, 64)
			asOf, err2 := time.Parse(time.RFC3339Nano, r.header.Get("Stafet-As-Of"))
			if err != nil || err2 != nil || pos < garbage || time.Since(asOf) > time.Minute {
				t.Errorf("%s: Stafet-Position %q, Stafet-As-Of %q; want the applied sequence and a recent time", path, r.header.Get("Stafet-Position"), r.header.Get("Stafet-As-Of"))
			}
			if r.header.Get("Stafet-Stale") != "false" || r.header.Get("Stafet-State") != "live" {
				t.Errorf("%s: Stafet-Stale %q Stafet-State %q; want false and live", path, r.header.Get("Stafet-Stale"), r.header.Get("Stafet-State"))
			}
		}
	})
	t.Run("the operator lists, shows and annuls", func(t *testing.T) {
		if r := e.do("GET", "/v1/quarantine", e.hosp, nil); r.status != http.StatusForbidden {
			t.Errorf("an organisation lists the quarantine: %d; want 403", r.status)
		}
		var list struct {
			Items []struct {
				Seq    uint64
				Reason string
				Hash   string
				Open   bool
			}
		}
		e.do("GET", "/v1/quarantine", adminToken, nil).json(t, &list)
		if len(list.Items) != 1 || list.Items[0].Seq != garbage || list.Items[0].Reason != "undecodable" || !list.Items[0].Open {
			t.Fatalf("list: %+v; want seq %d open, undecodable", list.Items, garbage)
		}
		var one struct{ Readable *bool }
		e.do("GET", "/v1/quarantine/"+strconv.FormatUint(garbage, 10), adminToken, nil).json(t, &one)
		if one.Readable == nil || *one.Readable {
			t.Errorf("show: readable %v; want false", one.Readable)
		}
		path := "/v1/quarantine/" + strconv.FormatUint(garbage, 10) + "/resolve"
		if r := e.do("POST", path, adminToken, map[string]string{"decision": "take-in"}); r.status != http.StatusConflict {
			t.Errorf("take in what this build cannot read: %d %s; want 409", r.status, r.body)
		}
		if r := e.do("POST", path, adminToken, map[string]string{"decision": "annul"}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("annul without a reason: %d %s; want 422", r.status, r.body)
		}
		r := e.do("POST", path, adminToken, map[string]string{"decision": "annul", "reason": "forged by hand on the NATS port"})
		var res struct {
			DecisionSeq uint64 `json:"decision_seq"`
			Applied     bool
			Quarantined struct{ Open bool }
		}
		r.json(t, &res)
		if r.status != http.StatusOK || !res.Applied || res.Quarantined.Open || res.DecisionSeq <= garbage {
			t.Fatalf("annul: %d %s; want 200, applied, closed", r.status, r.body)
		}
		if r := e.do("POST", path, adminToken, map[string]string{"decision": "annul", "reason": "again"}); r.status != http.StatusConflict {
			t.Errorf("a second decision: %d; want 409", r.status)
		}
		if hasKind(e.gaps(adminToken, "kind=integrity"), "integrity") {
			t.Error("the integrity gap is still open after the annulment")
		}
		var h engine.Health
		e.do("GET", "/readyz", "", nil).json(t, &h)
		if h.Status != engine.HealthLive {
			t.Errorf("after the annulment: %s %+v; want live", h.Status, h.Reasons)
		}
		var pv struct {
			Applied     uint64
			SHA256      string
			Quarantined []uint64
		}
		e.do("GET", "/v1/admin/projections", adminToken, nil).json(t, &pv)
		if pv.Applied < res.DecisionSeq || len(pv.SHA256) != 64 || len(pv.Quarantined) != 0 {
			t.Errorf("projections: %+v; want the position, a digest and nothing quarantined", pv)
		}
	})
}

func hasKind(gs []gap, kind string) bool {
	for _, g := range gs {
		if string(g.Kind) == kind {
			return true
		}
	}
	return false
}
