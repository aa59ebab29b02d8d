package engine

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Inbound messages are stored raw, before anything else is done with
// them, in the STAFET_RAW stream:
//
//	stafet.raw.<system>.<sender hash>.<message hash>
//
// One subject per (system, sender, control id), written with an expected
// last subject sequence of 0, so a resend is recognised for as long as the
// raw message is kept, not only within the duplicate window. Bodies hold
// personal data (an HL7 PID segment, a FHIR Patient), so they are sealed
// with AES-256-GCM, and subjects hold only hashes. A message whose
// translation names a patient is sealed under the patient's key, so that
// erasing the patient (Vault.Shred) makes it unreadable; any other under
// the deployment's raw key (stafet.key.raw). The Stafet-Key header names
// the key. Messages stored by releases before these keys carry no header
// and are sealed under a key derived from the pseudonym secret; they are
// read as they are, and an erasure deletes those that name the patient
// (erase.go).
const (
	RawStream      = "STAFET_RAW"
	RawSubjects    = "stafet.raw.>"
	DeadLetterKV   = "stafet_dead_letters"
	PathwayIndexKV = "stafet_pathway_index"
)

// RawMessage is an inbound message as received.
type RawMessage struct {
	// System is the channel: "hl7v2", "medcom", "api".
	System string `json:"system"`
	// Sender identifies the sending party as the message names it (HL7
	// MSH-3^MSH-4, a MedCom sender SOR/EAN, an API token's organisation).
	Sender string `json:"sender"`
	// ControlID is the sender's id of the message (HL7 MSH-10, MedCom
	// Bundle.id + MessageHeader.id).
	ControlID   string    `json:"control_id"`
	ContentType string    `json:"content_type,omitempty"`
	ReceivedAt  time.Time `json:"received_at"`
	Body        []byte    `json:"body"`
	// Replaces, for a corrected body submitted to replay a dead letter, is
	// the raw sequence of the message it corrects.
	Replaces uint64 `json:"replaces,omitempty"`
	// Patient is the patient the message names, if its translation found
	// one: the message is sealed under the patient's key. Empty: under the
	// deployment's raw key.
	Patient events.PatientRef `json:"-"`
	// Seq is the raw stream sequence, set when read back.
	Seq uint64 `json:"-"`
}

// HeaderKey names, on a raw message, the key it is sealed under: a
// patient's pseudonym, or "raw".
const HeaderKey = "Stafet-Key"

// StoredRaw says where a raw message is and whether it was seen before.
type StoredRaw struct {
	Seq       uint64
	Duplicate bool
}

func rawSubject(m *RawMessage) string {
	return "stafet.raw." + m.System + "." + shortHash(m.Sender) + "." + shortHash(m.ControlID)
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:12])
}

// Inbox keeps inbound messages as received, in STAFET_RAW, and the dead
// letters: the messages that could not be translated or appended, with a
// machine-readable reason. Get it from Store.Inbox.
type Inbox struct {
	*conn
	raw      jetstream.Stream
	dead     jetstream.KeyValue
	receipts jetstream.Stream
	// receiptBatch gathers receipts into one write (note);
	// receiptsUnwritten counts those that could not be sent.
	receiptBatch      receiptBatcher
	receiptsUnwritten atomic.Int64
	vault             *Vault
	// rawGCM seals raw messages that name no patient; legacyGCM opens
	// those of earlier releases (legacyAEAD). Made once: an AEAD is safe
	// for concurrent use.
	rawOnce, legacyOnce sync.Once
	rawGCM, legacyGCM   cipher.AEAD
	rawErr, legacyErr   error
	// room stops intake before the disk is full (Config.MinFreeBytes).
	room *room
}

func (s *Inbox) setup(ctx context.Context) error {
	sc := jetstream.StreamConfig{
		Name: RawStream, Description: "inbound messages as received (sealed bodies)",
		Subjects: []string{RawSubjects}, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		Duplicates: s.cfg.DuplicateWindow, MaxAge: s.cfg.RawRetention, Discard: jetstream.DiscardOld,
	}
	var err error
	if s.raw, err = createOrUpdateStream(ctx, s.js, sc); err != nil {
		return err
	}
	if s.dead, err = s.bucket(ctx, DeadLetterKV, "messages that could not be translated, by raw sequence", 5); err != nil {
		return err
	}
	return s.setupReceipts(ctx)
}

// Store stores an inbound message before it is translated, sealed under
// m.Patient's key (made if the patient has none) or the deployment's raw
// key. A message with a (system, sender, control id) stored before is not
// stored again: StoredRaw.Duplicate is true and Seq is the first copy's.
func (s *Inbox) Store(ctx context.Context, m RawMessage) (StoredRaw, error) {
	p, err := s.Send(ctx, m)
	if err != nil {
		return StoredRaw{}, err
	}
	st, err := p.Wait(ctx)
	if err != nil {
		return st, err
	}
	return st, s.Commit(ctx)
}

// Send sends an inbound message to the raw store without waiting for
// the store's acknowledgement, so the caller can translate the message
// while it is written. Nothing may be written on the message's behalf
// before PendingRaw.Wait has returned without error, and nothing
// acknowledged to the sender before a Commit begun after it (an
// append that follows includes one) has returned: only then is the
// message on disk in the safe mode.
func (s *Inbox) Send(ctx context.Context, m RawMessage) (*PendingRaw, error) {
	var key []byte
	if m.Patient != "" {
		var err error
		if key, err = s.vault.sealingKey(ctx, m.Patient); err != nil {
			return nil, err
		}
	}
	return s.sendSealed(m, key)
}

// sendSealed is Send with the key of m.Patient given (nil when m names
// no patient).
func (s *Inbox) sendSealed(m RawMessage, key []byte) (*PendingRaw, error) {
	if m.System == "" || m.ControlID == "" {
		return nil, errors.New("engine: raw message needs a system and a control id")
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = time.Now().UTC()
	}
	if low, free := s.room.lowOn(time.Now()); low {
		return nil, fmt.Errorf("%w: %d MiB free, intake stops below %d MiB", ErrNoRoom, free>>20, s.cfg.MinFreeBytes>>20)
	}
	name, gcm, err := s.rawSealer(m.Patient, key)
	if err != nil {
		return nil, err
	}
	msg := nats.NewMsg(rawSubject(&m))
	msg.Header[HeaderKey] = []string{name}
	msg.Data = sealRaw(gcm, m, rawAAD(name))
	w, err := s.send(msg, expectSubjectSeq(0))
	if errors.Is(err, nats.ErrMaxPayload) {
		return nil, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	if err != nil {
		return nil, fmt.Errorf("engine: store raw: %w", err)
	}
	return &PendingRaw{s: s, w: w}, nil
}

// ErrTooLarge is returned for an inbound message larger than the NATS
// server's maximum payload: it cannot be stored, so the sender is told
// not to resend it as it is.
var ErrTooLarge = errors.New("engine: message too large for the raw store")

// ErrNoRoom is returned for an inbound message when the data volume is
// nearly full (Config.MinFreeBytes): intake stops cleanly before the
// disk is full, and the sender is told to try again later.
var ErrNoRoom = errors.New("engine: data volume nearly full; intake stopped")

// PendingRaw is a raw message on its way to the store.
type PendingRaw struct {
	s *Inbox
	w *sending
}

// Wait returns where the raw message is stored once the server has
// acknowledged it (see Inbox.Send for when it is on disk). A message seen before is not stored again:
// StoredRaw.Duplicate is true and Seq is the first copy's.
func (p *PendingRaw) Wait(ctx context.Context) (StoredRaw, error) {
	ack, err := p.w.wait(ctx)
	if err == nil {
		return StoredRaw{Seq: ack.Sequence}, nil
	}
	if !isWrongLastSeq(err) {
		return StoredRaw{}, fmt.Errorf("engine: store raw: %w", err)
	}
	// Seen before, or our own first attempt landed and its ack was lost:
	// either way the first copy is the one to point at.
	first, err := p.s.raw.GetLastMsgForSubject(ctx, p.w.msg.Subject)
	if err != nil {
		return StoredRaw{}, fmt.Errorf("engine: store raw: %w", err)
	}
	return StoredRaw{Seq: first.Sequence, Duplicate: true}, nil
}

// sending is a message published asynchronously whose acknowledgement
// the caller waits for later, overlapping the round trip with its own
// work.
type sending struct {
	s   *conn
	msg *nats.Msg
	w   *pubWait
}

// send publishes m with the expectations opts set in its header.
func (s *conn) send(m *nats.Msg, opts ...pubOpt) (*sending, error) {
	setOpts(m, opts)
	w, err := s.pub.send(m)
	if err != nil {
		return nil, err
	}
	return &sending{s: s, msg: m, w: w}, nil
}

// poll reports whether the server has answered, without waiting.
func (w *sending) poll() bool { return w.w.answer() }

// wait returns the message's acknowledgement: the server has stored it
// (on disk once Commit returns). A first attempt that goes
// unanswered (a cluster electing a stream leader) is sent again the way
// Append sends its messages; callers send only messages that land once
// however often they are sent (an expected sequence, or a KV put of the
// same value).
func (w *sending) wait(ctx context.Context) (*jetstream.PubAck, error) {
	ack, err := w.w.result(ctx)
	if err == nil {
		return ack, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	if !unanswered(err) {
		return nil, err
	}
	// Its header already holds the expectations.
	return w.s.publish(ctx, w.msg)
}

// ErrNoRaw is returned for a raw sequence that holds no message: never
// stored, or erased (erase.go).
var ErrNoRaw = errors.New("engine: no such raw message (never stored, or erased)")

// Message reads a stored raw message by sequence. A message sealed under
// the key of a patient since erased fails with events.ErrShredded.
func (s *Inbox) Message(ctx context.Context, seq uint64) (RawMessage, error) {
	sm, err := s.raw.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return RawMessage{}, fmt.Errorf("engine: raw message %d: %w", seq, ErrNoRaw)
	}
	if err != nil {
		return RawMessage{}, fmt.Errorf("engine: raw message %d: %w", seq, err)
	}
	m, err := s.openRaw(ctx, sm.Header, sm.Data)
	if err != nil {
		return RawMessage{}, fmt.Errorf("engine: raw message %d: %w", seq, err)
	}
	m.Seq = seq
	return m, nil
}

// rawSealer returns the name and cipher of the key a raw message is
// sealed under: the patient's, given as key, or the deployment's raw key.
func (s *Inbox) rawSealer(patient events.PatientRef, key []byte) (string, cipher.AEAD, error) {
	if patient == "" {
		gcm, err := s.rawAEAD()
		return rawKeyName, gcm, err
	}
	gcm, err := newAEAD(key)
	return string(patient), gcm, err
}

// rawAEAD is the cipher of the deployment's raw key.
func (s *Inbox) rawAEAD() (cipher.AEAD, error) {
	s.rawOnce.Do(func() { s.rawGCM, s.rawErr = newAEAD(s.vault.rawKey) })
	return s.rawGCM, s.rawErr
}

// legacyAEAD is the cipher of raw messages stored before the key stream,
// derived from the pseudonym secret.
func (s *Inbox) legacyAEAD() (cipher.AEAD, error) {
	s.legacyOnce.Do(func() {
		key := sha256.Sum256(append([]byte("stafet raw v1\x00"), s.cfg.Secret...))
		s.legacyGCM, s.legacyErr = newAEAD(key[:])
	})
	return s.legacyGCM, s.legacyErr
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return cipher.NewGCM(block)
}

// rawAAD binds a sealed raw message to the key's name; legacy messages
// were bound to the stream's name.
func rawAAD(name string) []byte {
	if name == "" {
		return []byte(RawStream)
	}
	return []byte("stafet raw v2\x00" + name)
}

// sealRaw seals a raw message as [nonce | AES-GCM(JSON of m)], encoding
// the JSON and sealing it in place in one buffer: a raw message is
// sealed for every inbound message, so its garbage counts.
func sealRaw(gcm cipher.AEAD, m RawMessage, aad []byte) []byte {
	n := gcm.NonceSize()
	buf := make([]byte, n, n+rawJSONSize(&m)+gcm.Overhead())
	rand.Read(buf) // never fails (crypto/rand)
	buf = appendRawJSON(buf, &m)
	if cap(buf)-len(buf) < gcm.Overhead() {
		buf = slices.Grow(buf, gcm.Overhead())
	}
	sealed := gcm.Seal(buf[n:n], buf[:n], buf[n:], aad)
	return buf[:n+len(sealed)]
}

// appendRawJSON appends m as encoding/json would write it, for openRaw's
// json.Unmarshal.
func appendRawJSON(b []byte, m *RawMessage) []byte {
	b = append(b, `{"system":`...)
	b = appendJSONString(b, m.System)
	b = append(b, `,"sender":`...)
	b = appendJSONString(b, m.Sender)
	b = append(b, `,"control_id":`...)
	b = appendJSONString(b, m.ControlID)
	if m.ContentType != "" {
		b = append(b, `,"content_type":`...)
		b = appendJSONString(b, m.ContentType)
	}
	b = append(b, `,"received_at":"`...)
	b = m.ReceivedAt.AppendFormat(b, time.RFC3339Nano)
	if m.Body == nil {
		b = append(b, `","body":null`...)
	} else {
		b = append(b, `","body":"`...)
		b = base64.StdEncoding.AppendEncode(b, m.Body)
		b = append(b, '"')
	}
	if m.Replaces != 0 {
		b = append(b, `,"replaces":`...)
		b = strconv.AppendUint(b, m.Replaces, 10)
	}
	return append(b, '}')
}

// rawJSONSize is about what appendRawJSON writes (more if strings need
// escapes).
func rawJSONSize(m *RawMessage) int {
	return 160 + len(m.System) + len(m.Sender) + len(m.ControlID) + len(m.ContentType) + base64.StdEncoding.EncodedLen(len(m.Body))
}

// appendJSONString appends s as a JSON string. Bytes that are not UTF-8
// pass through; json.Unmarshal reads them as U+FFFD, as it reads what
// json.Marshal writes for them.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// openRaw opens a stored raw message under the key its header names.
func (s *Inbox) openRaw(ctx context.Context, h nats.Header, b []byte) (RawMessage, error) {
	var m RawMessage
	name := headerValue(h, HeaderKey)
	var gcm cipher.AEAD
	var err error
	switch {
	case name == "":
		gcm, err = s.legacyAEAD()
	case name == rawKeyName:
		gcm, err = s.rawAEAD()
	default:
		m.Patient = events.PatientRef(name)
		var key []byte
		if key, err = s.vault.patientKey(ctx, m.Patient, false); err == nil {
			gcm, err = newAEAD(key)
		}
	}
	if err != nil {
		return m, err
	}
	if len(b) < gcm.NonceSize() {
		return m, errors.New("sealed body too short")
	}
	plain, err := gcm.Open(nil, b[:gcm.NonceSize()], b[gcm.NonceSize():], rawAAD(name))
	if err != nil {
		return m, fmt.Errorf("cannot open sealed body (another pseudonym secret or key?): %w", err)
	}
	patient := m.Patient
	err = json.Unmarshal(plain, &m)
	m.Patient = patient
	return m, err
}

// DeadLetter is a raw message that could not be translated or appended,
// with a machine-readable reason.
type DeadLetter struct {
	RawSeq  uint64    `json:"raw_seq"`
	System  string    `json:"system"`
	Code    string    `json:"code"`
	Field   string    `json:"field,omitempty"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	Retries int       `json:"retries"`
}

// PutDeadLetter records (or updates) a dead letter for a raw message; it
// returns once the dead letter is on disk.
func (s *Inbox) PutDeadLetter(ctx context.Context, d DeadLetter) error {
	if old, err := s.DeadLetter(ctx, d.RawSeq); err == nil {
		d.Retries = old.Retries + 1
	}
	b, _ := json.Marshal(d)
	if _, err := s.dead.Put(ctx, strconv.FormatUint(d.RawSeq, 10), b); err != nil {
		return fmt.Errorf("engine: dead letter: %w", err)
	}
	// On disk before the sender hears of it, with its raw message.
	return s.Commit(ctx)
}

// ErrNoDeadLetter is returned for a raw sequence with no dead letter.
var ErrNoDeadLetter = errors.New("engine: no such dead letter")

// DeadLetter returns the dead letter of a raw message.
func (s *Inbox) DeadLetter(ctx context.Context, rawSeq uint64) (DeadLetter, error) {
	var d DeadLetter
	e, err := s.dead.Get(ctx, strconv.FormatUint(rawSeq, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return d, ErrNoDeadLetter
	}
	if err != nil {
		return d, fmt.Errorf("engine: dead letter: %w", err)
	}
	err = json.Unmarshal(e.Value(), &d)
	return d, err
}

// DeadLetters lists the dead letters, oldest raw message first.
func (s *Inbox) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	lister, err := s.dead.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: dead letters: %w", err)
	}
	var out []DeadLetter
	for k := range lister.Keys() {
		seq, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			continue
		}
		if d, err := s.DeadLetter(ctx, seq); err == nil {
			out = append(out, d)
		}
	}
	sortBy(out, func(d DeadLetter) uint64 { return d.RawSeq })
	return out, nil
}

// ResolveDeadLetter removes a dead letter once its message went through.
func (s *Inbox) ResolveDeadLetter(ctx context.Context, rawSeq uint64) error {
	err := s.dead.Delete(ctx, strconv.FormatUint(rawSeq, 10))
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("engine: resolve dead letter: %w", err)
	}
	return nil
}
