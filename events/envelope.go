package events

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Envelope is the unit Stafet stores: one domain event with the facts about
// where it came from and when. Envelopes are immutable once appended; a later
// Correction annuls one by ID instead of editing it.
type Envelope struct {
	// ID identifies the event (UUIDv7, so IDs sort by creation time).
	ID uuid.UUID
	// Pathway identifies the cross-sector pathway the event belongs to.
	Pathway uuid.UUID
	// Type names the payload's type; it is the payload's Type().
	Type Type
	// Schema is the payload's schema version as stored. Decoding upcasts
	// older versions, so a decoded envelope always holds the current version
	// here.
	Schema int
	// OccurredAt is valid time: when it happened in the source system.
	OccurredAt time.Time
	// RecordedAt is record time: when Stafet appended it.
	RecordedAt time.Time
	// Source is the system and message the event was translated from.
	Source Source
	// Actor is the organisation (and optionally the role) that acted.
	Actor Actor
	// Correlation groups the events of one conversation (for example all
	// events translated from one inbound message); Causation is the event
	// or message that caused this one.
	Correlation string
	Causation   string
	// Payload is the typed event body.
	Payload Payload

	// Seq is the event's position in the log. It is set when the event is
	// read back and is not part of the stored body.
	Seq uint64
}

// Source identifies the sending system and the message an event came from.
type Source struct {
	// System names the sending system, e.g. "hl7v2", "medcom", "api".
	System string
	// Org is the sending organisation.
	Org OrgID
	// MessageID is the sender's own id of the message (MSH-10, MedCom
	// MessageHeader.id, an API Idempotency-Key). It makes appends
	// idempotent: the same system, organisation and message id are appended
	// once, however often they are sent.
	MessageID string
}

// Key is the idempotency key of the source message, or "" when the source
// gave no message id.
func (s Source) Key() string {
	if s.MessageID == "" {
		return ""
	}
	return s.System + "|" + string(s.Org) + "|" + s.MessageID
}

// Actor is who acted: an organisation and optionally a role within it.
type Actor struct {
	Org  OrgID
	Role string
}

// NewID returns a new UUIDv7 for an event or a pathway.
func NewID() uuid.UUID {
	id, err := uuid.NewV7()
	if err != nil {
		// uuid.NewV7 fails only when the system's random source fails;
		// there is nothing sensible to do without randomness.
		return uuid.New()
	}
	return id
}

// Validate checks the envelope's own fields and then its payload.
func (e *Envelope) Validate() error {
	switch {
	case e.ID == uuid.Nil:
		return &ValidationError{Field: "id", Reason: "missing"}
	case e.Pathway == uuid.Nil:
		return &ValidationError{Field: "pathway", Reason: "missing"}
	case e.Payload == nil:
		return &ValidationError{Field: "data", Reason: "missing payload"}
	case e.Type != "" && e.Type != e.Payload.Type():
		return &ValidationError{Field: "type", Reason: fmt.Sprintf("%s does not match payload %s", e.Type, e.Payload.Type())}
	case e.OccurredAt.IsZero():
		return &ValidationError{Field: "occurred_at", Reason: "missing"}
	}
	if e.Actor.Org != "" {
		if err := e.Actor.Org.Validate(); err != nil {
			return prefix("actor.org", err)
		}
	}
	if e.Source.Org != "" {
		if err := e.Source.Org.Validate(); err != nil {
			return prefix("source.org", err)
		}
	}
	if err := e.Payload.Validate(); err != nil {
		return prefix("data", err)
	}
	return nil
}

// Annuls returns the id of the event this one annuls, for a Correction.
func (e *Envelope) Annuls() (uuid.UUID, bool) {
	c, ok := e.Payload.(*Correction)
	if !ok {
		return uuid.Nil, false
	}
	return c.Annuls, true
}
