package events

import (
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Deadline is a moment by which something must have happened on a
// pathway: an offer answered, a document sent, a gap closed. Ref names
// what has the deadline (an offer or document id, a gap id) and Rule the
// rule that set it; with the pathway and the moment they are its
// identity.
type Deadline struct {
	Pathway uuid.UUID
	Ref     string
	Rule    string
	At      time.Time
}

// SystemScheduler is the source system of the DeadlineElapsed events the
// scheduler appends.
const SystemScheduler = "stafet-scheduler"

// Elapsed returns the command that records the deadline as passed: one
// DeadlineElapsed at the deadline's moment. Its source message id is the
// deadline's identity, so the scheduler of every instance, and every
// retry, asks for the same append and the log takes it once; a moved
// deadline is a new one.
func (d Deadline) Elapsed() Command {
	return Command{
		Pathway:    d.Pathway,
		Source:     Source{System: SystemScheduler, MessageID: "deadline/" + d.Pathway.String() + "/" + d.Rule + "/" + d.Ref + "/" + strconv.FormatInt(d.At.UnixNano(), 10)},
		OccurredAt: d.At,
		Payloads:   []Payload{&DeadlineElapsed{Ref: d.Ref, Rule: d.Rule, Deadline: d.At}},
	}
}
