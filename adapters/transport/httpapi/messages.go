package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// The message browser: inbound messages and dead letters searched by
// their receipts (engine.ReceiptIndex), which hold no body and no patient
// data, so a search opens nothing; one message shown with its raw body
// (decrypted for that read, which the access log records) beside its
// translation; the dead letters that match reprocessed after a mapping
// fix; and the counters of each channel and sender. The operator sees
// every message, an organisation the messages it sent.

var errNoReceipts = errors.New("httpapi: no message index configured")

func (s *Server) receipts() (*engine.ReceiptIndex, error) {
	if s.cfg.Receipts == nil {
		return nil, errNoReceipts
	}
	select {
	case <-s.cfg.Receipts.Ready():
		return s.cfg.Receipts, nil
	default:
		return nil, Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Detail: "the message index is still reading the receipts; retry in a moment"}
	}
}

// receiptView is a receipt as the API shows it; Dead says whether the
// message is a dead letter now.
type receiptView struct {
	engine.Receipt
	Dead bool `json:"dead"`
}

func viewReceipt(r engine.Receipt) receiptView { return receiptView{Receipt: r, Dead: r.Dead()} }

// messageQuery reads a search's parameters.
func messageQuery(q map[string][]string) (engine.ReceiptQuery, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	rq := engine.ReceiptQuery{System: get("channel"), Sender: get("sender"), ControlID: get("control_id"), Code: get("code"), Episode: get("episode")}
	switch a := strings.ToUpper(get("answer")); a {
	case "", engine.AnswerAccepted, engine.AnswerError, engine.AnswerRejected:
		rq.Answer = a
	default:
		return rq, badParam("answer", "want AA, AE or AR")
	}
	switch get("status") {
	case "", "all":
	case "dead":
		rq.Dead = true
	default:
		return rq, badParam("status", "want dead (the dead letters now) or all")
	}
	for _, p := range []struct {
		name string
		t    *time.Time
		end  bool
	}{{"from", &rq.From, false}, {"to", &rq.To, true}} {
		v := get(p.name)
		if v == "" {
			continue
		}
		if d, err := time.Parse(time.DateOnly, v); err == nil {
			// A date is a Danish calendar day; "to" includes it.
			*p.t = events.DayStart(d)
			if p.end {
				*p.t = p.t.AddDate(0, 0, 1)
			}
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return rq, badParam(p.name, "want a date (YYYY-MM-DD) or an RFC 3339 time")
		}
		*p.t = t
	}
	if v := get("pathway"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return rq, badParam("pathway", "want a pathway id (UUID)")
		}
		rq.Pathway = id
	}
	return rq, nil
}

// listMessages searches the inbound messages, newest first.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	x, err := s.receipts()
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	q := r.URL.Query()
	var cur seqCursor
	limit, err := page(q, &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	rq, err := messageQuery(q)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if p := principalFrom(r.Context()); !p.Operator {
		rq.Org = p.Org
	}
	rq.Before, rq.Limit = cur.Seq, limit
	found, more := x.Search(rq)
	items := make([]receiptView, 0, len(found))
	for _, f := range found {
		items = append(items, viewReceipt(f))
	}
	if more {
		writeList(w, r, items, seqCursor{Seq: found[len(found)-1].RawSeq})
		return
	}
	writeList(w, r, items, nil)
}

// messageDetail is one message: its receipt, its dead letter if it is
// one, the message as received and what its channel's translator makes of
// it now.
type messageDetail struct {
	Receipt     receiptView     `json:"receipt"`
	DeadLetter  *deadLetterView `json:"dead_letter,omitempty"`
	Raw         rawView         `json:"raw"`
	Translation translationView `json:"translation"`
}

// translationView is a translation without the patient: the raw body
// beside it names the patient already, for those who may read it.
type translationView struct {
	OK           bool            `json:"ok"`
	Events       []payloadView   `json:"events"`
	Episode      string          `json:"episode,omitempty"`
	OccurredAt   time.Time       `json:"occurred_at,omitzero"`
	Hospital     events.OrgID    `json:"hospital,omitempty"`
	Municipality events.OrgID    `json:"municipality,omitempty"`
	Parties      []events.Party  `json:"parties,omitempty"`
	Error        *translateError `json:"error,omitempty"`
}

type payloadView struct {
	Type events.Type     `json:"type"`
	Data json.RawMessage `json:"data"`
}

type translateError struct {
	Code   string `json:"code"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

func (s *Server) translationOf(m engine.RawMessage) translationView {
	v := translationView{Events: []payloadView{}}
	if s.cfg.Ingest == nil {
		v.Error = &translateError{Code: "no-translator", Reason: "this server runs no translators"}
		return v
	}
	tr, err := s.cfg.Ingest.Translate(m)
	if err != nil {
		v.Error = &translateError{Code: "invalid", Reason: err.Error()}
		var me *events.MessageError
		if errors.As(err, &me) {
			v.Error = &translateError{Code: me.Code, Field: me.Field, Reason: me.Reason}
		}
		return v
	}
	v.OK, v.Episode, v.OccurredAt, v.Hospital, v.Municipality, v.Parties = true, tr.Episode, tr.OccurredAt, tr.Hospital, tr.Municipality, tr.Parties
	for _, p := range tr.Payloads {
		b, _ := json.Marshal(p)
		v.Events = append(v.Events, payloadView{Type: p.Type(), Data: b})
	}
	return v
}

// showMessage shows one message with its translation. The body holds
// patient data: the read is recorded in the access log (for the parties
// of the message's pathway when it has one), allowed or not, before
// anything is answered.
func (s *Server) showMessage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := principalFrom(ctx)
	x, err := s.receipts()
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	seq, err := rawSeq(r)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	rc, ok := x.Receipt(seq)
	if !ok {
		writeProblem(w, r, Problem{Type: typeNotFound, Status: http.StatusNotFound, Field: "seq", Detail: "no inbound message with this raw sequence"})
		return
	}
	allowed := p.Operator || x.SentBy(seq, p.Org)
	var parties []events.OrgID
	if rc.Pathway != uuid.Nil {
		history, err := s.cfg.Store.Log().Load(ctx, rc.Pathway)
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		parties = events.Parties(history)
	}
	if err := s.record(ctx, p, rc.Pathway, parties, "message/"+strconv.FormatUint(seq, 10), allowed); err != nil {
		writeProblem(w, r, Problem{Type: typeUnavailable, Status: http.StatusServiceUnavailable, Detail: "the access log could not be written, so the message is not shown; retry later"})
		return
	}
	if !allowed {
		writeProblem(w, r, forbidden("an organisation sees the messages it sent only; the attempt is recorded"))
		return
	}
	m, err := s.cfg.Store.Inbox().Message(ctx, seq)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	out := messageDetail{Receipt: viewReceipt(rc), Raw: viewRaw(m), Translation: s.translationOf(m)}
	if d, err := s.cfg.Store.Inbox().DeadLetter(ctx, seq); err == nil {
		v := viewDeadLetter(d)
		out.DeadLetter = &v
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func viewRaw(m engine.RawMessage) rawView {
	raw := rawView{System: m.System, Sender: m.Sender, ControlID: m.ControlID, ContentType: m.ContentType, ReceivedAt: m.ReceivedAt, Replaces: m.Replaces}
	if utf8.Valid(m.Body) {
		raw.Body = string(m.Body)
	} else {
		raw.BodyBase64 = base64.StdEncoding.EncodeToString(m.Body)
	}
	return raw
}

// maxReprocess bounds one reprocessing request: the rest is reprocessed by
// asking again.
const maxReprocess = 1000

type reprocessRequest struct {
	// Seqs names the dead letters to run again; without them, every dead
	// letter the query parameters match (as GET /v1/messages), up to
	// maxReprocess.
	Seqs []uint64 `json:"seqs,omitempty"`
}

type reprocessed struct {
	RawSeq  uint64    `json:"raw_seq"`
	OK      bool      `json:"ok"`
	Pathway uuid.UUID `json:"pathway,omitzero"`
	Seqs    []uint64  `json:"seqs,omitempty"`
	// Code and Reason say why it failed again.
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type reprocessAnswer struct {
	Tried     int           `json:"tried"`
	Succeeded int           `json:"succeeded"`
	Failed    int           `json:"failed"`
	More      bool          `json:"more"`
	Results   []reprocessed `json:"results"`
}

// reprocessMessages runs dead letters through the intake again, as they
// were received: after a fix of the mapping or the directory. Those that
// go through leave the dead letters.
func (s *Server) reprocessMessages(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.Ingest == nil {
		writeProblem(w, r, ProblemFor(errNoIngest))
		return
	}
	x, err := s.receipts()
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	var b reprocessRequest
	if err := s.decode(w, r, &b, true); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	todo, more := b.Seqs, false
	if len(todo) > maxReprocess {
		writeProblem(w, r, ProblemFor(&events.ValidationError{Field: "seqs", Reason: fmt.Sprintf("at most %d at once", maxReprocess)}))
		return
	}
	if len(todo) == 0 {
		rq, err := messageQuery(r.URL.Query())
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		rq.Dead, rq.Limit = true, maxReprocess
		var found []engine.Receipt
		found, more = x.Search(rq)
		// Oldest first, as they came.
		for i := len(found) - 1; i >= 0; i-- {
			todo = append(todo, found[i].RawSeq)
		}
	}
	out := reprocessAnswer{Results: []reprocessed{}, More: more}
	for _, seq := range todo {
		res := reprocessed{RawSeq: seq}
		o, err := s.cfg.Ingest.Replay(ctx, seq, nil)
		var de *engine.DeadLetterError
		switch {
		case err == nil:
			res.OK, res.Pathway, res.Seqs = true, o.Pathway, seqs(o.Result)
			out.Succeeded++
		case errors.As(err, &de):
			res.Code, res.Reason = de.DeadLetter.Code, de.DeadLetter.Reason
			out.Failed++
		case errors.Is(err, engine.ErrNoDeadLetter):
			res.Code, res.Reason = "not-a-dead-letter", "the message is no dead letter (any more)"
			out.Failed++
		default:
			if ctx.Err() != nil {
				writeProblem(w, r, ProblemFor(ctx.Err()))
				return
			}
			s.log.Warn("reprocess failed", "raw_seq", seq, "err", err)
			res.Code, res.Reason = "unavailable", "the store did not answer; reprocess again"
			out.Failed++
		}
		out.Results = append(out.Results, res)
	}
	out.Tried = len(out.Results)
	writeJSON(w, http.StatusOK, out)
}

// listChannels answers the counters of each channel and sender: the
// operator's of all, an organisation's of its own senders.
func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	x, err := s.receipts()
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	p := principalFrom(r.Context())
	org := p.Org
	if p.Operator {
		org = ""
	}
	writeList(w, r, x.Senders(org), nil)
}
