package httpapi_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// pathway is GET /v1/pathways/{id} as the tests read it.
type pathway struct {
	ID       uuid.UUID         `json:"id"`
	Cluster  string            `json:"cluster"`
	Patient  events.PatientRef `json:"patient"`
	Status   string            `json:"status"`
	Parties  []events.OrgID    `json:"parties"`
	Identity *struct {
		CPR      string `json:"cpr"`
		Name     string `json:"name"`
		Shredded bool   `json:"shredded"`
	} `json:"identity"`
	Owner struct {
		Holders []struct {
			What events.Responsibility `json:"what"`
			Org  events.OrgID          `json:"org"`
		} `json:"holders"`
		Chain []struct {
			Offer  string             `json:"offer"`
			Status events.OfferStatus `json:"status"`
		} `json:"chain"`
	} `json:"owner"`
	OpenGaps   []gap `json:"open_gaps"`
	ClosedGaps []gap `json:"closed_gaps"`
	Timeline   []struct {
		Seq  uint64      `json:"seq"`
		Type events.Type `json:"type"`
	} `json:"timeline"`
}

type gap struct {
	ID           uuid.UUID    `json:"id"`
	Kind         string       `json:"kind"`
	Pathway      uuid.UUID    `json:"pathway"`
	Cluster      string       `json:"cluster"`
	Municipality events.OrgID `json:"municipality"`
	OpenedAt     time.Time    `json:"opened_at"`
	Open         bool         `json:"open"`
}

func (e *env) read(path, token string) pathway {
	e.t.Helper()
	res := e.do("GET", path, token, nil)
	if res.status != http.StatusOK {
		e.t.Fatalf("GET %s: status %d: %s", path, res.status, res.body)
	}
	var p pathway
	res.json(e.t, &p)
	return p
}

func TestReadPathway(t *testing.T) {
	e := newEnv(t)
	kommune := e.token(aarhus)
	pw := e.admitted("2509479989", aarhus, t0)
	path := "/v1/pathways/" + pw.String()
	e.setNow(t0.Add(3 * time.Hour)) // the offer's answer was due at t0+2h
	t.Run("a party sees timeline, custody and gaps, no identity", func(t *testing.T) {
		res := e.do("GET", path, kommune, nil)
		if res.status != http.StatusOK {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		for _, secret := range []string{"2509479989", "Testesen", "ciphertext", "nonce"} {
			if bytes.Contains(res.body, []byte(secret)) {
				t.Errorf("the answer holds %q; want no identity without ?identity=true", secret)
			}
		}
		var p pathway
		res.json(t, &p)
		if p.ID != pw || p.Cluster != "aarhus" || p.Status != "open" || p.Identity != nil {
			t.Errorf("got %+v", p)
		}
		if got := len(p.Timeline); got != 3 || p.Timeline[0].Type != events.TypePathwayOpened {
			t.Errorf("timeline: got %d events; want 3 from PathwayOpened", got)
		}
		if !slices.Equal(p.Parties, []events.OrgID{aarhus, hospital}) {
			t.Errorf("parties: got %v; want [%s %s]", p.Parties, aarhus, hospital)
		}
		if len(p.Owner.Holders) != 1 || p.Owner.Holders[0].Org != hospital || len(p.Owner.Chain) != 1 {
			t.Errorf("owner: got %+v; want the hospital holding the stay and one offer", p.Owner)
		}
		if len(p.OpenGaps) != 1 || p.OpenGaps[0].Kind != "offer-overdue" {
			t.Errorf("open gaps: got %+v; want one offer-overdue", p.OpenGaps)
		}
	})
	t.Run("identity on request, for a party", func(t *testing.T) {
		p := e.read(path+"?identity=true", kommune)
		if p.Identity == nil || p.Identity.CPR != "2509479989" || p.Identity.Name != "Test Testesen" {
			t.Errorf("identity: got %+v; want the CPR and name", p.Identity)
		}
	})
	t.Run("as of a time", func(t *testing.T) {
		e.command("POST", path+"/offers/home-care/accept", kommune, map[string]any{"occurred_at": t0.Add(90 * time.Minute)})
		now := e.read(path, kommune)
		if len(now.OpenGaps) != 0 || now.Owner.Chain[0].Status != events.OfferAccepted {
			t.Errorf("now: got gaps %+v, chain %+v; want none, accepted", now.OpenGaps, now.Owner.Chain)
		}
		valid := e.read(path+"?as_of="+url.QueryEscape(t0.Add(80*time.Minute).Format(time.RFC3339))+"&as_of_kind=valid", kommune)
		if len(valid.Timeline) != 3 || valid.Owner.Chain[0].Status != events.OfferPending {
			t.Errorf("valid as of t0+80m: got %d events, chain %+v; want 3, pending", len(valid.Timeline), valid.Owner.Chain)
		}
		seq := e.read(path+"?as_of_seq="+strconv.FormatUint(valid.Timeline[2].Seq, 10), kommune)
		if len(seq.Timeline) != 3 {
			t.Errorf("as of seq %d: got %d events; want 3", valid.Timeline[2].Seq, len(seq.Timeline))
		}
		before := e.do("GET", path+"?as_of=2020-01-01T00:00:00Z", kommune, nil)
		if before.status != http.StatusNotFound {
			t.Errorf("as of before the pathway: status %d; want 404", before.status)
		}
		bad := e.do("GET", path+"?as_of=yesterday", kommune, nil)
		if p := bad.problem(t); bad.status != 400 || p.Field != "as_of" {
			t.Errorf("bad as_of: status %d field %q; want 400 as_of", bad.status, p.Field)
		}
	})
	t.Run("identity after crypto-shredding", func(t *testing.T) {
		p := e.read(path, adminToken)
		if err := e.store.Vault().Shred(t.Context(), p.Patient); err != nil {
			t.Fatal(err)
		}
		p = e.read(path+"?identity=true", kommune)
		if p.Identity == nil || !p.Identity.Shredded || p.Identity.CPR != "" {
			t.Errorf("identity: got %+v; want shredded", p.Identity)
		}
	})
	t.Run("unknown pathway", func(t *testing.T) {
		res := e.do("GET", "/v1/pathways/"+events.NewID().String(), adminToken, nil)
		if p := res.problem(t); res.status != http.StatusNotFound || p.Type != problems+"unknown-pathway" {
			t.Errorf("got %d %s; want 404 unknown-pathway", res.status, p.Type)
		}
	})
}

func TestWhoMaySeeWhat(t *testing.T) {
	e := newEnv(t)
	kommune, stranger := e.token(aarhus), e.token(odder)
	pw := e.admitted("0101504321", aarhus, t0)
	path := "/v1/pathways/" + pw.String()

	t.Run("no token", func(t *testing.T) {
		res := e.do("GET", path, "", nil)
		if p := res.problem(t); res.status != http.StatusUnauthorized || p.Type != problems+"unauthenticated" || res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("got %d %s; want 401 unauthenticated with WWW-Authenticate", res.status, p.Type)
		}
	})
	t.Run("an unknown token", func(t *testing.T) {
		if res := e.do("GET", path, "stf_nope", nil); res.status != http.StatusUnauthorized {
			t.Errorf("status %d; want 401", res.status)
		}
	})
	t.Run("another organisation's pathway", func(t *testing.T) {
		res := e.do("GET", path+"?identity=true", stranger, nil)
		if p := res.problem(t); res.status != http.StatusForbidden || p.Type != problems+"forbidden" {
			t.Errorf("got %d %s; want 403 forbidden", res.status, p.Type)
		}
		if bytes.Contains(res.body, []byte("0101504321")) {
			t.Error("the refusal holds the CPR")
		}
	})
	t.Run("the attempt is in the parties' access log", func(t *testing.T) {
		e.read(path, kommune)
		log := e.accessLog(kommune, "")
		if len(log) != 2 {
			t.Fatalf("got %d records; want the refused read and the municipality's own: %+v", len(log), log)
		}
		refused, own := log[0], log[1]
		if refused.Reader != string(odder) || refused.Allowed || refused.Pathway != pw || refused.What != "pathway+identity" || refused.Party != aarhus {
			t.Errorf("refused read: got %+v", refused)
		}
		if own.Reader != string(aarhus) || !own.Allowed {
			t.Errorf("own read: got %+v", own)
		}
		if got := e.accessLog(e.hosp, ""); len(got) != 2 || got[0].Party != hospital {
			t.Errorf("hospital's log: got %+v; want the same two reads", got)
		}
		if got := e.accessLog(stranger, ""); len(got) != 0 {
			t.Errorf("stranger's log: got %+v; want nothing", got)
		}
		if got := e.accessLog(adminToken, "org="+string(aarhus)+"&reader="+string(odder)); len(got) != 1 || got[0].Allowed {
			t.Errorf("operator's view of %s's log, read by %s: got %+v; want the refused read", aarhus, odder, got)
		}
		if got := e.accessLog(adminToken, "pathway="+pw.String()); len(got) != 4 {
			t.Errorf("operator's view of the pathway: got %d records; want 4 (2 reads × 2 parties)", len(got))
		}
		res := e.do("GET", "/v1/access-log?org="+string(hospital), kommune, nil)
		if res.status != http.StatusForbidden {
			t.Errorf("another party's log: status %d; want 403", res.status)
		}
	})
	t.Run("lists hold only the caller's pathways", func(t *testing.T) {
		e.setNow(t0.Add(3 * time.Hour))
		if got := e.gaps(kommune, ""); len(got) != 1 {
			t.Errorf("the municipality's gaps: got %d; want 1", len(got))
		}
		if got := e.gaps(stranger, ""); len(got) != 0 {
			t.Errorf("a stranger's gaps: got %+v; want none", got)
		}
	})
	t.Run("operator endpoints", func(t *testing.T) {
		for _, path := range []string{"/v1/dead-letters", "/v1/dead-letters/1"} {
			if res := e.do("GET", path, kommune, nil); res.status != http.StatusForbidden {
				t.Errorf("GET %s by an organisation: status %d; want 403", path, res.status)
			}
		}
		if res := e.do("POST", "/v1/tokens", kommune, map[string]string{"org": string(aarhus)}); res.status != http.StatusForbidden {
			t.Errorf("token by an organisation: status %d; want 403", res.status)
		}
	})
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	res := e.do("POST", "/v1/tokens", adminToken, map[string]string{"org": "kommune:0751", "label": "omsorg"})
	if res.status != http.StatusCreated {
		t.Fatalf("issue: status %d: %s", res.status, res.body)
	}
	var tok struct {
		Token string `json:"token"`
	}
	res.json(t, &tok)
	if got := e.do("GET", "/v1/worklist", tok.Token, nil); got.status != http.StatusOK {
		t.Errorf("worklist with the new token: status %d", got.status)
	}
	if bad := e.do("POST", "/v1/tokens", adminToken, map[string]string{"org": "kommune:751"}); bad.status != 422 || bad.problem(t).Field != "org" {
		t.Errorf("bad org: status %d; want 422 on org", bad.status)
	}
	if del := e.do("DELETE", "/v1/tokens", adminToken, map[string]string{"token": tok.Token}); del.status != http.StatusNoContent {
		t.Errorf("revoke: status %d: %s", del.status, del.body)
	}
	if got := e.do("GET", "/v1/worklist", tok.Token, nil); got.status != http.StatusUnauthorized {
		t.Errorf("worklist with the revoked token: status %d; want 401", got.status)
	}
	if del := e.do("DELETE", "/v1/tokens", adminToken, map[string]string{"token": tok.Token}); del.status != http.StatusNotFound {
		t.Errorf("revoke again: status %d; want 404", del.status)
	}
}

func TestRoutingProblems(t *testing.T) {
	e := newEnv(t)
	res := e.do("DELETE", "/v1/gaps", adminToken, nil)
	if p := res.problem(t); res.status != http.StatusMethodNotAllowed || p.Type != problems+"method-not-allowed" || res.header.Get("Allow") == "" {
		t.Errorf("got %d %s allow %q; want 405 with Allow", res.status, p.Type, res.header.Get("Allow"))
	}
	res = e.do("GET", "/v1/nothing", adminToken, nil)
	if p := res.problem(t); res.status != http.StatusNotFound || p.Type != problems+"not-found" {
		t.Errorf("got %d %s; want 404 not-found", res.status, p.Type)
	}
}
