package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

type pathwayResponse struct {
	ID           uuid.UUID         `json:"id"`
	Cluster      string            `json:"cluster"`
	Patient      events.PatientRef `json:"patient"`
	Municipality events.OrgID      `json:"municipality,omitempty"`
	GP           events.OrgID      `json:"gp,omitempty"`
	Status       string            `json:"status"`
	Parties      []events.OrgID    `json:"parties"`
	AsOf         *asOfView         `json:"as_of,omitempty"`
	Identity     *IdentityView     `json:"identity,omitempty"`
	Owner        ownerView         `json:"owner"`
	OpenGaps     []GapView         `json:"open_gaps"`
	ClosedGaps   []GapView         `json:"closed_gaps"`
	Deadlines    []deadlineView    `json:"deadlines"`
	Timeline     []eventView       `json:"timeline"`
}

type asOfView struct {
	Time time.Time `json:"time,omitzero"`
	Kind string    `json:"kind"`
	Seq  uint64    `json:"seq,omitempty"`
}

// IdentityView is a patient's identity, decrypted for one reader who may
// see it (Server.MaySeePatient).
type IdentityView struct {
	CPR  string `json:"cpr,omitempty"`
	Name string `json:"name,omitempty"`
	// Shredded: the patient's key was deleted; the identity is gone for
	// good.
	Shredded bool `json:"shredded,omitempty"`
}

func pathwayID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return uuid.Nil, badParam("id", "want a pathway id (UUID)")
	}
	return id, nil
}

// AsOf is how a read cuts a pathway's history: as of a record time, a
// valid time or a log sequence (?as_of=, ?as_of_kind=, ?as_of_seq=; the
// zero value is now). The JSON API and the FHIR facade read the same
// parameters.
type AsOf struct {
	kind string // "", "recorded", "valid" or "seq"
	t    time.Time
	seq  uint64
}

// ParseAsOf reads the as-of parameters of a query.
func ParseAsOf(q url.Values) (AsOf, error) {
	var a AsOf
	if v := q.Get("as_of_seq"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return a, badParam("as_of_seq", "want a log sequence number (1 or more)")
		}
		if q.Get("as_of") != "" {
			return a, badParam("as_of_seq", "give as_of or as_of_seq, not both")
		}
		return AsOfSeq(n), nil
	}
	t, err := queryTime(q, "as_of", time.Time{})
	if err != nil || t.IsZero() {
		if q.Get("as_of_kind") != "" && err == nil {
			return a, badParam("as_of_kind", "as_of_kind needs as_of")
		}
		return a, err
	}
	switch k := q.Get("as_of_kind"); k {
	case "", "recorded":
		return AsOf{kind: "recorded", t: t}, nil
	case "valid":
		return AsOf{kind: "valid", t: t}, nil
	}
	return a, badParam("as_of_kind", "want recorded or valid")
}

// AsOfSeq is the pathway as Stafet knew it once the log held seq.
func AsOfSeq(seq uint64) AsOf { return AsOf{kind: "seq", seq: seq} }

// Now reports whether a is the zero AsOf: the pathway as it stands.
func (a AsOf) Now() bool { return a.kind == "" }

// Cut returns the history as the as-of asks for it, and the now its
// gaps are judged at.
func (a AsOf) Cut(history []events.Envelope, now time.Time) ([]events.Envelope, time.Time) {
	switch a.kind {
	case "seq":
		i, _ := slices.BinarySearchFunc(history, a.seq+1, func(e events.Envelope, seq uint64) int { return cmp.Compare(e.Seq, seq) })
		cut := history[:i]
		if len(cut) > 0 {
			now = latest(cut)
		}
		return cut, now
	case "recorded":
		return projections.AsOfRecorded(history, a.t), a.t
	case "valid":
		return projections.AsOfValid(history, a.t), a.t
	}
	return history, now
}

// latest is the last record time in a history: the moment a sequence
// cut shows.
func latest(history []events.Envelope) time.Time {
	var t time.Time
	for i := range history {
		if history[i].RecordedAt.After(t) {
			t = history[i].RecordedAt
		}
	}
	return t
}

func (a AsOf) view() *asOfView {
	if a.kind == "" {
		return nil
	}
	return &asOfView{Time: a.t, Kind: a.kind, Seq: a.seq}
}

// readPathway answers one pathway: its timeline, custody and gaps, as of
// now or as of a time. The read is recorded in the access log, allowed or
// not, before anything is answered.
func (s *Server) readPathway(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalFrom(ctx)
	id, err := pathwayID(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	wantIdentity, err := queryBool(r.URL.Query(), "identity")
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	as, err := ParseAsOf(r.URL.Query())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	what := "pathway"
	if wantIdentity {
		what = "pathway+identity"
	}
	history, err := s.ReadPathway(ctx, p, id, Read{What: what, Patient: wantIdentity})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	ps := events.Parties(history)
	cut, now := as.Cut(history, s.cfg.Now())
	if len(cut) == 0 {
		writeProblem(w, r, Problem{Type: typeUnknownPathway, Title: "Unknown pathway", Status: http.StatusNotFound, Detail: "the pathway has no events as of that time"})
		return
	}
	var view projections.View
	err = s.set(func(set *projections.Set) {
		view = set.PathwayView(cut, now)
		// A quarantined message of the pathway is an integrity gap its
		// parties see: the history above lacks an event.
		// Stored on the log's clock: shown when reading as of now.
		for _, g := range set.Gaps.ForPathway(id, now) {
			if g.Kind == projections.Integrity && as.kind == "" {
				view.Gaps = append(view.Gaps, g)
			}
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	state := events.Fold(cut)
	resp := pathwayResponse{
		ID: id, Cluster: state.Cluster(), Patient: state.Patient(), Municipality: state.Municipality(), GP: state.GP(),
		Status: "open", Parties: ps, AsOf: as.view(), Owner: viewOwner(view.Owner),
		OpenGaps: []GapView{}, ClosedGaps: []GapView{}, Deadlines: viewDeadlines(view.Due),
		Timeline: timeline(cut, events.AnnulmentsOf(cut)),
	}
	if state.Closed() {
		resp.Status = "closed"
	}
	for _, g := range view.Gaps {
		if g.Open() {
			resp.OpenGaps = append(resp.OpenGaps, viewGap(g))
		} else {
			resp.ClosedGaps = append(resp.ClosedGaps, viewGap(g))
		}
	}
	if wantIdentity {
		if resp.Identity, err = s.identity(ctx, history); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// identity decrypts the identity sealed in the pathway's opening. The
// caller has asked MaySeePatient and recorded the read.
func (s *Server) identity(ctx context.Context, history []events.Envelope) (*IdentityView, error) {
	for i := range history {
		o, ok := history[i].Payload.(*events.PathwayOpened)
		if !ok || o.Identity == nil {
			continue
		}
		id, err := s.cfg.Store.Vault().Open(ctx, o.Patient, o.Identity)
		if errors.Is(err, events.ErrShredded) {
			return &IdentityView{Shredded: true}, nil
		}
		if err != nil {
			return nil, err
		}
		return &IdentityView{CPR: id.CPR, Name: id.Name}, nil
	}
	return &IdentityView{}, nil
}

// gapCursor names the last gap of a page, in the list's order.
type gapCursor struct {
	OpenedAt time.Time `json:"o"`
	Pathway  string    `json:"p"`
	ID       string    `json:"g"`
}

func gapKey(g projections.Gap) gapCursor {
	return gapCursor{OpenedAt: g.OpenedAt, Pathway: g.Pathway.String(), ID: g.ID.String()}
}

func (c gapCursor) compare(d gapCursor) int {
	return cmp.Or(c.OpenedAt.Compare(d.OpenedAt), cmp.Compare(c.Pathway, d.Pathway), cmp.Compare(c.ID, d.ID))
}

// listGaps lists gaps, oldest first, filtered by cluster, municipality,
// organisation (one that can close the gap), kind and status, as of now
// or as of a time. An organisation sees only the gaps of its pathways.
func (s *Server) listGaps(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	q := r.URL.Query()
	var cur gapCursor
	limit, err := page(q, &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	f, status, err := gapFilter(q)
	if err == nil && f.Cluster != "" {
		err = s.knownCluster(f.Cluster)
	}
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	now := s.cfg.Now()
	at, err := queryTime(q, "as_of", now)
	// An integrity gap opens when a message is stored: on the log's clock,
	// not the valid time a query's now judges the others by. Without an
	// as_of every open one is shown.
	asked := q.Get("as_of") != ""
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	var gaps []projections.Gap
	err = s.set(func(set *projections.Set) {
		for _, g := range set.Gaps.List(f, at) {
			if g, ok := asOfGap(g, at); (ok || g.Kind == projections.Integrity && !asked) && status(g) && (p.Operator || orgSees(set, p.Org, g)) {
				gaps = append(gaps, g)
			}
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if q.Get("cursor") != "" {
		i, _ := slices.BinarySearchFunc(gaps, cur, func(g projections.Gap, c gapCursor) int {
			if gapKey(g).compare(c) <= 0 {
				return -1
			}
			return 1
		})
		gaps = gaps[i:]
	}
	if len(gaps) > limit {
		writeList(w, r, viewGaps(gaps[:limit]), gapKey(gaps[limit-1]))
		return
	}
	writeList(w, r, viewGaps(gaps), nil)
}

// gapFilter reads the gap list's filters. The status is applied after
// the as-of cut, so the projection is asked for every status.
func gapFilter(q map[string][]string) (projections.GapFilter, func(projections.Gap) bool, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	// Cluster ids are lower case; people type Aarhus.
	f := projections.GapFilter{Cluster: strings.ToLower(get("cluster")), Status: projections.AllGaps}
	if f.Cluster != "" && events.ValidateClusterID(f.Cluster) != nil {
		return f, nil, badParam("cluster", "want a cluster id such as aarhus or raad-aarhus (GET /v1/clusters lists them)")
	}
	if v := get("municipality"); v != "" {
		m, err := municipality(v)
		if err != nil {
			return f, nil, err
		}
		f.Municipality = m
	}
	if v := get("org"); v != "" {
		if events.OrgID(v).Validate() != nil {
			return f, nil, badParam("org", "want an organisation id such as kommune:0751")
		}
		f.Org = events.OrgID(v)
	}
	for _, k := range q["kind"] {
		for k := range strings.SplitSeq(k, ",") {
			if !slices.Contains(gapKinds(), projections.GapKind(k)) {
				return f, nil, badParam("kind", "unknown gap kind "+strconv.Quote(k)+"; want one of: "+kindList())
			}
			f.Kinds = append(f.Kinds, projections.GapKind(k))
		}
	}
	var keep func(projections.Gap) bool
	switch get("status") {
	case "", "open":
		keep = projections.Gap.Open
	case "closed":
		keep = func(g projections.Gap) bool { return !g.Open() }
	case "all":
		keep = func(projections.Gap) bool { return true }
	default:
		return f, nil, badParam("status", "want open, closed or all")
	}
	return f, keep, nil
}

// gapKinds lists the kinds a gap list filters on: the rules' kinds and
// the quarantine's integrity gaps.
func gapKinds() []projections.GapKind {
	return append(projections.Kinds(), projections.Integrity)
}

// kindList names the gap kinds, for an error that lists them.
func kindList() string {
	var names []string
	for _, k := range gapKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// knownCluster refuses a cluster the directory does not know: a typo
// would otherwise list no gaps and look like good news.
func (s *Server) knownCluster(id string) error {
	if _, ok := s.cfg.Directory.Cluster(id); ok || id == engine.Unassigned {
		return nil
	}
	return badParam("cluster", "no cluster "+strconv.Quote(id)+"; GET /v1/clusters?at= lists the bodies of a date (sundhedsklynger such as aarhus up to 2026, sundhedsråd such as raad-aarhus from 2027)")
}

// municipality reads a municipality as kommune:NNNN or NNNN.
func municipality(v string) (events.OrgID, error) {
	if !strings.Contains(v, ":") {
		v = string(events.Kommune(v))
	}
	m := events.OrgID(v)
	if m.Validate() != nil || m.Scheme() != events.SchemeKommune {
		return "", badParam("municipality", "want a municipality code such as 0751 or kommune:0751")
	}
	return m, nil
}

// asOfGap shows a gap as it stood at: not yet opened is left out, closed
// later is shown open. The projection holds only the pathways open now,
// so gaps of pathways closed since at are not shown.
func asOfGap(g projections.Gap, at time.Time) (projections.Gap, bool) {
	if g.OpenedAt.After(at) {
		return g, false
	}
	if !g.ClosedAt.IsZero() && g.ClosedAt.After(at) {
		g.ClosedAt, g.ClosedBy, g.ClosedByType = time.Time{}, uuid.Nil, ""
	}
	return g, true
}

// orgSees reports whether org is party to a gap's pathway as far as the
// projections know: it can close the gap, it is the pathway's
// municipality, or it holds, offered or was offered a responsibility.
func orgSees(set *projections.Set, org events.OrgID, g projections.Gap) bool {
	if slices.Contains(g.Closers, org) || g.Municipality == org {
		return true
	}
	o, ok := set.Owner.Pathway(g.Pathway)
	if !ok {
		return false
	}
	for _, h := range o.Holders {
		if h.Org == org {
			return true
		}
	}
	for _, h := range o.Chain {
		if h.From == org || h.To == org {
			return true
		}
	}
	return false
}

// ownWorklist is the caller's own worklist.
func (s *Server) ownWorklist(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if p.Operator {
		writeProblem(w, r, badParam("org", "the operator has no worklist of its own; use /v1/orgs/{org}/worklist"))
		return
	}
	s.worklist(w, r, p.Org)
}

// orgWorklist is an organisation's worklist, for the operator or the
// organisation itself.
func (s *Server) orgWorklist(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	org := events.OrgID(r.PathValue("org"))
	if org.Validate() != nil {
		writeProblem(w, r, badParam("org", "want an organisation id such as kommune:0751"))
		return
	}
	if !p.Operator && p.Org != org {
		writeProblem(w, r, forbidden("an organisation sees only its own worklist"))
		return
	}
	s.worklist(w, r, org)
}

// worklist answers an organisation's worklist; with ?identity=true each
// offer and gap names its patient as far as MaySeePatient allows it, every
// such read in the access log.
func (s *Server) worklist(w http.ResponseWriter, r *http.Request, org events.OrgID) {
	p := principalFrom(r.Context())
	wantIdentity, err := queryBool(r.URL.Query(), "identity")
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	var wl projections.Worklist
	if err := s.set(func(set *projections.Set) { wl = set.Worklists.Worklist(org, s.cfg.Now()) }); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	v := viewWorklist(wl)
	if wantIdentity {
		if err := s.identifyWorklist(r.Context(), p, &v); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// identifyWorklist fills in the patients of a worklist's offers and gaps.
func (s *Server) identifyWorklist(ctx context.Context, p Principal, v *WorklistView) error {
	found := map[uuid.UUID]*IdentityView{}
	patient := func(id uuid.UUID) (*IdentityView, error) {
		if who, ok := found[id]; ok {
			return who, nil
		}
		who, err := s.identify(ctx, p, id, "worklist+identity")
		found[id] = who
		return who, err
	}
	var err error
	for i := range v.Offers {
		if v.Offers[i].Patient, err = patient(v.Offers[i].Pathway); err != nil {
			return err
		}
	}
	for i := range v.Gaps {
		if v.Gaps[i].Patient, err = patient(v.Gaps[i].Pathway); err != nil {
			return err
		}
	}
	return nil
}

// identify decrypts the patient of one pathway for p if MaySeePatient allows
// it (nil if not), having recorded the read, allowed or not, in the
// pathway's parties' access logs.
func (s *Server) identify(ctx context.Context, p Principal, id uuid.UUID, what string) (*IdentityView, error) {
	history, err := s.cfg.Store.Log().Load(ctx, id)
	if err != nil || len(history) == 0 {
		return nil, err
	}
	ps := events.Parties(history)
	allowed := s.MaySeePatient(p, history)
	if err := s.record(ctx, p, id, ps, what, allowed); err != nil {
		return nil, err
	}
	if !allowed {
		return nil, nil
	}
	return s.identity(ctx, history)
}

// queryBool reads a boolean parameter; absent is false.
func queryBool(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badParam(name, "want true or false")
	}
	return b, nil
}

// clusters returns the bodies in force at at whose figures p may see:
// every one for the operator, else the organisation's own (a hospital
// configured with its 2022 cluster sees the sundhedsråd that took it
// over).
func (s *Server) clusters(p Principal, at time.Time) []string {
	d := s.cfg.Directory
	if p.Operator {
		var out []string
		for _, c := range d.ClustersAt(at) {
			out = append(out, c.ID)
		}
		return append(out, engine.Unassigned)
	}
	o, _ := d.Lookup(p.Org)
	var out []string
	for _, id := range o.Clusters {
		if c, ok := d.Cluster(id); ok && c.InForce(at) {
			out = append(out, id)
		}
	}
	if c := d.ClusterAt(p.Org, at); c != "" && !slices.Contains(out, c) {
		out = append(out, c)
	}
	return out
}

type clusterView struct {
	ID             string                      `json:"id"`
	Name           string                      `json:"name"`
	Kind           events.BodyKind             `json:"kind,omitempty"`
	Region         string                      `json:"region,omitempty"`
	AcuteHospital  string                      `json:"acute_hospital,omitempty"`
	ValidFrom      string                      `json:"valid_from,omitempty"`
	ValidTo        string                      `json:"valid_to,omitempty"`
	Status         string                      `json:"status,omitempty"`
	Source         string                      `json:"source,omitempty"`
	Municipalities []events.OrgID              `json:"municipalities"`
	OpenGaps       map[projections.GapKind]int `json:"open_gaps"`
	OpenTotal      int                         `json:"open_total"`
	// OpenByAge and OpenByMunicipality count the same open gaps, read
	// in the same moment, by age (as the figures' by_age) and by the
	// pathway's municipality: a page built from this one answer adds up.
	OpenByAge          projections.Ages     `json:"open_by_age"`
	OpenByMunicipality map[events.OrgID]int `json:"open_by_municipality"`
	// Subjects are the event subjects a subscriber for this body takes to
	// get exactly its pathways: its own, the whole predecessors' and, for a
	// predecessor that split, the open pathways of its municipalities
	// (docs/reform-2027.md).
	Subjects []string `json:"subjects,omitempty"`
}

// listClusters lists the bodies in force on the date asked (?at=, a date
// or a time; default now) that the caller may see — the 21 sundhedsklynger
// up to 2026-12-31, the 17 sundhedsråd from 2027-01-01 — each with its
// municipalities and its open gaps by kind, a pathway counted in the body
// it belongs to on that date.
func (s *Server) listClusters(w http.ResponseWriter, r *http.Request) {
	at, err := queryDay(r.URL.Query(), "at", s.cfg.Now())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	ids := s.clusters(principalFrom(r.Context()), at)
	counts := make(map[string]map[projections.GapKind]int)
	ages := make(map[string]projections.Ages)
	munis := make(map[string]map[events.OrgID]int)
	subjects := make(map[string][]string)
	now := s.cfg.Now()
	err = s.set(func(set *projections.Set) {
		for _, g := range set.Gaps.List(projections.GapFilter{At: at}, now) {
			if counts[g.Body] == nil {
				counts[g.Body] = make(map[projections.GapKind]int)
				munis[g.Body] = make(map[events.OrgID]int)
			}
			counts[g.Body][g.Kind]++
			a := ages[g.Body]
			a[projections.AgeBucket(now.Sub(g.OpenedAt))]++
			ages[g.Body] = a
			if g.Municipality != "" {
				munis[g.Body][g.Municipality]++
			}
		}
		for _, id := range ids {
			subjects[id] = s.subjects(set.Gaps, id)
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	items := make([]clusterView, 0, len(ids))
	for _, id := range ids {
		v := clusterView{ID: id, Name: id, Municipalities: []events.OrgID{}, OpenGaps: map[projections.GapKind]int{},
			OpenByAge: ages[id], OpenByMunicipality: map[events.OrgID]int{}}
		for m, n := range munis[id] {
			v.OpenByMunicipality[m] = n
		}
		if c, ok := s.cfg.Directory.Cluster(id); ok {
			v.Name, v.Kind, v.Region, v.AcuteHospital, v.Status, v.Source = c.Name, c.Kind, c.Region, c.AcuteHospital, c.Status, c.Source
			v.ValidFrom = c.ValidFrom.Format(time.DateOnly)
			if !c.ValidTo.IsZero() {
				v.ValidTo = c.ValidTo.Format(time.DateOnly)
			}
			v.Municipalities = append(v.Municipalities, c.Municipalities...)
			v.Subjects = subjects[id]
		} else if counts[id] == nil {
			continue // no unassigned pathways: nothing to show
		}
		for _, k := range projections.Kinds() {
			v.OpenGaps[k] = 0
		}
		for k, n := range counts[id] {
			v.OpenGaps[k] = n
			v.OpenTotal += n
		}
		items = append(items, v)
	}
	writeList(w, r, items, nil)
}

// subjects returns the event subjects of a body's pathways: its own
// wildcard and, for a body that took over from earlier ones on its first
// day, each predecessor's wildcard if it came over whole, else the literal
// subjects of its open pathways whose patients live in the body.
func (s *Server) subjects(g *projections.Gaps, id string) []string {
	d := s.cfg.Directory
	c, ok := d.Cluster(id)
	if !ok {
		return nil
	}
	out := []string{engine.ClusterFilter(id)}
	for _, l := range d.Links(c.ValidFrom.AddDate(0, 0, -1), c.ValidFrom) {
		if l.To != id {
			continue
		}
		if p, _ := d.Cluster(l.From); len(l.Municipalities) == len(p.Municipalities) {
			out = append(out, engine.ClusterFilter(l.From))
			continue
		}
		heir, _ := d.Successor(l.From, c.ValidFrom)
		for _, pw := range g.OpenIn(l.From) {
			// As Directory.BodyOf places them: by municipality, a pathway
			// without one in its body's successor.
			if slices.Contains(l.Municipalities, pw.Municipality) || pw.Municipality == "" && heir == id {
				out = append(out, engine.Subject(l.From, pw.Pathway))
			}
		}
	}
	return out
}

// queryDay reads a date (YYYY-MM-DD, a Danish calendar day: its last
// instant) or a time from the query, or returns def.
func queryDay(q url.Values, name string, def time.Time) (time.Time, error) {
	v := q.Get(name)
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		return events.DayStart(d).AddDate(0, 0, 1).Add(-time.Nanosecond), nil
	}
	return queryTime(q, name, def)
}

func (s *Server) clusterFigures(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := principalFrom(r.Context())
	at, err := queryDay(r.URL.Query(), "at", s.cfg.Now())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	c, ok := s.cfg.Directory.Cluster(id)
	if !ok && (id != engine.Unassigned || !p.Operator) {
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Field: "id", Detail: "no such cluster"})
		return
	}
	if ok && !c.InForce(at) {
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Field: "at", Detail: fmt.Sprintf("%s is not in force on %s", id, events.Day(at).Format(time.DateOnly))})
		return
	}
	if !slices.Contains(s.clusters(p, at), id) {
		writeProblem(w, r, forbidden("an organisation sees the figures of its own clusters only"))
		return
	}
	s.figures(w, r, at, func(f projections.Figures, now time.Time) projections.ClusterFigures { return f.Body(id, now, at) })
}

func (s *Server) municipalityFigures(w http.ResponseWriter, r *http.Request) {
	m, err := municipality(r.PathValue("code"))
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	o, ok := s.cfg.Directory.Lookup(m)
	if !ok {
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Field: "code", Detail: "no such municipality"})
		return
	}
	p := principalFrom(r.Context())
	at, err := queryDay(r.URL.Query(), "at", s.cfg.Now())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if !p.Operator && p.Org != m && !slices.Contains(s.clusters(p, at), s.cfg.Directory.ClusterAt(o.ID, at)) {
		writeProblem(w, r, forbidden("an organisation sees the figures of its own clusters' municipalities only"))
		return
	}
	s.figures(w, r, at, func(f projections.Figures, now time.Time) projections.ClusterFigures { return f.Municipality(m, now) })
}

func (s *Server) figures(w http.ResponseWriter, r *http.Request, at time.Time, get func(projections.Figures, time.Time) projections.ClusterFigures) {
	q := r.URL.Query()
	n, err := strconv.Atoi(cmp.Or(q.Get("months"), "12"))
	if err != nil || n < 1 || n > 120 {
		writeProblem(w, r, badParam("months", "want a number of months from 1 to 120"))
		return
	}
	from, to, err := dayRange(q)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	last, _ := projections.ParseMonth(events.Day(at).Format("2006-01"))
	// The gaps stand as at the date asked, or now for a date ahead: the
	// future is not known, only the structure it will have.
	until := at
	if now := s.cfg.Now(); now.Before(until) {
		until = now
	}
	var f projections.ClusterFigures
	var months []projections.MonthFigures
	err = s.set(func(set *projections.Set) {
		f = get(set.Figures, until)
		months = set.Figures.Months(f.Scope, last-int32(n)+1, last, until)
		if !from.IsZero() {
			f.Daily = set.Figures.Days(f.Scope, from, to, until)
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	v := viewFigures(f)
	v.Months = viewMonths(months)
	writeJSON(w, http.StatusOK, v)
}

// dayRange reads ?from= and ?to= (dates, YYYY-MM-DD, in Danish time):
// the days a figures answer's daily counts cover, instead of the last
// 30. Both or neither; at most projections.MaxDays.
func dayRange(q url.Values) (from, to time.Time, err error) {
	if q.Get("from") == "" && q.Get("to") == "" {
		return from, to, nil
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		d, perr := time.Parse(time.DateOnly, q.Get(p.name))
		if perr != nil {
			return from, to, badParam(p.name, "want a date, YYYY-MM-DD (from and to go together)")
		}
		*p.t = events.DayStart(d).Add(12 * time.Hour)
	}
	switch days := int(to.Sub(from).Hours()/24+0.5) + 1; {
	case to.Before(from):
		return from, to, badParam("to", "want a date on or after from")
	case days > projections.MaxDays:
		return from, to, badParam("from", fmt.Sprintf("want a range of at most %d days", projections.MaxDays))
	}
	return from, to, nil
}

var orgKinds = []events.Kind{events.KindHospital, events.KindMunicipality, events.KindGP, events.KindRegion}

// orgCursor names the last organisation of a page.
type orgCursor struct {
	ID events.OrgID `json:"i"`
}

// listOrganisations lists the directory, by kind if asked, sorted by id.
func (s *Server) listOrganisations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var cur orgCursor
	limit, err := page(q, &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	kinds := orgKinds
	if k := events.Kind(q.Get("kind")); k != "" {
		if !slices.Contains(orgKinds, k) {
			writeProblem(w, r, badParam("kind", "want hospital, municipality, gp or region"))
			return
		}
		kinds = []events.Kind{k}
	}
	var orgs []events.Organisation
	for _, k := range kinds {
		orgs = append(orgs, s.cfg.Directory.Organisations(k)...)
	}
	slices.SortFunc(orgs, func(a, b events.Organisation) int { return cmp.Compare(a.ID, b.ID) })
	if cur.ID != "" {
		i, _ := slices.BinarySearchFunc(orgs, cur.ID, func(o events.Organisation, id events.OrgID) int {
			if o.ID <= id {
				return -1
			}
			return 1
		})
		orgs = orgs[i:]
	}
	if len(orgs) > limit {
		writeList(w, r, orgs[:limit], orgCursor{ID: orgs[limit-1].ID})
		return
	}
	writeList(w, r, orgs, nil)
}
