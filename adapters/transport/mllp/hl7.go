package mllp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/ratelimit"
)

// ContentTypeHL7 is the content type of HL7 v2 messages in the raw store.
const ContentTypeHL7 = "application/hl7-v2"

// receiveTimeout bounds the work on one message, so a store that hangs
// gives the sender an answer it can act on (resend) before its own ACK
// timeout, typically 30 to 60 seconds.
const receiveTimeout = 20 * time.Second

// HL7Handler answers HL7 v2 messages in original acknowledgment mode. Every
// message goes through in.Receive, which stores it raw before anything else
// (also one that cannot be parsed), then translates and appends it. The
// answer:
//
//	AA  the events are durably appended, or were before (a resend with the
//	    same MSH-10 from the same MSH-3^MSH-4), or the message means no
//	    pathway event and is stored raw
//	AE  understood but invalid, or against the pathway rules: an ERR names
//	    the field (ERR-2), the HL7 error code (ERR-3) and Stafet's reason
//	    (ERR-8, MSA-3 before v2.7); the message is a dead letter, to be
//	    replayed once fixed; resending it unchanged gives the same AE
//	AR  not parsable (the ERR says where); too large for the raw store;
//	    or not stored for a passing reason (ERR-3 207, "resend": the store
//	    failing, or the data volume nearly full): HL7's
//	    original mode lets the sender resend after an AR, and the resend
//	    is appended once
//
// AA is never sent before the store has acknowledged the append. A frame
// that holds a batch file (FHS/BHS … BTS/FTS, or several messages one
// after the other) has each message stored and answered on its own, and
// is answered with the batch acknowledgement (hl7v2.BatchAck); a frame
// that holds no message at all (a byte order mark or white space) is
// answered AA and nothing is stored. A nil log discards. The HL7
// channel's translator must be registered in in under hl7v2.System.
func HL7Handler(in *ingest.Ingest, log *slog.Logger) Handler {
	return HL7HandlerWith(in, log, HL7Options{})
}

// HL7Options tune HL7HandlerWith. The zero value means the defaults.
type HL7Options struct {
	// GarbageQuota is how many bytes of unparsable messages one source
	// address may have stored in an hour (each message counts at least
	// 4 KiB); beyond it such a message is answered AR and not stored, so
	// a broken or hostile sender cannot fill the disk with garbage.
	// Default 16 MiB.
	GarbageQuota int
}

// HL7HandlerWith is HL7Handler with options.
func HL7HandlerWith(in *ingest.Ingest, log *slog.Logger, opt HL7Options) Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := newGarbage(opt.GarbageQuota, log)
	return files(func(ctx context.Context, msg []byte, remote string) []byte {
		ctx, cancel := context.WithTimeout(ctx, receiveTimeout)
		defer cancel()
		m, perr := hl7v2.Parse(msg)
		if perr != nil {
			if ack := g.over(msg, remote); ack != nil {
				return ack
			}
			return unparsable(ctx, in, log, msg, remote, perr)
		}
		raw := engine.RawMessage{
			System: hl7v2.System, Sender: m.Get("MSH-3") + "^" + m.Get("MSH-4"),
			ControlID: m.ControlID(), ContentType: ContentTypeHL7, Body: msg,
		}
		peer := PeerFrom(ctx)
		facility := sendingFacility(peer, m)
		if facility != "" {
			// Stored under a sender of its own: a forged message must not
			// take the control id of the facility it claims to be, whose
			// real message would then pass for its resend.
			raw.Sender = "refused:" + peer.Name + ":" + raw.Sender
		}
		out, err := in.ReceiveChecked(ctx, raw, authorised(peer, facility))
		var ie *engine.DeadLetterError
		switch {
		case err == nil && nothingToAppend(out.Translation):
			log.Debug("hl7: stored; no pathway event", "msg", m, "raw_seq", out.RawSeq)
			return hl7v2.AckOptions{Text: noPathwayEvent}.Ack(m, "AA")
		case err == nil:
			if log.Enabled(ctx, slog.LevelDebug) {
				// Guarded: the arguments would cost allocations on every
				// message even with debug off.
				log.Debug("hl7: appended", "msg", m, "raw_seq", out.RawSeq, "duplicate", out.Result.Duplicate, "events", len(out.Result.Events))
			}
			return hl7v2.Ack(m, "AA")
		case out.RawSeq != 0 && nothingToAppend(out.Translation):
			// Stored raw and means no pathway event (an A08 without an
			// expected discharge, an outpatient visit, a pre-admission).
			// The ingest may have dead-lettered the empty command; the
			// sender has nothing to correct or resend.
			log.Debug("hl7: stored; no pathway event", "msg", m, "raw_seq", out.RawSeq)
			return hl7v2.AckOptions{Text: noPathwayEvent}.Ack(m, "AA")
		case errors.As(err, &ie):
			d := ie.DeadLetter
			code := "AE"
			if rejected(ie) {
				code = "AR"
			}
			log.Info("hl7: dead letter", "msg", m, "raw_seq", d.RawSeq, "code", d.Code, "field", d.Field, "ack", code)
			return hl7v2.Ack(m, code, ackError(d))
		case errors.Is(err, engine.ErrTooLarge):
			log.Warn("hl7: message too large for the raw store; not stored", "msg", m, "remote", remote, "bytes", len(msg))
			return hl7v2.Ack(m, "AR", tooLarge())
		case errors.Is(err, engine.ErrNoRoom):
			log.Warn("hl7: refused, the data volume is nearly full; asking the sender to resend later", "msg", m, "remote", remote)
			return hl7v2.Ack(m, "AR", noRoom())
		default:
			log.Warn("hl7: not stored or not appended; asking the sender to resend", "msg", m, "remote", remote, "err", err)
			return hl7v2.Ack(m, "AR", transient())
		}
	}, log)
}

// CodeNotSender is the dead letter code of a message whose sending
// facility (MSH-4) or acting organisation is not one the connection
// speaks for (Peer): it is refused with AR.
const CodeNotSender = events.CodeNotSender

// sendingFacility returns MSH-4 as the message gives it when the peer may
// not speak for it, and "" when it may (MSH-4.1 or MSH-4.2 names one of
// its organisations).
func sendingFacility(peer Peer, m *hl7v2.Message) string {
	for _, name := range []string{m.Get("MSH-4.1"), m.Get("MSH-4.2")} {
		if name != "" && peer.SpeaksForName(name) {
			return ""
		}
	}
	if f := printable(m.Get("MSH-4")); f != "" {
		return f
	}
	return "(empty)"
}

// authorised is the check that the connection speaks for the message's
// sending facility (facility is not "" when it does not) and for the
// organisation the message says acts (the hospital of PV1-3.4, PV1-39 or
// MSH-4).
func authorised(peer Peer, facility string) ingest.Check {
	return func(tr *events.Translation) error {
		if facility != "" {
			return &events.MessageError{Code: CodeNotSender, Field: "MSH-4", Rejected: true,
				Reason: peer.Name + " does not speak for sending facility " + facility + " (the organisations file's mllp_clients)"}
		}
		if tr != nil && tr.Actor.Org != "" && !peer.SpeaksFor(tr.Actor.Org) {
			return &events.MessageError{Code: CodeNotSender, Rejected: true,
				Reason: peer.Name + " does not speak for " + string(tr.Actor.Org) + ", the organisation the message says acts (PV1-3.4, PV1-39)"}
		}
		return nil
	}
}

// noPathwayEvent is MSA-3 of the AA for a message that means nothing for a
// pathway (docs/adapters.md, "Messages that mean nothing").
const noPathwayEvent = "stored; no pathway event"

// unparsable stores a message Parse rejects, under a content hash as its
// control id (so a resend of the same bytes is one raw message), and
// rejects it. The ingest's translator fails on it too and files the dead
// letter.
func unparsable(ctx context.Context, in *ingest.Ingest, log *slog.Logger, msg []byte, remote string, perr error) []byte {
	sum := sha256.Sum256(msg)
	raw := engine.RawMessage{
		System: hl7v2.System, Sender: salvageSender(msg, remote),
		ControlID: "sha256:" + hex.EncodeToString(sum[:]), ContentType: ContentTypeHL7, Body: msg,
	}
	out, err := in.Receive(ctx, raw)
	var ie *engine.DeadLetterError
	if errors.Is(err, engine.ErrTooLarge) {
		log.Warn("hl7: unparsable message too large for the raw store; not stored", "remote", remote, "bytes", len(msg))
		return hl7v2.AckForUnparsable(msg, tooLarge().Message)
	}
	if errors.Is(err, engine.ErrNoRoom) {
		log.Warn("hl7: unparsable message refused, the data volume is nearly full", "remote", remote)
		return hl7v2.AckForUnparsable(msg, noRoom().Message)
	}
	if err != nil && !errors.As(err, &ie) {
		log.Warn("hl7: unparsable message not stored; asking the sender to resend", "remote", remote, "err", err)
		return hl7v2.AckOptions{}.AckForUnparsable(msg, "not stored, resend: "+perr.Error())
	}
	log.Info("hl7: unparsable message stored as a dead letter", "remote", remote, "raw_seq", out.RawSeq, "err", perr)
	return hl7v2.AckForUnparsable(msg, "")
}

// garbage is the quota of unparsable messages per source address.
type garbage struct {
	quota *ratelimit.Keyed
	// told limits the warnings to one a minute per source.
	told *ratelimit.Keyed
	log  *slog.Logger
}

// DefaultGarbageQuota is HL7Options.GarbageQuota's default.
const DefaultGarbageQuota = 16 << 20

// garbageMin is the least an unparsable message counts, so a flood of
// tiny ones is bounded in number too.
const garbageMin = 4 << 10

func newGarbage(quota int, log *slog.Logger) *garbage {
	if quota == 0 {
		quota = DefaultGarbageQuota
	}
	return &garbage{quota: ratelimit.New(float64(quota)/3600, quota), told: ratelimit.New(1.0/60, 1), log: log}
}

// over answers an unparsable message from a source over its quota with
// an AR, unstored; nil when it is within the quota.
func (g *garbage) over(msg []byte, remote string) []byte {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ok, wait := g.quota.Allow(host, max(len(msg), garbageMin))
	if ok {
		return nil
	}
	if told, _ := g.told.Allow(host, 1); told {
		g.log.Warn("hl7: unparsable messages from this source over the quota; refused unstored", "source", host, "retry_in", wait.Round(time.Second))
	}
	return hl7v2.AckForUnparsable(msg, "too many unparsable messages from this sender: not stored; fix the sender ("+wait.Round(time.Second).String()+" until more are taken)")
}

// salvageSender reads MSH-3^MSH-4 from the first line of a message that
// does not parse, or names the remote host.
func salvageSender(msg []byte, remote string) string {
	msg = bytes.TrimPrefix(msg, []byte("\xef\xbb\xbf"))
	msg = bytes.TrimLeft(msg, " \t\r\n")
	if len(msg) > 8 && string(msg[:3]) == "MSH" {
		line := msg[:min(len(msg), 1024)]
		if i := bytes.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		f := bytes.Split(line, msg[3:4])
		if len(f) > 3 && (len(f[2]) > 0 || len(f[3]) > 0) {
			s := string(f[2]) + "^" + string(f[3])
			if utf8.ValidString(s) && len(s) <= 256 {
				return s
			}
		}
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	return "unparsable@" + host
}

func nothingToAppend(tr *events.Translation) bool {
	return tr != nil && len(tr.Payloads) == 0 && tr.Cancels == nil && tr.MergedPatient == nil
}

func rejected(ie *engine.DeadLetterError) bool {
	var me *events.MessageError
	return errors.As(ie.Err, &me) && me.Rejected
}

// ackError describes a dead letter for an ERR segment: the HL7 location
// when the dead letter names one (an event field such as
// "data[0].hospital" goes in the text), an HL7 table 0357 code, and the
// reason with Stafet's own code.
func ackError(d engine.DeadLetter) hl7v2.AckError {
	ae := hl7v2.AckError{Code: errorCode(d.Code), Message: d.Reason + " (" + d.Code + ")"}
	if d.Field == "" {
		return ae
	}
	ae.Message = d.Field + ": " + ae.Message
	if p, err := hl7v2.ParsePath(d.Field); err == nil {
		ae.Segment, ae.Sequence, ae.Field = p.Segment, p.Occurrence, p.Field
	}
	return ae
}

// errorCode maps Stafet's dead letter codes to HL7 table 0357.
func errorCode(code string) string {
	switch {
	case code == "unknown-trigger" || code == "unsupported-trigger":
		return hl7v2.CodeUnsupportedEventCode
	case code == "missing-patient-id" || code == "missing-field":
		return hl7v2.CodeRequiredFieldMissing
	case code == "bad-patient-id" || code == "bad-time":
		return hl7v2.CodeDataTypeError
	case code == "unknown-organisation" || code == "not-a-hospital" || code == "unknown-patient-class":
		return hl7v2.CodeTableValueNotFound
	case code == "nothing-to-cancel" || code == "unknown-pathway":
		return hl7v2.CodeUnknownKey
	case code == "same-patient":
		return hl7v2.CodeDuplicateKey
	case strings.HasPrefix(code, "parse"):
		return hl7v2.CodeSegmentSequenceError
	}
	return hl7v2.CodeInternalError
}

func transient() hl7v2.AckError {
	return hl7v2.AckError{Code: hl7v2.CodeInternalError, Message: "transient error: the message is not recorded; resend it"}
}

// noRoom says the receiver's storage is nearly full (engine.ErrNoRoom):
// nothing is recorded, and a resend later will be, once the operator has
// made room. AR in original mode lets the sender resend.
func noRoom() hl7v2.AckError {
	return hl7v2.AckError{Code: hl7v2.CodeInternalError, Message: "receiver's storage nearly full: the message is not recorded; resend it later"}
}

// tooLarge says a message exceeds what the raw store takes in one piece
// (the NATS server's max_payload, 1 MiB by default, holds a sealed body
// of about 750 KiB): resending it unchanged cannot help.
func tooLarge() hl7v2.AckError {
	return hl7v2.AckError{Code: hl7v2.CodeInternalError, Message: "message too large to store; not recorded: do not resend it unchanged"}
}

// HL7OversizeAck answers a frame larger than Config.MaxMessage with an AR
// built from what its head shows of the MSH (for Config.OnOversize). The
// message is not stored: the sender must split it or the operator raise
// the limit.
func HL7OversizeAck(head []byte) []byte {
	return hl7v2.AckForUnparsable(head, "message larger than the receiver's limit; not stored")
}

// HL7BusyAck answers a frame refused because the frame memory of all
// connections (Config.MaxBuffered) is taken, with an AR built from what
// its head shows of the MSH (for Config.OnBusy). The message is not
// stored; the sender resends it later, as after any AR.
func HL7BusyAck(head []byte) []byte {
	return hl7v2.AckForUnparsable(head, "receiver busy with other large messages; not stored: resend later")
}
