package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// The quarantine (docs/operations.md): a stored message this build
// cannot take in — not an event, an event that fails validation, a type
// or schema version it does not know, or one that makes a projection
// fail — is read as a Quarantined stand-in, so every reader skips it in
// the same way and goes on. The operator's decision about it is a
// stored event, QuarantineResolved: the log stays append-only.

// TypeQuarantined names the stand-in payload. It is not in the event
// catalogue (written as a conversion, so codecgen does not take it for
// one): nothing stores it, and a stored message claiming the type is
// itself quarantined as of an unknown type.
const TypeQuarantined = Type("Quarantined")

// QuarantineReason says why a stored message was quarantined.
type QuarantineReason string

// Quarantine reasons.
const (
	// QuarantineUndecodable: not an event in the stored form at all.
	QuarantineUndecodable QuarantineReason = "undecodable"
	// QuarantineInvalid: an event that fails validation.
	QuarantineInvalid QuarantineReason = "invalid"
	// QuarantineUnknownType: a type or schema version this build does not
	// know, typically written by a newer version: take it in after the
	// upgrade.
	QuarantineUnknownType QuarantineReason = "unknown-type"
	// QuarantineProjectionFailed: a projection returned an error applying
	// it.
	QuarantineProjectionFailed QuarantineReason = "projection-failed"
	// QuarantineUnauthentic: not stored by the deployment's own stafetd —
	// its chain MAC does not match its bytes, or it lacks the chain where
	// every message carries one (a changed byte, a forged message).
	QuarantineUnauthentic QuarantineReason = "unauthentic"
)

// Quarantined stands in a pathway's history, and in what projections are
// fed, for a stored message that could not be taken in. It holds where
// the message is and why, never its content: Hash identifies the bytes,
// and Detail is the error with quoted values and long numbers taken out.
type Quarantined struct {
	Seq     uint64           `json:"seq"`
	Subject string           `json:"subject"`
	Reason  QuarantineReason `json:"reason"`
	Detail  string           `json:"detail"`
	Hash    string           `json:"hash"`
}

// Type implements Payload.
func (*Quarantined) Type() Type { return TypeQuarantined }

// Validate implements Payload; a stand-in is made by the engine, never
// sent, so there is nothing to check.
func (*Quarantined) Validate() error { return nil }

// Quarantine classifies why the stored message data at seq on subject
// could not be read (err from DecodeCommit or Validate) and returns its
// stand-in.
func Quarantine(seq uint64, subject string, data []byte, err error) *Quarantined {
	q := &Quarantined{Seq: seq, Subject: subject, Hash: Hash(data), Reason: QuarantineUndecodable}
	var ve *ValidationError
	switch {
	case errors.Is(err, ErrUnknownType), errors.Is(err, ErrFutureSchema):
		q.Reason = QuarantineUnknownType
	case errors.As(err, &ve) && ve.Field != "type" && ve.Field != "schema":
		q.Reason = QuarantineInvalid
	}
	q.Detail = SafeDetail(err)
	return q
}

// Hash is the quarantine's name for a stored message's bytes:
// "sha256:" and the hex digest.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

var (
	// Quoted text: double quotes, back quotes, and single quotes around a
	// word (a decoder's 'o' of one character stays).
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^'\s]{2,}'|\x60[^\x60]*\x60`)
	// A number of five or more digits, or a CPR number with its dash, not
	// part of a longer token (an id's digits stay).
	longNumber = regexp.MustCompile(`(^|[^0-9A-Za-z_-])([0-9]{6}-[0-9]{4}|[0-9]{5,})($|[^0-9A-Za-z_-])`)
)

// SafeDetail is an error's text fit for a quarantine record, a log line
// or a metric: a decoder's error may quote the value it choked on (a
// name, a CPR number as a JSON number), so quoted text and numbers of five
// or more digits are replaced by "…" (digits within an id stay), and the
// text is cut at 300 bytes.
func SafeDetail(err error) string {
	if err == nil {
		return ""
	}
	s := quoted.ReplaceAllString(err.Error(), `"…"`)
	s = longNumber.ReplaceAllString(s, "${1}…${3}")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// quarantineIDs names stand-ins: the same message gets the same id on
// every replay and instance.
var quarantineIDs = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:stafet:quarantined"))

// Envelope returns the stand-in as an event of pathway (uuid.Nil when its
// subject names none), recorded at at.
func (q *Quarantined) Envelope(pathway uuid.UUID, at time.Time) Envelope {
	return Envelope{
		ID: uuid.NewSHA1(quarantineIDs, []byte(fmt.Sprintf("%d|%s", q.Seq, q.Hash))), Pathway: pathway,
		Type: TypeQuarantined, OccurredAt: at, RecordedAt: at, Payload: q, Seq: q.Seq,
	}
}

// ChangesPast reports whether the event changes what came before it in
// its pathway's history (a Correction, a quarantine decision), so a
// projection folds the pathway again after applying it.
func (e *Envelope) ChangesPast() bool {
	switch e.Payload.(type) {
	case *Correction, *QuarantineResolved:
		return true
	}
	return false
}

// Annulments is what a pathway's history takes back: the events its
// Corrections name, and the stored messages the operator annulled from
// the quarantine.
type Annulments struct {
	ids  map[uuid.UUID]bool
	seqs map[uint64]bool
}

// AnnulmentsOf reads a history's annulments.
func AnnulmentsOf(history []Envelope) Annulments {
	var a Annulments
	for i := range history {
		switch v := history[i].Payload.(type) {
		case *Correction:
			if a.ids == nil {
				a.ids = make(map[uuid.UUID]bool)
			}
			a.ids[v.Annuls] = true
		case *QuarantineResolved:
			if v.Decision != Annul {
				continue
			}
			if a.seqs == nil {
				a.seqs = make(map[uint64]bool)
			}
			a.seqs[v.Seq] = true
		}
	}
	return a
}

// Annulled reports whether e is taken back.
func (a Annulments) Annulled(e *Envelope) bool { return a.ids[e.ID] || a.seqs[e.Seq] }

// Folded reports whether e carries state a fold takes in: not a
// Correction, a quarantine decision or a stand-in, and not taken back.
func (a Annulments) Folded(e *Envelope) bool {
	switch e.Payload.(type) {
	case nil, *Correction, *QuarantineResolved, *Quarantined:
		return false
	}
	return !a.Annulled(e)
}
