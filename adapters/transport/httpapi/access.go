package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// The access log is the engine's (engine.AccessLog): every read of a
// pathway, allowed or refused, every break-the-glass read and every join,
// once for each party organisation. This file writes the reads and lists
// the log.

// accessEntry is an engine.AccessRecord as a list shows it.
type accessEntry struct {
	Seq uint64 `json:"seq"`
	// Party is the organisation whose patient's pathway was read.
	Party events.OrgID `json:"party,omitempty"`
	engine.AccessRecord
}

// record writes one access record per party and waits until every one
// is stored: the answer to a read goes out only once its record is kept.
func (s *Server) record(ctx context.Context, reader Principal, pathway uuid.UUID, partyOrgs []events.OrgID, what string, allowed bool) error {
	return s.recordReason(ctx, reader, pathway, partyOrgs, what, allowed, "")
}

// recordReason is record with the reader's stated reason (a
// break-the-glass read).
func (s *Server) recordReason(ctx context.Context, reader Principal, pathway uuid.UUID, partyOrgs []events.OrgID, what string, allowed bool, reason string) error {
	rec := engine.AccessRecord{At: s.cfg.Now().UTC(), Reader: reader.Name(), Label: reader.Label, Pathway: pathway, What: what, Allowed: allowed, Reason: reason}
	if err := s.cfg.Store.Access().Record(ctx, rec, partyOrgs); err != nil {
		return fmt.Errorf("httpapi: %w", err)
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
		if v == engine.OperatorReader {
			reader = engine.OperatorReader
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
	q2 := engine.AccessQuery{Seq: cur.Seq + 1, Filter: "stafet.access." + party + "." + reader, Batch: limit + 1}
	if cur.Seq == 0 && !since.IsZero() {
		q2.Seq, q2.Since = 0, since
	}
	var items []accessEntry
	for len(items) <= limit {
		b, err := s.cfg.Store.Access().Batch(r.Context(), q2)
		if err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
		for _, m := range b.Records {
			if pathway != uuid.Nil && m.Record.Pathway != pathway {
				continue
			}
			items = append(items, accessEntry{Seq: m.Seq, Party: m.Party, AccessRecord: m.Record})
		}
		if !b.More {
			break
		}
		q2.Seq, q2.Since = b.Next, time.Time{}
	}
	if len(items) > limit {
		writeList(w, r, items[:limit], accessCursor{Seq: items[limit-1].Seq})
		return
	}
	writeList(w, r, items, nil)
}
