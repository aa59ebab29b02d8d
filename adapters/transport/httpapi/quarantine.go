package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// The quarantine, for the operator (docs/operations.md, "The
// quarantine"): the stored messages the projections could not take in,
// and the decision about each.

type quarantineView struct {
	engine.Quarantine
	Open bool `json:"open"`
	// Readable, in one message's view: whether this stafetd's build reads
	// it now, so that it can be taken in.
	Readable *bool `json:"readable,omitempty"`
}

func viewQuarantine(q engine.Quarantine) quarantineView {
	return quarantineView{Quarantine: q, Open: q.Open()}
}

// listQuarantine lists the quarantined messages, oldest first; ?status=
// open (the default), resolved or all.
func (s *Server) listQuarantine(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Projections
	if h == nil {
		writeProblem(w, r, ProblemFor(errNoProjections))
		return
	}
	var cur seqCursor
	limit, err := page(r.URL.Query(), &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	keep := func(q engine.Quarantine) bool { return q.Open() }
	switch v := r.URL.Query().Get("status"); v {
	case "", "open":
	case "resolved":
		keep = func(q engine.Quarantine) bool { return !q.Open() }
	case "all":
		keep = func(engine.Quarantine) bool { return true }
	default:
		writeProblem(w, r, badParam("status", "want open, resolved or all"))
		return
	}
	var items []quarantineView
	for _, q := range h.Quarantine() {
		if q.Seq <= cur.Seq || !keep(q) {
			continue
		}
		if len(items) == limit {
			writeList(w, r, items, seqCursor{Seq: items[limit-1].Seq})
			return
		}
		items = append(items, viewQuarantine(q))
	}
	writeList(w, r, items, nil)
}

func (s *Server) quarantined(w http.ResponseWriter, r *http.Request) (engine.Quarantine, bool) {
	h := s.cfg.Projections
	if h == nil {
		writeProblem(w, r, ProblemFor(errNoProjections))
		return engine.Quarantine{}, false
	}
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		writeProblem(w, r, badParam("seq", "want a log sequence number"))
		return engine.Quarantine{}, false
	}
	q, err := h.Quarantined(seq)
	if errors.Is(err, engine.ErrNoQuarantine) {
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Detail: "the log's message at seq " + strconv.FormatUint(seq, 10) + " is not quarantined"})
		return engine.Quarantine{}, false
	}
	return q, err == nil
}

// showQuarantined shows one quarantined message's record and whether this
// build reads it now. Never its content: stafet has it only as stored,
// for the data-protection officer's tools.
func (s *Server) showQuarantined(w http.ResponseWriter, r *http.Request) {
	q, ok := s.quarantined(w, r)
	if !ok {
		return
	}
	v := viewQuarantine(q)
	readable, err := s.cfg.Projections.Readable(r.Context(), q.Seq)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	v.Readable = &readable
	writeJSON(w, http.StatusOK, v)
}

type resolveRequest struct {
	Decision events.QuarantineDecision `json:"decision"`
	Reason   string                    `json:"reason"`
}

type resolveResult struct {
	// DecisionSeq is where the decision is stored in the log.
	DecisionSeq uint64         `json:"decision_seq"`
	Quarantined quarantineView `json:"quarantined"`
	// Applied: this stafetd's projections have applied the decision (it
	// waits a few seconds for them).
	Applied bool `json:"applied"`
}

// resolveQuarantined stores the operator's decision about a quarantined
// message as an event. A take-in needs a build that reads the message.
func (s *Server) resolveQuarantined(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q, ok := s.quarantined(w, r)
	if !ok {
		return
	}
	var b resolveRequest
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	req := events.QuarantineResolved{Seq: q.Seq, Hash: q.Hash, Decision: b.Decision, Reason: b.Reason}
	if err := req.Validate(); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if !q.Open() {
		writeProblem(w, r, Problem{Type: typeConflict, Title: "Already resolved", Status: http.StatusConflict,
			Detail: "the message was resolved by the decision at seq " + strconv.FormatUint(q.Resolution.Seq, 10)})
		return
	}
	if b.Decision == events.TakeIn {
		readable, err := s.cfg.Projections.Readable(ctx, q.Seq)
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		if !readable {
			writeProblem(w, r, Problem{Type: typeConflict, Title: "Not readable by this build", Status: http.StatusConflict, Code: string(q.Reason),
				Detail: "this stafetd cannot read the message yet (" + q.Detail + "): upgrade every instance to a build that reads it, then take it in; or annul it"})
			return
		}
	}
	seq, err := s.cfg.Store.Log().ResolveQuarantine(ctx, q, b.Decision, b.Reason)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	s.log.Info("quarantine decision stored", "seq", q.Seq, "decision", string(b.Decision), "decision_seq", seq)
	res := resolveResult{DecisionSeq: seq}
	h := s.cfg.Projections
	for deadline := time.Now().Add(5 * time.Second); h.Applied() < seq && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	res.Applied = h.Applied() >= seq
	if now, err := h.Quarantined(q.Seq); err == nil {
		q = now
	}
	res.Quarantined = viewQuarantine(q)
	status := http.StatusOK
	if !res.Applied {
		status = http.StatusAccepted
	}
	writeJSON(w, status, res)
}

// projectionsView says what this instance's projections hold, so that
// instances can be compared: the same log gives the same bytes.
type projectionsView struct {
	Name    string           `json:"name"`
	State   engine.HostState `json:"state"`
	Applied uint64           `json:"applied"`
	AsOf    time.Time        `json:"as_of,omitzero"`
	// SHA256 is the digest of the projections' snapshot at Applied, and
	// Bytes its size.
	SHA256 string `json:"sha256"`
	Bytes  int    `json:"bytes"`
	// Quarantined are the sequences quarantined and not resolved.
	Quarantined []uint64 `json:"quarantined"`
}

// showProjections answers the projections' position and a digest of
// their state (operator): after a rebuild, an upgrade or a fault, equal
// digests at equal positions say the instances agree.
func (s *Server) showProjections(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Projections
	if h == nil {
		writeProblem(w, r, ProblemFor(errNoProjections))
		return
	}
	v := projectionsView{Name: h.Name(), Quarantined: []uint64{}}
	var err error
	h.Read(func(p engine.Projection) {
		snap, ok := p.(engine.Snapshotter)
		if !ok {
			return
		}
		var b []byte
		if b, err = snap.Snapshot(); err == nil {
			sum := sha256.Sum256(b)
			v.Applied, v.SHA256, v.Bytes = h.Applied(), hex.EncodeToString(sum[:]), len(b)
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	st := h.Status()
	v.State, v.AsOf = st.State, st.AsOf
	for _, q := range h.Quarantine() {
		if q.Open() {
			v.Quarantined = append(v.Quarantined, q.Seq)
		}
	}
	writeJSON(w, http.StatusOK, v)
}
