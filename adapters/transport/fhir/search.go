package fhir

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// Search paging: _count per page (default, largest), and at most maxScan
// pathways loaded per page, so a search whose filters the projections
// cannot answer ends its page early (with a next link) instead of
// reading the whole log.
const (
	defaultCount = 50
	maxCount     = 500
	maxScan      = 1000
)

// candidate is a resource a search may return, in the search's order.
type candidate struct {
	order   string // sorts the results; the cursor is the last one's
	pathway uuid.UUID
	key     string
}

// query is a parsed search.
type query struct {
	orgs       []events.OrgID // owner (Task), organization (EpisodeOfCare)
	requesters []events.OrgID
	statuses   []string
	patient    events.PatientRef
	byPatient  bool
	period     []dateCond // Task: period (executionPeriod); EpisodeOfCare: date (period)
	updated    []dateCond
	count      int
	cursor     string
}

// searchSpec is what differs between the searchable kinds.
type searchSpec struct {
	kind   *kind
	params []string
	// fromView lists the candidates of an open pathway as the
	// projections hold it; fromHistory those of a pathway read whole.
	fromView    func(v projections.OwnerView, q *query) []candidate
	fromHistory func(f *folded) []candidate
	// keep applies what only the rendered resource can answer.
	keep func(v any, q *query) bool
}

var specs = map[*kind]*searchSpec{
	taskKind: {
		kind:   taskKind,
		params: []string{"owner", "requester", "status", "patient", "patient:identifier", "period", "_lastUpdated", "_count", "_cursor"},
		fromView: func(v projections.OwnerView, q *query) []candidate {
			var out []candidate
			for _, h := range v.Chain {
				if anyOrg(q.orgs, h.To) && anyOrg(q.requesters, h.From) && mayHaveStatus(h, q.statuses) {
					out = append(out, taskCandidate(v.Pathway, h))
				}
			}
			return out
		},
		fromHistory: func(f *folded) []candidate {
			var out []candidate
			for _, h := range f.owner.Chain {
				out = append(out, taskCandidate(f.id, h))
			}
			return out
		},
		keep: func(v any, q *query) bool {
			t := v.(fhir.Task)
			if !anyOrg(q.orgs, orgOfRef(t.Owner)) || !anyOrg(q.requesters, orgOfRef(t.Requester)) {
				return false
			}
			return anyString(q.statuses, t.Status.Code()) && matchDates(q.period, periodRange(t.ExecutionPeriod)) && matchDates(q.updated, metaRange(t.Meta))
		},
	},
	episodeKind: {
		kind:   episodeKind,
		params: []string{"organization", "status", "patient", "patient:identifier", "date", "_lastUpdated", "_count", "_cursor"},
		fromView: func(v projections.OwnerView, q *query) []candidate {
			var orgs []events.OrgID
			for _, h := range v.Holders {
				orgs = append(orgs, h.Org)
			}
			for _, h := range v.Chain {
				orgs = append(orgs, h.To)
			}
			return episodeCandidates(v.Pathway, orgs, q)
		},
		fromHistory: func(f *folded) []candidate {
			var orgs []events.OrgID
			for _, e := range f.episodes() {
				orgs = append(orgs, e.org)
			}
			return episodeCandidates(f.id, orgs, &query{})
		},
		keep: func(v any, q *query) bool {
			e := v.(fhir.EpisodeOfCare)
			return anyOrg(q.orgs, orgOfRef(e.ManagingOrganization)) && anyString(q.statuses, e.Status.Code()) &&
				matchDates(q.period, periodRange(e.Period)) && matchDates(q.updated, metaRange(e.Meta))
		},
	},
}

func taskCandidate(pathway uuid.UUID, h projections.Handoff) candidate {
	key := offerKey(h.Offer)
	return candidate{order: h.Offered.UTC().Format("2006-01-02T15:04:05.000000000") + "|" + pathway.String() + "|" + key, pathway: pathway, key: key}
}

func episodeCandidates(pathway uuid.UUID, orgs []events.OrgID, q *query) []candidate {
	slices.Sort(orgs)
	var out []candidate
	for _, org := range slices.Compact(orgs) {
		if anyOrg(q.orgs, org) {
			out = append(out, candidate{order: pathway.String() + "|" + string(org), pathway: pathway, key: org.Token()})
		}
	}
	return out
}

// mayHaveStatus reports whether a handoff can render with one of the
// statuses asked, as far as the projection knows it (in-progress needs
// the history).
func mayHaveStatus(h projections.Handoff, statuses []string) bool {
	if len(statuses) == 0 {
		return true
	}
	possible := []string{taskStatus(h, nil).Code()}
	if h.Status == events.OfferAccepted && h.Ended.IsZero() {
		possible = append(possible, fhir.TaskStatusInProgress.Code())
	}
	for _, p := range possible {
		if slices.Contains(statuses, p) {
			return true
		}
	}
	return false
}

func anyOrg(want []events.OrgID, got events.OrgID) bool {
	return len(want) == 0 || slices.Contains(want, got)
}

func anyString(want []string, got string) bool { return len(want) == 0 || slices.Contains(want, got) }

func orgOfRef(r *fhir.Reference) events.OrgID {
	if r == nil || r.Reference == nil {
		return ""
	}
	return orgOfToken(strings.TrimPrefix(*r.Reference, "Organization/"))
}

// search answers a search of one kind.
func (s *Server) search(k *kind) http.HandlerFunc {
	spec := specs[k]
	return func(w http.ResponseWriter, r *http.Request) {
		q, err := s.parseQuery(r, spec)
		if err != nil {
			fail(w, r, err)
			return
		}
		p := httpapi.PrincipalOf(r)
		var cands []candidate
		var notes []string
		if q.byPatient {
			cands, notes, err = s.patientCandidates(r, spec, q)
		} else {
			cands, err = s.viewCandidates(spec, q)
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		slices.SortFunc(cands, func(a, b candidate) int { return strings.Compare(a.order, b.order) })
		if q.cursor != "" {
			i, _ := slices.BinarySearchFunc(cands, q.cursor, func(c candidate, cur string) int {
				if c.order <= cur {
					return -1
				}
				return 1
			})
			cands = cands[i:]
		}
		page, next, err := s.page(r, p, spec, q, cands)
		if err != nil {
			fail(w, r, err)
			return
		}
		writeResource(w, http.StatusOK, s.searchset(r, q, page, next, notes))
	}
}

// page loads and renders candidates until the page is full, the scan
// limit is reached or they run out; next is the cursor to go on from.
func (s *Server) page(r *http.Request, p httpapi.Principal, spec *searchSpec, q *query, cands []candidate) ([]any, string, error) {
	var out []any
	loaded := make(map[uuid.UUID]*folded)
	scanned := 0
	for i, c := range cands {
		if len(out) == q.count || scanned == maxScan {
			return out, cands[i-1].order, nil
		}
		f, ok := loaded[c.pathway]
		if !ok {
			scanned++
			history, err := s.cfg.Store.Log().Load(r.Context(), c.pathway)
			if err != nil {
				return nil, "", err
			}
			if len(history) > 0 && s.cfg.API.MayRead(p, history) {
				f = fold(history)
			}
			loaded[c.pathway] = f
		}
		if f == nil {
			continue
		}
		if v, _, ok := spec.kind.render(s, f, c.key); ok && spec.keep(v, q) {
			out = append(out, v)
		}
	}
	return out, "", nil
}

// viewCandidates finds candidates among the open pathways the
// projections hold.
func (s *Server) viewCandidates(spec *searchSpec, q *query) ([]candidate, error) {
	h := s.cfg.Projections
	if h == nil {
		return nil, problem(http.StatusServiceUnavailable, "unavailable", "", "this stafetd hosts no projections to search")
	}
	var out []candidate
	if !engine.View(h, func(set *projections.Set) {
		for v := range set.Owner.Open() {
			out = append(out, spec.fromView(v, q)...)
		}
	}) {
		return nil, problem(http.StatusServiceUnavailable, "unavailable", "", "this stafetd hosts no projections to search")
	}
	return out, nil
}

// patientCandidates finds the patient's open pathway through the
// pathway index and reads it as a read by patient: the access log
// records it, and MaySeePatient must allow it. A pathway the caller may
// not see gives no results, with a note, and tells nothing of itself.
func (s *Server) patientCandidates(r *http.Request, spec *searchSpec, q *query) ([]candidate, []string, error) {
	id, ok, err := s.cfg.Store.Index().Patient(r.Context(), q.patient)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, nil
	}
	history, err := s.cfg.API.ReadPathway(r.Context(), httpapi.PrincipalOf(r), id, httpapi.Read{What: "fhir/" + spec.kind.name + "?patient", Patient: true})
	var pe httpapi.Problem
	if asProblem(err, &pe) && (pe.Status == http.StatusForbidden || pe.Status == http.StatusNotFound) {
		return nil, []string{"no pathway of this patient that this organisation may see"}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []candidate
	for _, c := range spec.fromHistory(fold(history)) {
		out = append(out, c)
	}
	return out, nil, nil
}

func asProblem(err error, p *httpapi.Problem) bool {
	v, ok := err.(httpapi.Problem)
	if ok {
		*p = v
	}
	return ok
}

// searchset makes the result bundle.
func (s *Server) searchset(r *http.Request, q *query, page []any, next string, notes []string) fhir.Bundle {
	base := s.base(r)
	self := linkQuery(r, q)
	b := fhir.Bundle{Type: fhir.BundleTypeSearchset, Timestamp: instant(s.cfg.Now()),
		Link: []fhir.BundleLink{{Relation: "self", Url: base + strings.TrimPrefix(r.URL.Path, Prefix) + encodeQuery(self)}}}
	if next != "" {
		nq := linkQuery(r, q)
		nq.Set("_cursor", base64.RawURLEncoding.EncodeToString([]byte(next)))
		nq.Set("_count", strconv.Itoa(q.count))
		b.Link = append(b.Link, fhir.BundleLink{Relation: "next", Url: base + strings.TrimPrefix(r.URL.Path, Prefix) + encodeQuery(nq)})
	}
	if len(page) == 0 && next == "" {
		b.Total = ptr(0)
	}
	for _, v := range page {
		raw, _ := json.Marshal(v)
		var id struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		json.Unmarshal(raw, &id)
		b.Entry = append(b.Entry, fhir.BundleEntry{
			FullUrl: ptr(base + "/" + id.ResourceType + "/" + id.ID), Resource: raw,
			Search: &fhir.BundleEntrySearch{Mode: ptr(fhir.SearchEntryModeMatch)},
		})
	}
	for _, n := range notes {
		oo := fhir.OperationOutcome{Issue: []fhir.OperationOutcomeIssue{{Severity: fhir.IssueSeverityInformation, Code: fhir.IssueTypeInformational, Diagnostics: ptr(n)}}}
		raw, _ := json.Marshal(oo)
		b.Entry = append(b.Entry, fhir.BundleEntry{Resource: raw, Search: &fhir.BundleEntrySearch{Mode: ptr(fhir.SearchEntryModeOutcome)}})
	}
	return b
}

// linkQuery is the query a Bundle's links repeat: a search by CPR
// (patient:identifier) is linked by the patient's pseudonym instead, so
// the CPR number is not sent again in URLs, which proxies log.
func linkQuery(r *http.Request, q *query) url.Values {
	v := r.URL.Query()
	if v.Has("patient:identifier") {
		v.Del("patient:identifier")
		v.Set("patient", "Patient/"+string(q.patient))
	}
	return v
}

func encodeQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// parseQuery reads a search's parameters.
func (s *Server) parseQuery(r *http.Request, spec *searchSpec) (*query, error) {
	raw := r.URL.Query()
	if err := onlyParams(raw, spec.params...); err != nil {
		return nil, err
	}
	q := &query{count: defaultCount}
	for name, vals := range raw {
		for _, v := range vals {
			if err := s.param(r, q, name, v); err != nil {
				return nil, err
			}
		}
	}
	return q, nil
}

func (s *Server) param(r *http.Request, q *query, name, v string) error {
	bad := func(reason string) error { return problem(http.StatusBadRequest, "bad-parameter", name, reason) }
	switch name {
	case "owner", "organization", "requester":
		for part := range strings.SplitSeq(v, ",") {
			org := orgOfToken(strings.TrimPrefix(part, "Organization/"))
			if org == "" {
				return bad("want an organisation: Organization/kommune-0751, kommune-0751 or kommune:0751")
			}
			if name == "requester" {
				q.requesters = append(q.requesters, org)
			} else {
				q.orgs = append(q.orgs, org)
			}
		}
	case "status":
		q.statuses = append(q.statuses, strings.Split(v, ",")...)
	case "patient":
		ref := events.PatientRef(strings.TrimPrefix(v, "Patient/"))
		if ref.Validate() != nil {
			return bad("want the patient's pseudonym (Task.for.identifier) or use patient:identifier=" + cprSystem + "|<CPR>")
		}
		q.patient, q.byPatient = ref, true
	case "patient:identifier":
		system, value, ok := strings.Cut(v, "|")
		switch {
		case ok && system == sidPatient:
			q.patient = events.PatientRef(value)
			if q.patient.Validate() != nil {
				return bad("not a patient pseudonym")
			}
		case ok && system == cprSystem:
			ref, err := s.cfg.Store.Vault().Ref(value)
			if err != nil {
				return bad("not a CPR number")
			}
			q.patient = ref
		default:
			return bad("want " + cprSystem + "|<CPR> or " + sidPatient + "|<pseudonym>")
		}
		q.byPatient = true
	case "period", "date", "_lastUpdated":
		c, err := parseDate(v)
		if err != nil {
			return bad(err.Error())
		}
		if name == "_lastUpdated" {
			q.updated = append(q.updated, c)
		} else {
			q.period = append(q.period, c)
		}
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxCount {
			return bad("want a whole number from 1 to " + strconv.Itoa(maxCount))
		}
		q.count = n
	case "_cursor":
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			return bad("not a cursor this server gave out")
		}
		q.cursor = string(b)
	}
	return nil
}

// cprSystem is the CPR number's identifier system.
const cprSystem = "urn:oid:1.2.208.176.1.2"

// dateCond is one date search condition: a prefix and the range the
// value stands for (a day, or a second).
type dateCond struct {
	prefix string
	lo, hi time.Time
}

func parseDate(v string) (dateCond, error) {
	c := dateCond{prefix: "eq"}
	if len(v) > 2 && strings.Contains("eq ne gt lt ge le sa eb", v[:2]) && v[0] >= 'a' {
		c.prefix, v = v[:2], v[2:]
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		c.lo = events.DayStart(d)
		c.hi = c.lo.AddDate(0, 0, 1).Add(-time.Nanosecond)
		return c, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return c, errDate
	}
	c.lo, c.hi = t, t.Truncate(time.Second).Add(time.Second-time.Nanosecond)
	return c, nil
}

var errDate = dateError("want [prefix]date: a prefix eq, ne, gt, lt, ge, le, sa or eb, then YYYY-MM-DD (a Danish calendar day) or an instant such as 2026-11-02T08:00:00Z")

type dateError string

func (e dateError) Error() string { return string(e) }

// span is the range of a resource's date: start and end (zero end: still
// going; ok false: the resource has no such date).
type span struct {
	start, end time.Time
	ok         bool
}

func periodRange(p *fhir.Period) span {
	if p == nil || p.Start == nil {
		return span{}
	}
	s := span{ok: true}
	s.start, _ = time.Parse(time.RFC3339Nano, *p.Start)
	if p.End != nil {
		s.end, _ = time.Parse(time.RFC3339Nano, *p.End)
	}
	return s
}

func metaRange(m *fhir.Meta) span {
	if m == nil || m.LastUpdated == nil {
		return span{}
	}
	t, _ := time.Parse(time.RFC3339Nano, *m.LastUpdated)
	return span{start: t, end: t, ok: true}
}

// matchDates applies FHIR's date search semantics: the search value is
// a range (lo, hi), and so is the resource's date.
func matchDates(cs []dateCond, s span) bool {
	for _, c := range cs {
		if !s.ok || !c.match(s) {
			return false
		}
	}
	return true
}

func (c dateCond) match(s span) bool {
	open := s.end.IsZero()
	switch c.prefix {
	case "ne":
		return !(dateCond{prefix: "eq", lo: c.lo, hi: c.hi}).match(s)
	case "gt":
		return open || s.end.After(c.hi)
	case "lt":
		return s.start.Before(c.lo)
	case "ge":
		return open || !s.end.Before(c.lo)
	case "le":
		return !s.start.After(c.hi)
	case "sa":
		return s.start.After(c.hi)
	case "eb":
		return !open && s.end.Before(c.lo)
	}
	return !open && !s.start.Before(c.lo) && !s.end.After(c.hi)
}
