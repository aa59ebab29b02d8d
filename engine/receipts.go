package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Receipts. A raw message's body is sealed, so searching the raw store
// would mean opening every message. Instead the intake writes, for every
// message it answers, a receipt beside it in STAFET_RECEIPTS: what the
// message browser searches by and what the channel counters count — the
// channel, the sender as the message names it, its control id, when it
// came, the answer it got, the dead letter's code, the sending
// organisation, the pathway and a hash of the episode of care. No body,
// no CPR number, no name: a search decrypts nothing, and only showing a
// message does (Inbox.Message, which the API records in the access log).
//
//	stafet.receipt.<system>.<sender hash>   one receipt (a JSON object)
//	stafet.receipt.batch                    a batch of them (a JSON array)
const (
	ReceiptStream   = "STAFET_RECEIPTS"
	ReceiptSubjects = "stafet.receipt.>"
)

// Answers a receipt records: HL7's acknowledgement codes, which MedCom's
// ok, fatal-error and transient-error map onto.
const (
	AnswerAccepted = "AA" // appended, or a resend of one that was, or nothing to append
	AnswerError    = "AE" // understood but invalid: a dead letter
	AnswerRejected = "AR" // not readable, or not recorded for a passing reason (code "transient")
)

// Receipt is what became of one inbound message, as the message browser
// searches it.
type Receipt struct {
	RawSeq     uint64    `json:"raw_seq"`
	System     string    `json:"system"`
	Sender     string    `json:"sender"`
	ControlID  string    `json:"control_id"`
	ReceivedAt time.Time `json:"received_at"`
	// At is when the message was answered.
	At     time.Time `json:"at"`
	Answer string    `json:"answer"`
	// Code and Field are the dead letter's, for AE and AR.
	Code  string `json:"code,omitempty"`
	Field string `json:"field,omitempty"`
	// Org is the sending organisation as the translation read it.
	Org     events.OrgID `json:"org,omitempty"`
	Pathway uuid.UUID    `json:"pathway,omitzero"`
	// Episode is a hash of the episode of care (EpisodeHash), so a
	// search by episode finds the message without the episode in clear.
	Episode string `json:"episode,omitempty"`
	// Resend: the message was stored before (same system, sender and
	// control id). Replay: a dead letter run again; Replaces: a corrected
	// body, the raw message it corrects; ResolvedBy: the corrected body
	// that went through in this message's place.
	Resend     bool   `json:"resend,omitempty"`
	Replay     bool   `json:"replay,omitempty"`
	Replaces   uint64 `json:"replaces,omitempty"`
	ResolvedBy uint64 `json:"resolved_by,omitempty"`
	// Backfilled: made from the raw message and its dead letter after the
	// fact (a store from before receipts, or one lost in a crash): the
	// answer is what the dead letters say, not what was sent.
	Backfilled bool `json:"backfilled,omitempty"`
}

// Dead reports whether the receipt leaves its message a dead letter.
func (r *Receipt) Dead() bool { return r.Answer != AnswerAccepted && r.Code != transientCode }

const transientCode = "transient"

// EpisodeHash is how receipts name an episode of care: a search hashes
// the episode it is given the same way.
func EpisodeHash(episode string) string {
	if episode == "" {
		return ""
	}
	return shortHash(episode)
}

func receiptSubject(system, sender string) string {
	return "stafet.receipt." + system + "." + shortHash(sender)
}

func (s *Inbox) setupReceipts(ctx context.Context) error {
	var err error
	s.receipts, err = createOrUpdateStream(ctx, s.js, jetstream.StreamConfig{
		Name: ReceiptStream, Description: "what became of each inbound message: the message browser's index (no bodies, no patient data)",
		Subjects: []string{ReceiptSubjects}, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		Duplicates: s.cfg.DuplicateWindow, MaxAge: s.cfg.RawRetention, Discard: jetstream.DiscardOld,
	})
	return err
}

// note writes the receipt of a message the intake has answered. It does
// not wait: a receipt is written after the answer's own commit and is
// made durable by the next one; one lost in a crash is made again from
// the raw message (ReceiptIndex.Run reconciles). A failure is logged,
// never the message's.
//
// The receipts of messages answered within receiptDelay of each other
// go in one message (a batch, up to maxBatchReceipts): each stored
// message costs the server a write and a delivery to every receipt
// index, and a receipt for each inbound message was one of the two
// requests the intake added since the first wave (docs/performance.md).
// A receipt is in the browser receiptDelay later at most; Store.Close
// writes what is waiting.
func (s *Inbox) note(r Receipt) {
	if r.Backfilled {
		// Alone, with its own id: instances that reconcile at once write
		// it once.
		b, err := json.Marshal(r)
		s.publishReceipts(receiptSubject(r.System, r.Sender), "backfill-"+strconv.FormatUint(r.RawSeq, 10), b, err, 1)
		return
	}
	s.receiptBatch.add(r, s.writeReceipts)
}

// writeReceipts writes a batch of receipts as one message, or as two
// halves if it is larger than the server takes (its max_payload may be
// set below the 1 MiB default).
func (s *Inbox) writeReceipts(rs []Receipt) {
	b, err := json.Marshal(rs)
	if err == nil && len(rs) > 1 && int64(len(b)) > s.nc.MaxPayload() {
		s.writeReceipts(rs[:len(rs)/2])
		s.writeReceipts(rs[len(rs)/2:])
		return
	}
	s.publishReceipts(receiptBatchSubject, "", b, err, len(rs))
}

// publishReceipts writes b, n receipts encoded (err, if encoding
// failed). It is published without a reply subject, so the server sends
// no acknowledgement: nothing waits for one, and making and parsing a
// JSON acknowledgement for every receipt cost the server and the client
// CPU for nothing. A receipt the server could not store is made again by
// the reconciliation at the next start; one that could not even be sent
// (the connection closed, its reconnect buffer full) is counted too, and
// said on /healthz until then (ReceiptsUnwritten).
func (s *Inbox) publishReceipts(subject, msgID string, b []byte, err error, n int) {
	if err == nil {
		msg := nats.NewMsg(subject)
		msg.Data = b
		if msgID != "" {
			msg.Header.Set(jetstream.MsgIDHeader, msgID)
		}
		err = s.nc.PublishMsg(msg)
	}
	if err != nil {
		s.receiptsUnwritten.Add(int64(n))
		s.log.Warn("receipts not written; the message browser makes them again from the raw messages at the next start", "receipts", n, "err", err)
	}
}

// ReceiptsUnwritten is how many receipts this instance could not write
// since it started: the message browser and the channel counters lack
// them until the next start makes them again from the raw messages.
func (s *Inbox) ReceiptsUnwritten() int64 { return s.receiptsUnwritten.Load() }

// flushReceipts writes the receipts waiting for their batch: at Close,
// before the connection drains.
func (s *Inbox) flushReceipts() {
	s.receiptBatch.flush(s.writeReceipts)
}

// A batch of receipts is stored as a JSON array under this subject
// (since 2026-12-08); a single receipt, as a JSON object under
// receiptSubject's (every earlier one, and a backfilled one). Readers
// take both (decodeReceipts).
const receiptBatchSubject = "stafet.receipt.batch"

const (
	receiptDelay     = 5 * time.Millisecond
	maxBatchReceipts = 256 // about 80 KB, well under the server's 1 MB
)

// receiptBatcher gathers receipts for one write: the first receipt of a
// batch starts its timer, and the batch is written when the timer fires
// or the batch is full, whichever comes first.
type receiptBatcher struct {
	mu      sync.Mutex
	pending []Receipt
	timer   *time.Timer
}

func (b *receiptBatcher) add(r Receipt, write func([]Receipt)) {
	b.mu.Lock()
	b.pending = append(b.pending, r)
	var full []Receipt
	switch {
	case len(b.pending) >= maxBatchReceipts:
		full = b.takeLocked()
	case len(b.pending) == 1:
		b.timer = time.AfterFunc(receiptDelay, func() { b.flush(write) })
	}
	b.mu.Unlock()
	if full != nil {
		write(full)
	}
}

func (b *receiptBatcher) flush(write func([]Receipt)) {
	b.mu.Lock()
	rs := b.takeLocked()
	b.mu.Unlock()
	if len(rs) > 0 {
		write(rs)
	}
}

// takeLocked empties the batch and stops its timer; b.mu is held.
func (b *receiptBatcher) takeLocked() []Receipt {
	rs := b.pending
	b.pending = nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return rs
}

// decodeReceipts reads a stored receipts message: a batch (a JSON array)
// or a single receipt (a JSON object). What cannot be read yields none.
func decodeReceipts(data []byte) []Receipt {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == '[' {
		var rs []Receipt
		if json.Unmarshal(data, &rs) != nil {
			return nil
		}
		return rs
	}
	var r Receipt
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	return []Receipt{r}
}

// receiptOf says what became of a message the intake processed.
func receiptOf(m RawMessage, out Outcome, err error) (Receipt, bool) {
	if out.RawSeq == 0 {
		return Receipt{}, false // not stored: nothing to find it by
	}
	r := Receipt{
		RawSeq: out.RawSeq, System: m.System, Sender: m.Sender, ControlID: m.ControlID, ReceivedAt: m.ReceivedAt,
		At: time.Now().UTC(), Answer: AnswerAccepted, Pathway: out.Pathway, Resend: out.Resend, Replaces: m.Replaces,
	}
	if tr := out.Translation; tr != nil {
		r.Org = cmpOr(tr.Source.Org, tr.Actor.Org, tr.Hospital)
		r.Episode = EpisodeHash(tr.Episode)
	}
	var de *DeadLetterError
	switch {
	case err == nil:
	case errors.As(err, &de):
		r.Answer, r.Code, r.Field = AnswerError, de.DeadLetter.Code, de.DeadLetter.Field
		var me *events.MessageError
		if errors.As(de.Err, &me) && me.Rejected {
			r.Answer = AnswerRejected
		}
	default:
		// Stored, but not appended for a passing reason: the sender is
		// asked to resend.
		r.Answer, r.Code = AnswerRejected, transientCode
	}
	return r, true
}

func cmpOr[T comparable](vs ...T) T {
	var zero T
	for _, v := range vs {
		if v != zero {
			return v
		}
	}
	return zero
}

// backfill makes the receipt of a stored message from the message and
// its dead letter, for a message that has none.
func (s *Inbox) backfill(ctx context.Context, seq uint64) (Receipt, error) {
	m, err := s.Message(ctx, seq)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{
		RawSeq: seq, System: m.System, Sender: m.Sender, ControlID: m.ControlID, ReceivedAt: m.ReceivedAt,
		At: m.ReceivedAt, Answer: AnswerAccepted, Replaces: m.Replaces, Backfilled: true,
	}
	d, err := s.DeadLetter(ctx, seq)
	switch {
	case err == nil:
		r.Answer, r.Code, r.Field, r.At = AnswerError, d.Code, d.Field, d.At
	case !errors.Is(err, ErrNoDeadLetter):
		return r, err
	}
	return r, nil
}

// rawLastSeq is the raw store's last sequence.
func (s *Inbox) rawLastSeq(ctx context.Context) (uint64, error) {
	info, err := s.raw.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("engine: raw store: %w", err)
	}
	return info.State.LastSeq, nil
}
