package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// The access log: every read of a pathway, allowed or refused, every
// break-the-glass read, and every join of an organisation to a pathway it
// was not party to, once for each party organisation of the pathway,
// under
//
//	stafet.access.<party>.<reader>
//
// where both are organisation tokens (kommune-0751, sor-6620000000001),
// <reader> is "operator" for the operator and <party> is "stafet" for a
// record that concerns no organisation (a dead letter's raw message). No
// personal data is in the subjects. The stream denies delete and purge:
// an access log is evidence.
const (
	AccessStream   = "STAFET_ACCESS"
	AccessSubjects = "stafet.access.>"
	// OperatorReader names the operator as a reader.
	OperatorReader = "operator"
	// NoParty is the party token of a record that concerns no
	// organisation.
	NoParty = "stafet"
)

// AccessRecord is one read or join as the access log keeps it.
type AccessRecord struct {
	At time.Time `json:"at"`
	// Reader is "operator" or the reading (or joining) organisation's id;
	// Label is the label of its token.
	Reader string `json:"reader"`
	Label  string `json:"label,omitempty"`
	// Pathway is the pathway read; absent for a dead letter.
	Pathway uuid.UUID `json:"pathway,omitzero"`
	// What was read: "pathway", "pathway+identity", "dead-letter/<seq>",
	// "fhir/Task", …; for a join, "join/<event type>".
	What    string `json:"what"`
	Allowed bool   `json:"allowed"`
	// Reason is the reader's stated reason for a break-the-glass read: one
	// without a current or recent care relationship with the patient.
	Reason string `json:"reason,omitempty"`
}

// JoinWhat is the AccessRecord.What of a join by an event of type t.
func JoinWhat(t events.Type) string { return "join/" + string(t) }

// AccessLog is the access log (STAFET_ACCESS), a Journal of the
// engine's own: the intake records joins in it. Get it from Store.Access.
type AccessLog struct {
	j *Journal
}

// Access returns the access log.
func (s *Store) Access() *AccessLog { return s.access }

func (s *Store) setupAccess(ctx context.Context) error {
	j, err := s.Journal(ctx, JournalConfig{
		Name: AccessStream, Description: "who read which pathway, and who joined it (one record per party organisation)",
		Subjects: []string{AccessSubjects}, MaxAge: s.cfg.AccessRetention, Evidence: true,
	})
	if err != nil {
		return err
	}
	s.access.j = j
	return nil
}

// ReaderToken is a reader's token in an access subject.
func ReaderToken(reader string) string {
	if reader == OperatorReader {
		return OperatorReader
	}
	return events.OrgID(reader).Token()
}

// OrgOfToken turns a subject token back into an organisation id: the
// scheme never holds '-', so the first '-' was the ':'. "" for the
// operator and for no party.
func OrgOfToken(tok string) events.OrgID {
	if tok == NoParty || tok == OperatorReader {
		return ""
	}
	return events.OrgID(strings.Replace(tok, "-", ":", 1))
}

// Record writes one record per party (one under NoParty when there is
// none) and waits until every one is stored: a read is answered, and a
// join appended, only once its record is kept.
func (a *AccessLog) Record(ctx context.Context, rec AccessRecord, parties []events.OrgID) error {
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	toks := make([]string, 0, len(parties))
	for _, org := range parties {
		toks = append(toks, org.Token())
	}
	if len(toks) == 0 {
		toks = append(toks, NoParty)
	}
	recs := make([]Record, 0, len(toks))
	for _, tok := range toks {
		recs = append(recs, Record{Subject: "stafet.access." + tok + "." + ReaderToken(rec.Reader), Data: body})
	}
	return a.j.AppendAll(ctx, recs...)
}

// AccessQuery asks for a batch of access records: from Seq (or, with Seq
// 0, from Since) on, on subjects matching Filter, at most Batch.
type AccessQuery struct {
	Seq    uint64
	Since  time.Time
	Filter string
	Batch  int
}

// StoredAccess is one access record as stored.
type StoredAccess struct {
	Seq uint64
	// Party is the organisation the record was filed under; empty for
	// NoParty.
	Party  events.OrgID
	Record AccessRecord
}

// AccessBatch is one batch of the access log.
type AccessBatch struct {
	Records []StoredAccess
	// Next is the sequence to read on from; More says whether the batch
	// was full, so there may be more.
	Next uint64
	More bool
}

// Batch reads one batch of records, oldest first (Journal.Read). Records
// that do not decode are skipped.
func (a *AccessLog) Batch(ctx context.Context, q AccessQuery) (AccessBatch, error) {
	var out AccessBatch
	es, err := a.j.Read(ctx, Query{Filter: q.Filter, From: q.Seq, Since: q.Since, Max: q.Batch})
	if err != nil {
		return out, err
	}
	out.More = len(es) >= q.Batch
	for _, e := range es {
		out.Next = e.Seq + 1
		var r StoredAccess
		if json.Unmarshal(e.Data, &r.Record) != nil {
			continue
		}
		r.Seq = e.Seq
		if toks := strings.Split(e.Subject, "."); len(toks) == 4 {
			r.Party = OrgOfToken(toks[2])
		}
		out.Records = append(out.Records, r)
	}
	return out, nil
}
