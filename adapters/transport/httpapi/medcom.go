package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// medcomTypes are the media types POST /v1/medcom takes.
var medcomTypes = map[string]bool{
	"application/fhir+json": true, "application/fhir+xml": true,
	"application/json": true, "application/xml": true, "text/xml": true,
}

// medcomOutcome answers a MedCom message that cannot be acknowledged in
// MedCom's own format (an acknowledgement is not acknowledged).
type medcomOutcome struct {
	RawSeq    uint64    `json:"raw_seq"`
	Pathway   uuid.UUID `json:"pathway,omitzero"`
	Seqs      []uint64  `json:"seqs"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Code      string    `json:"code"`
	Reason    string    `json:"reason,omitempty"`
}

// receiveMedCom takes one MedCom FHIR message. It is stored raw before
// anything else, whatever it holds, so nothing is lost: a body that is
// not a MedCom message at all goes to the dead letters and is answered
// with a problem; a message that was understood is answered with its
// MedCom Acknowledgement: ok, fatal-error with the reason when it is
// invalid (it waits in the dead letters), transient-error when the store
// failed (send it again), or the volume is nearly full (507); fatal-error
// with 413 when it is too large to store, which no resend can mend.
func (s *Server) receiveMedCom(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.cfg.Ingest == nil {
		writeProblem(w, r, ProblemFor(errNoIngest))
		return
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !medcomTypes[ct] {
		writeProblem(w, r, Problem{Type: typeMediaType, Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Detail: "want application/fhir+json or application/fhir+xml"})
		return
	}
	p := principalFrom(ctx)
	if ok, wait := s.messages.Allow(p.Name(), 1); !ok {
		s.rateLimited(w, r, wait, "more MedCom messages a second than this token may send")
		return
	}
	body, err := readBody(w, r, s.cfg.MaxMessage)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	raw := engine.RawMessage{System: "medcom", ContentType: ct, Body: body}
	// A message that breaks a MedCom profile is still answered in MedCom's
	// way (fatal-error, naming the element, which the translator finds
	// again) when its header can be read.
	m, perr := medcom.ParseUnchecked(body)
	if perr != nil {
		s.unreadable(w, r, raw, p, perr)
		return
	}
	raw.Sender = m.Sender.SOR
	if raw.Sender == "" {
		raw.Sender = m.Sender.EAN
	}
	raw.ControlID = m.BundleID + "|" + m.HeaderID
	if !p.Operator && s.senderOrg(raw.Sender) != p.Org {
		s.notSender(w, r, raw, p)
		return
	}
	out, err := s.cfg.Ingest.Receive(ctx, raw)
	o, status := medcom.Outcome{Code: "ok"}, http.StatusOK
	var ie *engine.DeadLetterError
	switch {
	case errors.As(err, &ie) && sendersFault(ie.DeadLetter.Code):
		d := ie.DeadLetter
		o, status = medcom.Outcome{Code: "fatal-error", Reason: deadReason(d), Problem: d.Code, Element: d.Field}, http.StatusUnprocessableEntity
	case errors.As(err, &ie):
		// Valid, and stored, but not appended for a reason of Stafet's
		// own (a discharge before its admission): delivered all the same.
		// An operator replays it from the dead letters.
		s.log.Info("medcom message kept as a dead letter and acknowledged ok", "raw_seq", out.RawSeq, "code", ie.DeadLetter.Code)
	case errors.Is(err, engine.ErrTooLarge):
		// Permanent: the same message will never fit. Not "transient",
		// which would have the sender resend it for ever.
		s.log.Warn("medcom message too large for the raw store; not stored", "bytes", len(body))
		o, status = medcom.Outcome{Code: "fatal-error", Reason: "the message is larger than Stafet can store in one piece; it is not recorded: do not send it again unchanged"}, http.StatusRequestEntityTooLarge
	case errors.Is(err, engine.ErrNoRoom):
		s.log.Warn("medcom message refused: the data volume is nearly full")
		o, status = medcom.Outcome{Code: "transient-error", Reason: "Stafet's storage is nearly full; the message is not recorded: send it again later"}, http.StatusInsufficientStorage
		w.Header().Set("Retry-After", RetryAfter)
	case err != nil:
		s.log.Warn("medcom message not stored", "err", err)
		o, status = medcom.Outcome{Code: "transient-error", Reason: "the message could not be stored; send it again later"}, http.StatusServiceUnavailable
		w.Header().Set("Retry-After", RetryAfter)
	}
	if out.RawSeq != 0 {
		w.Header().Set("Stafet-Raw-Seq", strconv.FormatUint(out.RawSeq, 10))
	}
	if out.Pathway != uuid.Nil {
		w.Header().Set("Stafet-Pathway", out.Pathway.String())
	}
	ack, aerr := o.Acknowledge(m, s.cfg.Now().UTC(), uuid.NewString)
	answer := "application/fhir+json"
	if aerr == nil && wantsXML(r.Header.Get("Accept")) {
		ack, aerr = medcom.ToXML(ack)
		answer = "application/fhir+xml"
	}
	if aerr != nil {
		res := medcomOutcome{RawSeq: out.RawSeq, Pathway: out.Pathway, Seqs: seqs(out.Result), Duplicate: out.Result.Duplicate, Code: o.Code, Reason: o.Reason}
		writeJSON(w, status, res)
		return
	}
	w.Header().Set("Content-Type", answer)
	w.WriteHeader(status)
	w.Write(ack)
}

// sendersFault reports a dead letter the sender must correct: the
// message itself is wrong (a profile, a code, an organisation Stafet
// cannot name), or the sender is not party to the patient's pathway and
// does not start its own care (the care relationship rule). A message refused for the state of its pathway (a rule,
// a pathway or document Stafet does not hold) is valid: MedCom's
// acknowledgement confirms delivery, and the sender can do nothing about
// it.
func sendersFault(code string) bool {
	switch {
	case code == "rule:"+events.RuleNotParty:
		// Not the pathway's state: the sender has no standing to say
		// this about the patient, and must know it was refused.
		return true
	case strings.HasPrefix(code, "rule:"), code == "unknown-pathway", code == "nothing-to-cancel", code == "unknown-document":
		return false
	}
	return true
}

// wantsXML reads an Accept header: true when it prefers FHIR XML
// (application/fhir+xml, application/xml or text/xml) to JSON. Without a
// preference the answer is JSON, as it always was: senders that want XML
// back say so.
func wantsXML(accept string) bool {
	best, bestQ := "", -1.0
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		format := ""
		switch mt {
		case "application/fhir+xml", "application/xml", "text/xml":
			format = "xml"
		case "application/fhir+json", "application/json":
			format = "json"
		}
		if format != "" && q > bestQ {
			best, bestQ = format, q
		}
	}
	return best == "xml" && bestQ > 0
}

// notSender stores a message whose MessageHeader.sender is not the
// token's organisation under a sender key of its own (a forgery must not
// take the control id of the organisation it claims to be, whose real
// message would then pass for its resend), dead-letters it not-sender
// and answers 403: the token may not speak for that sender.
func (s *Server) notSender(w http.ResponseWriter, r *http.Request, raw engine.RawMessage, p Principal) {
	claimed := raw.Sender
	if claimed == "" {
		claimed = "(none)"
	}
	raw.Sender = "refused:" + p.Name() + ":" + raw.Sender
	reason := "the token's organisation " + string(p.Org) + " does not speak for the message's sender " + claimed
	_, err := s.cfg.Ingest.ReceiveChecked(r.Context(), raw, func(*events.Translation) error {
		return &events.MessageError{Code: events.CodeNotSender, Field: "MessageHeader.sender", Rejected: true, Reason: reason}
	})
	var ie *engine.DeadLetterError
	if !errors.As(err, &ie) {
		// Not stored (too large, no room, the store failing): say that,
		// not the refusal, so the sender knows nothing was kept.
		writeProblem(w, r, ProblemFor(err))
		return
	}
	s.log.Warn("medcom message refused: its sender is not the token's organisation", "org", string(p.Org), "raw_seq", ie.DeadLetter.RawSeq)
	prob := forbidden(reason + "; stored as raw message " + strconv.FormatUint(ie.DeadLetter.RawSeq, 10) + " in the dead letters")
	prob.Code, prob.Field, prob.RawSeq = events.CodeNotSender, "MessageHeader.sender", ie.DeadLetter.RawSeq
	writeProblem(w, r, prob)
}

// unreadable stores a body that is not a readable MedCom message, so it
// can be inspected and replayed, and answers with a problem.
func (s *Server) unreadable(w http.ResponseWriter, r *http.Request, raw engine.RawMessage, p Principal, perr error) {
	if ok, wait := s.garbage.Allow(p.Name(), max(len(raw.Body), 4<<10)); !ok {
		s.rateLimited(w, r, wait, "more bodies that are no MedCom message than this token may have stored in an hour ("+perr.Error()+")")
		return
	}
	sum := sha256.Sum256(raw.Body)
	raw.Sender = p.Name()
	raw.ControlID = "unparsed:" + hex.EncodeToString(sum[:16])
	out, err := s.cfg.Ingest.Receive(r.Context(), raw)
	var ie *engine.DeadLetterError
	if err != nil && !errors.As(err, &ie) {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	prob := ProblemFor(perr)
	prob.RawSeq = out.RawSeq
	if ie != nil {
		prob.RawSeq = ie.DeadLetter.RawSeq
	}
	prob.Detail += "; the body is stored as raw message " + strconv.FormatUint(prob.RawSeq, 10) + " in the dead letters"
	writeProblem(w, r, prob)
}

// rateLimited answers 429 with Retry-After: nothing was stored.
func (s *Server) rateLimited(w http.ResponseWriter, r *http.Request, wait time.Duration, why string) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, r, Problem{Type: typeRateLimited, Title: "Too many requests", Status: http.StatusTooManyRequests,
		Detail: why + "; nothing was stored: send it again after " + strconv.Itoa(secs) + " s"})
}

// senderOrg resolves a MedCom sender's SOR or EAN number.
func (s *Server) senderOrg(sender string) events.OrgID {
	if sender == "" {
		return ""
	}
	if o, ok := s.cfg.Directory.Resolve(sender); ok {
		return o.ID
	}
	return events.SOR(sender)
}

func deadReason(d engine.DeadLetter) string {
	if d.Field != "" {
		return d.Field + ": " + d.Reason
	}
	return d.Reason
}

func seqs(res engine.Result) []uint64 {
	out := []uint64{}
	if res.Duplicate {
		return append(out, res.FirstSeq)
	}
	for _, e := range res.Events {
		out = append(out, e.Seq)
	}
	return out
}
