package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// The access log: every read of a pathway, allowed or refused, once for
// each party organisation of the pathway, under
//
//	stafet.access.<party>.<reader>
//
// where both are organisation tokens (kommune-0751, sor-6620000000001),
// <reader> is "operator" for the operator and <party> is "stafet" for a
// read that concerns no organisation (a dead letter's raw message). No
// personal data is in the subjects or the records. The stream denies
// delete and purge: an access log is evidence.
const (
	AccessStream   = "STAFET_ACCESS"
	AccessSubjects = "stafet.access.>"
)

// AccessRecord is one read as the access log keeps it.
type AccessRecord struct {
	At time.Time `json:"at"`
	// Reader is "operator" or the reading organisation's id; Label is the
	// label of its token.
	Reader string `json:"reader"`
	Label  string `json:"label,omitempty"`
	// Pathway is the pathway read; absent for a dead letter.
	Pathway uuid.UUID `json:"pathway,omitzero"`
	// What was read: "pathway", "pathway+identity", "dead-letter/<seq>".
	What    string `json:"what"`
	Allowed bool   `json:"allowed"`
}

// accessEntry is an AccessRecord as a list shows it.
type accessEntry struct {
	Seq uint64 `json:"seq"`
	// Party is the organisation whose patient's pathway was read.
	Party events.OrgID `json:"party,omitempty"`
	AccessRecord
}

const (
	operatorToken = "operator"
	noPartyToken  = "stafet"
)

func readerToken(p Principal) string {
	if p.Operator {
		return operatorToken
	}
	return p.Org.Token()
}

// orgOfToken turns a subject token back into an organisation id: the
// scheme never holds '-', so the first '-' was the ':'.
func orgOfToken(tok string) events.OrgID {
	if tok == noPartyToken || tok == operatorToken {
		return ""
	}
	return events.OrgID(strings.Replace(tok, "-", ":", 1))
}

type accessLog struct {
	js jetstream.JetStream
	nc *nats.Conn
}

// accessLog returns the access log, creating its stream on first use.
func (s *Server) accessLog(ctx context.Context) (*accessLog, error) {
	s.accessMu.Lock()
	defer s.accessMu.Unlock()
	if s.access != nil {
		return s.access, nil
	}
	js := s.cfg.Store.JetStream()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: AccessStream, Description: "who read which pathway (one record per party organisation)",
		Subjects: []string{AccessSubjects}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		Replicas: s.cfg.Store.Config().Replicas, MaxAge: s.cfg.AccessRetention, Discard: jetstream.DiscardOld,
		AllowDirect: true, DenyDelete: true, DenyPurge: true,
	})
	if err != nil {
		return nil, fmt.Errorf("httpapi: access log: %w", err)
	}
	s.access = &accessLog{js: js, nc: s.cfg.Store.Conn()}
	return s.access, nil
}

// record writes one access record per party and waits until every one
// is stored: the answer to a read goes out only once its record is kept.
func (s *Server) record(ctx context.Context, reader Principal, pathway uuid.UUID, partyOrgs []events.OrgID, what string, allowed bool) error {
	log, err := s.accessLog(ctx)
	if err != nil {
		return err
	}
	rec := AccessRecord{At: s.cfg.Now().UTC(), Reader: reader.Name(), Label: reader.Label, Pathway: pathway, What: what, Allowed: allowed}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	toks := make([]string, 0, len(partyOrgs))
	for _, org := range partyOrgs {
		toks = append(toks, org.Token())
	}
	if len(toks) == 0 {
		toks = append(toks, noPartyToken)
	}
	futures := make([]jetstream.PubAckFuture, 0, len(toks))
	for _, tok := range toks {
		f, err := log.js.PublishAsync("stafet.access."+tok+"."+readerToken(reader), body)
		if err != nil {
			return fmt.Errorf("httpapi: access log: %w", err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("httpapi: access log: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// accessCursor is the last record of a page.
type accessCursor struct {
	Seq uint64 `json:"s"`
}

// listAccess lists the access log: an organisation sees the reads of
// pathways it is party to, the operator every record (narrowed with
// ?org=). ?reader= narrows to one reader, ?pathway= to one pathway,
// ?since= starts at a time. Oldest first.
func (s *Server) listAccess(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	q := r.URL.Query()
	var cur accessCursor
	limit, err := page(q, &cur)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	party := "*"
	if v := q.Get("org"); v != "" {
		org := events.OrgID(v)
		if org.Validate() != nil {
			writeProblem(w, r, badParam("org", "want an organisation id such as kommune:0751"))
			return
		}
		party = org.Token()
	}
	if !p.Operator {
		if party != "*" && party != p.Org.Token() {
			writeProblem(w, r, forbidden("an organisation sees only the access log of its own patients' pathways"))
			return
		}
		party = p.Org.Token()
	}
	reader := "*"
	if v := q.Get("reader"); v != "" {
		if v == operatorToken {
			reader = operatorToken
		} else if org := events.OrgID(v); org.Validate() == nil {
			reader = org.Token()
		} else {
			writeProblem(w, r, badParam("reader", "want operator or an organisation id"))
			return
		}
	}
	var pathway uuid.UUID
	if v := q.Get("pathway"); v != "" {
		if pathway, err = uuid.Parse(v); err != nil {
			writeProblem(w, r, badParam("pathway", "want a pathway id (UUID)"))
			return
		}
	}
	since, err := queryTime(q, "since", time.Time{})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	log, err := s.accessLog(r.Context())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	req := directGet{Seq: cur.Seq + 1, NextFor: "stafet.access." + party + "." + reader, Batch: limit + 1}
	if cur.Seq == 0 && !since.IsZero() {
		req.Seq, req.StartTime = 0, &since
	}
	var items []accessEntry
	for len(items) <= limit {
		msgs, err := log.batch(r.Context(), req)
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		for _, m := range msgs {
			var e accessEntry
			if json.Unmarshal(m.data, &e.AccessRecord) != nil {
				continue
			}
			if pathway != uuid.Nil && e.Pathway != pathway {
				continue
			}
			e.Seq = m.seq
			if toks := strings.Split(m.subject, "."); len(toks) == 4 {
				e.Party = orgOfToken(toks[2])
			}
			items = append(items, e)
		}
		if len(msgs) < req.Batch {
			break
		}
		req.Seq, req.StartTime = msgs[len(msgs)-1].seq+1, nil
	}
	if len(items) > limit {
		writeList(w, r, items[:limit], accessCursor{Seq: items[limit-1].Seq})
		return
	}
	writeList(w, r, items, nil)
}

// directGet is a JetStream Direct Get request.
type directGet struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

type storedMsg struct {
	seq     uint64
	subject string
	data    []byte
}

// batch runs one batch Direct Get on the access stream.
func (a *accessLog) batch(ctx context.Context, req directGet) ([]storedMsg, error) {
	body, _ := json.Marshal(req)
	inbox := a.nc.NewRespInbox()
	sub, err := a.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("httpapi: access log: %w", err)
	}
	defer sub.Unsubscribe()
	if err := a.nc.PublishRequest("$JS.API.DIRECT.GET."+AccessStream, inbox, body); err != nil {
		return nil, fmt.Errorf("httpapi: access log: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []storedMsg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("httpapi: access log: %w", err)
		}
		if status := m.Header.Get("Status"); len(m.Data) == 0 && status != "" {
			switch status {
			case "204", "404":
				return out, nil
			}
			return nil, fmt.Errorf("httpapi: access log: status %s %s", status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, errors.New("httpapi: access log: reply without a sequence")
		}
		out = append(out, storedMsg{seq: seq, subject: m.Header.Get("Nats-Subject"), data: m.Data})
	}
}
