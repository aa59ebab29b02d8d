// Package ingest is the channel-specific part of taking in a message: it
// knows which translator reads each channel (HL7 v2 over MLLP, MedCom
// FHIR, …) and hands the message and its translator to the engine's one
// intake call (engine.Intake), which stores it raw, resolves the pathway,
// pseudonymises, appends, links and commits, or dead-letters it.
package ingest

import (
	"context"
	"log/slog"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Translator turns a raw message body into a Translation, or returns a
// *events.MessageError.
type Translator func(body []byte) (*events.Translation, error)

// Ingest takes inbound messages of its channels into the event store.
type Ingest struct {
	intake      *engine.Intake
	translators map[string]Translator
}

// New returns an Ingest with a translator per channel ("hl7v2", "medcom",
// …); the channel is RawMessage.System. A nil logger discards.
func New(store *engine.Store, dir *events.Directory, translators map[string]Translator, log *slog.Logger) *Ingest {
	return &Ingest{intake: store.NewIntake(dir, log), translators: translators}
}

// Receive takes in a message of one of the channels (engine.Intake.Receive):
// an error other than *engine.DeadLetterError means it may not be stored,
// and the sender must not be told it was received.
func (in *Ingest) Receive(ctx context.Context, m engine.RawMessage) (engine.Outcome, error) {
	return in.intake.Receive(ctx, m, in.translate)
}

// Check vets a translated message before it goes further: that the
// connection it came on may speak for the organisations it names, say. A
// *events.MessageError makes the message a dead letter with that reason;
// tr is nil when the message could not be translated, and the check's
// error then wins over the translator's.
type Check func(tr *events.Translation) error

// ReceiveChecked is Receive with a check between translation and append.
func (in *Ingest) ReceiveChecked(ctx context.Context, m engine.RawMessage, check Check) (engine.Outcome, error) {
	return in.intake.Receive(ctx, m, func(m engine.RawMessage) (*events.Translation, error) {
		tr, err := in.translate(m)
		if err != nil {
			tr = nil
		}
		if cerr := check(tr); cerr != nil {
			return nil, cerr
		}
		return tr, err
	})
}

// Replay runs a dead letter's message through again, after a mapping fix,
// or with a corrected body when body is not nil (engine.Intake.Replay).
func (in *Ingest) Replay(ctx context.Context, rawSeq uint64, body []byte) (engine.Outcome, error) {
	return in.intake.Replay(ctx, rawSeq, body, in.translate)
}

// Translate reads a stored message with its channel's translator, as the
// intake would now (the message browser shows it beside the message,
// after a mapping fix too); it writes nothing.
func (in *Ingest) Translate(m engine.RawMessage) (*events.Translation, error) { return in.translate(m) }

// translate reads a message with its channel's translator; a channel
// without one is refused, and the message dead-lettered.
func (in *Ingest) translate(m engine.RawMessage) (*events.Translation, error) {
	translate := in.translators[m.System]
	if translate == nil {
		return nil, &events.MessageError{Code: "unknown-channel", Reason: "no translator for " + m.System, Rejected: true}
	}
	return translate(m.Body)
}
