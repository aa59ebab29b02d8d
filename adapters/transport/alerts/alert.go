package alerts

import (
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// Kind names what an alert says. Kinds are NATS subject tokens and SSE
// event names.
type Kind string

// Alert kinds. A DeadlineElapsed event gives a deadline-elapsed alert and,
// where it opens or escalates a gap, a gap-opened or gap-escalated one:
// each kind is complete on its own, so a subscriber picks the kinds it acts
// on (as with FHIR subscription topics).
const (
	// OfferReceived: a handoff was offered to the addressee.
	OfferReceived Kind = "offer-received"
	// GapOpened: the log now records a gap the addressee can close.
	GapOpened Kind = "gap-opened"
	// GapEscalated: an open gap passed its escalation deadline.
	GapEscalated Kind = "gap-escalated"
	// GapClosed: a gap the addressee could close was closed, or annulled
	// by a Correction.
	GapClosed Kind = "gap-closed"
	// DeadlineElapsed: a deadline of an offer, a document or a gap that the
	// addressee can act on passed.
	DeadlineElapsed Kind = "deadline-elapsed"
	// PatientLinked: the patient of a pathway the addressee is a party to
	// was found to be another identity's too (a replacement CPR number that
	// got its CPR number), and the pathways were joined.
	PatientLinked Kind = "patient-linked"
	// PatientUnlinked: such a join was undone (HL7 A37, a Correction).
	PatientUnlinked Kind = "patient-unlinked"
	// PartyJoined: an organisation that was not party to the pathway
	// joined it by starting its own care (an admission to itself, a
	// transfer to it), and may now read it.
	PartyJoined Kind = "party-joined"
	// BrokeGlass: an organisation without a current or recent care
	// relationship read the patient's identity, giving a reason.
	BrokeGlass Kind = "break-the-glass"
)

// Kinds lists the alert kinds.
func Kinds() []Kind {
	return []Kind{OfferReceived, GapOpened, GapEscalated, GapClosed, DeadlineElapsed, PatientLinked, PatientUnlinked, PartyJoined, BrokeGlass}
}

func (k Kind) valid() bool {
	switch k {
	case OfferReceived, GapOpened, GapEscalated, GapClosed, DeadlineElapsed, PatientLinked, PatientUnlinked, PartyJoined, BrokeGlass:
		return true
	}
	return false
}

// Alert is one notice to one organisation. Its JSON is the payload on
// NATS, in SSE and in webhooks (docs/alerts.md).
type Alert struct {
	// ID is derived from the event, the kind, the addressee and the gap or
	// offer, so handling an event again gives the same id: it is the
	// JetStream de-duplication id and the webhook Idempotency-Key.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Cluster is the health cluster of the pathway.
	Cluster string `json:"cluster"`
	// Org is the addressee.
	Org     events.OrgID `json:"org"`
	Pathway uuid.UUID    `json:"pathway"`
	Gap     *GapInfo     `json:"gap,omitempty"`
	Offer   *OfferInfo   `json:"offer,omitempty"`
	Link    *LinkInfo    `json:"link,omitempty"`
	Access  *AccessInfo  `json:"access,omitempty"`
	// EventID, EventType and EventSeq name the event that caused the
	// alert; OccurredAt and RecordedAt are its valid and record times.
	EventID    uuid.UUID   `json:"event_id"`
	EventType  events.Type `json:"event_type"`
	EventSeq   uint64      `json:"event_seq"`
	OccurredAt time.Time   `json:"occurred_at"`
	RecordedAt time.Time   `json:"recorded_at"`
	// Counter numbers the addressee's alerts 1, 2, 3, … without holes, so
	// a receiver sees when it missed one.
	Counter uint64 `json:"counter"`
}

// GapInfo describes the gap an alert is about.
type GapInfo struct {
	ID       uuid.UUID            `json:"id"`
	Kind     projections.GapKind  `json:"kind"`
	Rule     string               `json:"rule,omitempty"`
	Severity projections.Severity `json:"severity,omitempty"`
	// Closers are the organisations that can close the gap, the one that
	// must act first.
	Closers   []events.OrgID `json:"closers,omitempty"`
	OpenedAt  time.Time      `json:"opened_at"`
	Deadline  time.Time      `json:"deadline,omitzero"`
	Escalated bool           `json:"escalated,omitempty"`
	ClosedAt  time.Time      `json:"closed_at,omitzero"`
	// ClosedBy is the type of the event that closed the gap.
	ClosedBy events.Type `json:"closed_by,omitempty"`
}

// OfferInfo describes the handoff offer an alert is about.
type OfferInfo struct {
	ID       string                `json:"id"`
	What     events.Responsibility `json:"what"`
	From     events.OrgID          `json:"from,omitempty"`
	Deadline time.Time             `json:"deadline,omitzero"`
}

// LinkInfo describes the join a patient-linked or patient-unlinked alert
// is about. It names no patient: the pathways are the addressee's way in.
type LinkInfo struct {
	// Joined is the other pathway, when the other identity had one.
	Joined uuid.UUID `json:"joined,omitzero"`
	// Reason says which message joined them, e.g. "HL7 A47 change
	// patient identifier list".
	Reason string `json:"reason"`
}

// AccessInfo describes who gained access to a pathway the addressee is
// party to: the organisation that joined it (party-joined) or read its
// patient's identity breaking the glass (break-the-glass).
type AccessInfo struct {
	Org events.OrgID `json:"org"`
	// By is the type of the event by which the organisation joined.
	By events.Type `json:"by,omitempty"`
	// What was read, and the reader's stated reason (break-the-glass).
	What   string `json:"what,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// alertNamespace is the UUIDv5 namespace of alert ids.
var alertNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:stafet:alert"))

// alertID derives an alert's id from the event, the kind, the addressee
// and what it is about (a gap id or an offer id).
func alertID(event uuid.UUID, kind Kind, org events.OrgID, about string) string {
	return uuid.NewSHA1(alertNamespace, []byte(event.String()+"|"+string(kind)+"|"+string(org)+"|"+about)).String()
}

func gapInfo(g projections.Gap) *GapInfo {
	return &GapInfo{
		ID: g.ID, Kind: g.Kind, Rule: g.Rule, Severity: g.Severity, Closers: g.Closers,
		OpenedAt: g.OpenedAt, Deadline: g.Deadline, Escalated: g.Escalated,
		ClosedAt: g.ClosedAt, ClosedBy: g.ClosedByType,
	}
}
