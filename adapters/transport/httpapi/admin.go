package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// The operator's endpoints: dead letters, tokens and rebuilds.

type deadLetterView struct {
	RawSeq  uint64    `json:"raw_seq"`
	System  string    `json:"system"`
	Code    string    `json:"code"`
	Field   string    `json:"field,omitempty"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Retries int       `json:"retries"`
}

func viewDeadLetter(d engine.DeadLetter) deadLetterView {
	return deadLetterView{RawSeq: d.RawSeq, System: d.System, Code: d.Code, Field: d.Field, Reason: d.Reason, At: d.At, Retries: d.Retries}
}

// rawView is a stored inbound message. Body is the message as text when
// it is UTF-8, else BodyBase64 holds it.
type rawView struct {
	System      string    `json:"system"`
	Sender      string    `json:"sender"`
	ControlID   string    `json:"control_id"`
	ContentType string    `json:"content_type,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	Replaces    uint64    `json:"replaces,omitempty"`
	Body        string    `json:"body,omitempty"`
	BodyBase64  string    `json:"body_base64,omitempty"`
}

type deadLetterDetail struct {
	deadLetterView
	Raw rawView `json:"raw"`
}

type seqCursor struct {
	Seq uint64 `json:"s"`
}

// listDeadLetters lists the dead letters, oldest raw message first.
func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	var cur seqCursor
	limit, err := page(r.URL.Query(), &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	all, err := s.cfg.Store.Inbox().DeadLetters(r.Context())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	i, _ := slices.BinarySearchFunc(all, cur.Seq+1, func(d engine.DeadLetter, seq uint64) int {
		return cmpUint(d.RawSeq, seq)
	})
	all = all[i:]
	items := make([]deadLetterView, 0, min(len(all), limit))
	for _, d := range all[:min(len(all), limit)] {
		items = append(items, viewDeadLetter(d))
	}
	if len(all) > limit {
		writeList(w, r, items, seqCursor{Seq: all[limit-1].RawSeq})
		return
	}
	writeList(w, r, items, nil)
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func rawSeq(r *http.Request) (uint64, error) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil || seq == 0 {
		return 0, badParam("seq", "want a raw message sequence number")
	}
	return seq, nil
}

// showDeadLetter shows a dead letter with its raw message. The raw body
// holds patient data, so the read is recorded in the access log.
func (s *Server) showDeadLetter(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	seq, err := rawSeq(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	d, err := s.cfg.Store.Inbox().DeadLetter(ctx, seq)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	m, err := s.cfg.Store.Inbox().Message(ctx, seq)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if err := s.record(ctx, principalFrom(ctx), uuid.Nil, nil, "dead-letter/"+strconv.FormatUint(seq, 10), true); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	raw := rawView{System: m.System, Sender: m.Sender, ControlID: m.ControlID, ContentType: m.ContentType, ReceivedAt: m.ReceivedAt, Replaces: m.Replaces}
	if utf8.Valid(m.Body) {
		raw.Body = string(m.Body)
	} else {
		raw.BodyBase64 = base64.StdEncoding.EncodeToString(m.Body)
	}
	writeJSON(w, http.StatusOK, deadLetterDetail{deadLetterView: viewDeadLetter(d), Raw: raw})
}

type replayResult struct {
	RawSeq    uint64    `json:"raw_seq"`
	Pathway   uuid.UUID `json:"pathway,omitzero"`
	Seqs      []uint64  `json:"seqs"`
	Duplicate bool      `json:"duplicate,omitempty"`
}

// replayDeadLetter runs a dead letter's message through again: as it is
// (after a fix of the mapping or the directory), or with the request
// body as a corrected message.
func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.Ingest == nil {
		writeProblem(w, r, ProblemFor(errNoIngest))
		return
	}
	seq, err := rawSeq(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	body, err := readBody(w, r, s.cfg.MaxMessage)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if len(body) == 0 {
		body = nil
	}
	out, err := s.cfg.Ingest.Replay(ctx, seq, body)
	if err != nil {
		var ie *engine.DeadLetterError
		if !errors.As(err, &ie) && !errors.Is(err, engine.ErrNoDeadLetter) {
			s.log.Warn("replay failed", "raw_seq", seq, "err", err)
		}
		writeProblem(w, r, ProblemFor(err))
		return
	}
	writeJSON(w, http.StatusOK, replayResult{RawSeq: out.RawSeq, Pathway: out.Pathway, Seqs: seqs(out.Result), Duplicate: out.Result.Duplicate})
}

type tokenRequest struct {
	Org   events.OrgID `json:"org"`
	Label string       `json:"label,omitempty"`
	// NATS asks for a NATS user too, that may subscribe to the
	// organisation's alerts and to nothing else.
	NATS bool `json:"nats,omitempty"`
}

type tokenResponse struct {
	Token string       `json:"token"`
	Org   events.OrgID `json:"org"`
	Label string       `json:"label,omitempty"`
	// NATSSeed is the NATS user's NKey seed, for nats --nkey FILE; like
	// the token, shown once and stored nowhere.
	NATSSeed     string   `json:"nats_seed,omitempty"`
	NATSKey      string   `json:"nats_key,omitempty"`
	NATSSubjects []string `json:"nats_subjects,omitempty"`
	// NATSNote says what an external cluster needs before the user works.
	NATSNote string `json:"nats_note,omitempty"`
}

// issueToken makes an organisation token. Only its hash is kept: the
// token is in this answer and nowhere else.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request) {
	var b tokenRequest
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if b.Org == "" {
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "org", Reason: "missing"}))
		return
	}
	if err := b.Org.Validate(); err != nil {
		writeProblem(w, r, ProblemFor(fieldError("org", err)))
		return
	}
	if len(b.Label) > 200 {
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "label", Reason: "longer than 200 bytes"}))
		return
	}
	resp := tokenResponse{Org: b.Org, Label: b.Label}
	var natsKey string
	if b.NATS {
		seed, err := s.issueNATSUser(r.Context(), b.Org)
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		natsKey, resp.NATSSeed, resp.NATSKey, resp.NATSSubjects = seed.Key, string(seed.seed), seed.Key, seed.Subjects
		if !s.cfg.Store.Subscribers().Live() {
			resp.NATSNote = natsNote
		}
	}
	tok, err := s.cfg.Tokens.Issue(r.Context(), b.Org, b.Label, natsKey)
	if err == nil {
		// A token handed out must still work after a crash of the machine.
		err = s.cfg.Store.Commit(r.Context())
	}
	if err != nil {
		if natsKey != "" {
			s.cfg.Store.Subscribers().Revoke(r.Context(), natsKey)
		}
		writeProblem(w, r, ProblemFor(err))
		return
	}
	resp.Token = tok
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, resp)
}

type issuedNATSUser struct {
	engine.SubscriberRecord
	seed []byte
}

// issueNATSUser makes the NATS user of a token: it may subscribe to the
// organisation's alerts and nothing else.
func (s *Server) issueNATSUser(ctx context.Context, org events.OrgID) (issuedNATSUser, error) {
	if s.cfg.NATSSubjects == nil {
		return issuedNATSUser{}, &events.ValidationError{Field: "nats", Reason: "this server issues no NATS users"}
	}
	seed, rec, err := s.cfg.Store.Subscribers().Issue(ctx, string(org), s.cfg.NATSSubjects(org))
	return issuedNATSUser{SubscriberRecord: rec, seed: seed}, err
}

// natsNote tells the operator of an external cluster what a change of
// NATS users needs.
const natsNote = "the NATS cluster reads its users from its configuration: write subscribers.conf on every node (stafet token nats-conf) and reload (nats-server --signal reload)"

type natsUsersResponse struct {
	Users []engine.SubscriberRecord `json:"users"`
	// Live says whether issued and revoked users take effect by
	// themselves (the embedded server); otherwise Note says what to do.
	Live bool   `json:"live"`
	Note string `json:"note,omitempty"`
}

// listNATSUsers lists the organisations' NATS users (public keys only).
func (s *Server) listNATSUsers(w http.ResponseWriter, r *http.Request) {
	subs := s.cfg.Store.Subscribers()
	users, err := subs.List(r.Context())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	resp := natsUsersResponse{Users: users, Live: subs.Live()}
	if users == nil {
		resp.Users = []engine.SubscriberRecord{}
	}
	if !resp.Live {
		resp.Note = natsNote
	}
	writeJSON(w, http.StatusOK, resp)
}

// natsUsersConf renders the users as an external cluster's
// subscribers.conf.
func (s *Server) natsUsersConf(w http.ResponseWriter, r *http.Request) {
	b, err := s.cfg.Store.Subscribers().Conf(r.Context())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(b)
}

type revokeRequest struct {
	Token string `json:"token"`
}

// revokeToken deletes an organisation token.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	var b revokeRequest
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	p, err := s.cfg.Tokens.Check(r.Context(), b.Token)
	switch {
	case errors.Is(err, errUnauthenticated):
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Field: "token", Detail: "no such token"})
		return
	case err != nil:
		writeProblem(w, r, ProblemFor(err))
		return
	case p.Operator:
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "token", Reason: "the operator token is set by configuration (STAFET_ADMIN_TOKEN), not revoked here"}))
		return
	}
	if p.NATSKey != "" {
		// The NATS user goes first: a failure leaves the token to revoke
		// again, never a NATS user without its token.
		if err := s.cfg.Store.Subscribers().Revoke(r.Context(), p.NATSKey); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
	}
	if err := s.cfg.Tokens.Revoke(r.Context(), b.Token); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rebuildLine is one line of a rebuild's stream: "progress" lines, then
// one "report" or "error".
type rebuildLine struct {
	Type           string  `json:"type"`
	Events         uint64  `json:"events"`
	Done           uint64  `json:"done"`
	Total          uint64  `json:"total"`
	Rate           float64 `json:"rate"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	ETASeconds     float64 `json:"eta_seconds"`
	// Same, Diff and Quarantined are in the report: whether the rebuilt
	// state equals the serving one byte for byte (replaying the whole log
	// again gave what the host had built event by event and from
	// checkpoints; absent when the projections take no snapshots), the
	// projections' account of the differences, and how many stored
	// messages the rebuild quarantined and are not resolved.
	Same        *bool  `json:"same,omitempty"`
	Diff        string `json:"diff,omitempty"`
	Quarantined int    `json:"quarantined,omitempty"`
	Detail      string `json:"detail,omitempty"`
}

func progressLine(st engine.ReplayStats) rebuildLine {
	return rebuildLine{Type: "progress", Events: st.Events, Done: st.Done, Total: st.Total, Rate: st.Rate,
		ElapsedSeconds: st.Elapsed.Seconds(), ETASeconds: st.Estimate.Seconds()}
}

// rebuild replays the whole log into a fresh Set beside the serving one,
// streaming progress as JSON lines, then swaps it in and reports whether
// it came out the same. The serving projections answer throughout. If the
// client goes away the rebuild stops and nothing is swapped.
func (s *Server) rebuild(w http.ResponseWriter, r *http.Request) {
	h := s.cfg.Projections
	if h == nil {
		writeProblem(w, r, ProblemFor(errNoProjections))
		return
	}
	if !s.rebuilding.CompareAndSwap(false, true) {
		writeProblem(w, r, Problem{Type: typeBusy, Status: http.StatusConflict, Detail: "a rebuild is running"})
		return
	}
	defer s.rebuilding.Store(false)
	fresh, err := projections.NewSet(s.cfg.Rules)
	if err != nil {
		writeProblem(w, r, Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Detail: err.Error()})
		return
	}
	fresh.UseDirectory(s.cfg.Directory)
	w.Header().Set("Content-Type", "application/x-ndjson")
	unbounded(w) // a rebuild of a long log takes longer than WriteTimeout
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	emit := func(l rebuildLine) {
		enc.Encode(l)
		rc.Flush()
	}
	emit(rebuildLine{Type: "progress", Total: h.Applied()})
	progress := make(chan engine.ReplayStats, 1)
	type result struct {
		rep engine.RebuildReport
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := h.Rebuild(r.Context(), fresh, func(st engine.ReplayStats) {
			select {
			case progress <- st:
			default: // the client is slow; it gets the next one
			}
		})
		done <- result{rep, err}
	}()
	for {
		select {
		case st := <-progress:
			emit(progressLine(st))
		case res := <-done:
			if res.err != nil {
				s.log.Warn("rebuild failed", "err", res.err)
				emit(rebuildLine{Type: "error", Detail: res.err.Error()})
				return
			}
			l := progressLine(res.rep.Stats)
			l.Type, l.Diff, l.Quarantined = "report", res.rep.Diff, res.rep.Quarantined
			if res.rep.Compared {
				l.Same = &res.rep.Same
			}
			emit(l)
			return
		}
	}
}
