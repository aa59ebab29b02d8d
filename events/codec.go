package events

//go:generate go run ./internal/codecgen

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math/bits"
	"time"
	"unicode/utf8"

	fastjson "github.com/goccy/go-json"
	"github.com/google/uuid"
)

// Decoding sits on the replay hot path. Stored messages are read by a
// reader of the one form Encode writes (Decoder.canonical, below), with
// no JSON library: 0.7 µs and 3.5 allocations an event through a
// Decoder against 2.9 µs and 16 through goccy/go-json on the log of
// stafet bench (whose replay went from 9.9 to 7.0 µs of CPU an event
// with this and the engine's changes). Anything else goes to the general
// decoder, goccy/go-json, 4.4× faster than encoding/json on Stafet's
// envelopes (events BenchmarkDecode). All three read the same JSON into
// the same values (FuzzCanonicalAgrees, FuzzDecodeAgreesWithEncodingJSON
// and FuzzDecodeCommitAgreesWithEncodingJSON check that). Encode writes
// the bytes encoding/json wrote, without calling it (encode.go).

// Upcaster turns a stored payload of one schema version into the next
// version's JSON. Upcasters are pure and never fail on data their own
// version accepted.
type Upcaster func(data json.RawMessage) (json.RawMessage, error)

type upKey struct {
	t    Type
	from int
}

// Codec encodes envelopes for the log and decodes them back, upcasting
// old schema versions on read. The zero value is not usable; use NewCodec.
type Codec struct {
	current   map[Type]int
	upcasters map[upKey]Upcaster
	// names finds a stored type name without allocating a string.
	names map[string]Type
}

// NewCodec returns a codec that knows this build's event catalogue and
// its upcasters (catalogue.go).
func NewCodec() *Codec {
	c := &Codec{current: make(map[Type]int), upcasters: make(map[upKey]Upcaster), names: make(map[string]Type)}
	for _, t := range Types() {
		c.current[t] = 1
		c.names[string(t)] = t
	}
	for _, u := range upcasts() {
		c.Upcast(u.t, u.from, u.up)
	}
	return c
}

// Upcast registers up as the step from schema version from to from+1 of
// type t, and makes from+1 the current version if it was older.
func (c *Codec) Upcast(t Type, from int, up Upcaster) {
	c.upcasters[upKey{t, from}] = up
	if c.current[t] < from+1 {
		c.current[t] = from + 1
	}
}

// Current returns the schema version this build writes for t.
func (c *Codec) Current(t Type) int { return c.current[t] }

// wire is the stored JSON form of an envelope.
type wire struct {
	ID          uuid.UUID       `json:"id"`
	Pathway     uuid.UUID       `json:"pathway"`
	Type        Type            `json:"type"`
	Schema      int             `json:"schema"`
	OccurredAt  time.Time       `json:"occurred_at"`
	RecordedAt  time.Time       `json:"recorded_at,omitzero"`
	Source      *wireSource     `json:"source,omitempty"`
	Actor       *wireActor      `json:"actor,omitempty"`
	Correlation string          `json:"correlation,omitempty"`
	Causation   string          `json:"causation,omitempty"`
	Data        json.RawMessage `json:"data"`
}

type wireSource struct {
	System    string `json:"system,omitempty"`
	Org       OrgID  `json:"org,omitempty"`
	MessageID string `json:"message_id,omitempty"`
}

type wireActor struct {
	Org  OrgID  `json:"org,omitempty"`
	Role string `json:"role,omitempty"`
}

// Encode returns the stored form of e at the current schema version.
func (c *Codec) Encode(e *Envelope) ([]byte, error) {
	// Written on the stack and copied out: one allocation, of the size
	// written, for all but messages longer than scratch.
	var scratch [1024]byte
	b, err := c.appendEnvelope(scratch[:0], e)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

// Decode reads a stored envelope, upcasting its payload to the current
// schema version. It checks structure, not rules: events in the log were
// validated when they were appended.
func (c *Codec) Decode(b []byte) (Envelope, error) {
	d := Decoder{c: c}
	var e Envelope
	if d.canonical(b, &e) {
		return e, nil
	}
	return c.decode(b)
}

// decode is Decode for any JSON.
func (c *Codec) decode(b []byte) (Envelope, error) {
	var w wire
	if err := fastjson.Unmarshal(b, &w); err != nil {
		return Envelope{}, fmt.Errorf("events: decode envelope: %w", err)
	}
	if err := firstErr(storable("occurred_at", w.OccurredAt), storable("recorded_at", w.RecordedAt)); err != nil {
		return Envelope{}, err
	}
	e := Envelope{
		ID: w.ID, Pathway: w.Pathway, Type: w.Type, OccurredAt: w.OccurredAt, RecordedAt: w.RecordedAt,
		Correlation: w.Correlation, Causation: w.Causation,
	}
	if w.Source != nil {
		e.Source = Source{w.Source.System, w.Source.Org, w.Source.MessageID}
	}
	if w.Actor != nil {
		e.Actor = Actor{w.Actor.Org, w.Actor.Role}
	}
	p, err := c.decodePayload(w.Type, w.Schema, w.Data, fastjson.Unmarshal)
	if err != nil {
		return Envelope{}, err
	}
	e.Payload, e.Schema = p, c.current[w.Type]
	return e, nil
}

func (c *Codec) decodePayload(t Type, schema int, data json.RawMessage, unmarshal func([]byte, any) error) (Payload, error) {
	cur, known := c.current[t]
	switch {
	case t == "":
		return nil, &ValidationError{Field: "type", Reason: "missing"}
	case !known:
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, string(t))
	case schema < 1:
		return nil, &ValidationError{Field: "schema", Reason: fmt.Sprintf("want a version ≥ 1, got %d", schema)}
	case schema > cur:
		return nil, fmt.Errorf("%w: %s version %d, this build knows up to %d", ErrFutureSchema, t, schema, cur)
	case len(data) == 0 || string(data) == "null":
		return nil, &ValidationError{Field: "data", Reason: "missing"}
	}
	for v := schema; v < cur; v++ {
		up := c.upcasters[upKey{t, v}]
		if up == nil {
			return nil, fmt.Errorf("events: no upcaster for %s from version %d", t, v)
		}
		var err error
		if data, err = up(data); err != nil {
			return nil, fmt.Errorf("events: upcast %s from version %d: %w", t, v, err)
		}
	}
	p := NewPayload(t)
	if err := unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("events: decode %s: %w", t, err)
	}
	return p, nil
}

// storable checks that an envelope time survives Encode, which writes it
// in UTC: "0000-01-01T00:00:00+01:00" parses, but its UTC year is -1,
// which JSON cannot hold.
func storable(field string, t time.Time) error {
	// Compared with the bounds: Year would work out the whole date, for
	// each time of each event a replay reads.
	if t.Before(firstStorable) || !t.Before(afterStorable) {
		return &ValidationError{Field: field, Reason: "year outside 0-9999 in UTC"}
	}
	return nil
}

// The first instant of year 0 in UTC and the first after year 9999.
var (
	firstStorable = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)
	afterStorable = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// EncodeCommit encodes the events one command yields as one stored
// message, so they are stored together or not at all: a single envelope,
// or a JSON array of envelopes for several. Stored messages are one or the
// other, for ever; DecodeCommit reads both.
func (c *Codec) EncodeCommit(evs []Envelope) ([]byte, error) {
	if len(evs) == 1 {
		return c.Encode(&evs[0])
	}
	var scratch [2048]byte // room for the usual commit of two or three
	b := append(scratch[:0], '[')
	for i := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = c.appendEnvelope(b, &evs[i]); err != nil {
			return nil, err
		}
	}
	return bytes.Clone(append(b, ']')), nil
}

// DecodeCommit reads a stored message: one envelope, or an array of the
// envelopes of one command.
func (c *Codec) DecodeCommit(b []byte) ([]Envelope, error) {
	d := Decoder{c: c}
	return d.DecodeCommit(nil, b)
}

// decodeCommit is DecodeCommit for any JSON: the reference the canonical
// reader (Decoder.canonical) agrees with.
func (c *Codec) decodeCommit(b []byte) ([]Envelope, error) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if i == len(b) || b[i] != '[' {
		e, err := c.decode(b)
		if err != nil {
			return nil, err
		}
		return []Envelope{e}, nil
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		return nil, fmt.Errorf("events: decode commit: %w", err)
	}
	if len(raws) == 0 {
		return nil, &ValidationError{Field: "commit", Reason: "no events"}
	}
	out := make([]Envelope, 0, len(raws))
	for _, r := range raws {
		e, err := c.decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// DecodePayload reads a payload of type t given as JSON (as the API
// receives it) and validates it.
func (c *Codec) DecodePayload(t Type, data json.RawMessage) (Payload, error) {
	// What the API receives is decoded by the standard library, whose
	// errors name the field for the caller.
	p, err := c.decodePayload(t, c.current[t], data, json.Unmarshal)
	if err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Decoder reads stored messages as Codec.DecodeCommit does, for one
// goroutine: it keeps the strings that repeat from event to event
// (organisation ids, clusters, kinds, systems) and hands out the same
// string each time, so a replay allocates once per distinct value instead
// of once per event. A Decoder is not safe for concurrent use.
type Decoder struct {
	c *Codec
	// syms holds the strings last seen, each in the slot of its hash: a
	// cache that forgets on collision, so free text in a field that
	// usually repeats (a reason) costs nothing but a miss. nil: no
	// sharing.
	syms []string
	seed maphash.Seed
	// recent holds the last strings text read, next the slot to fill.
	recent [4]string
	next   int
}

// symSlots is the size of a Decoder's string cache: a few times the
// distinct organisations, clusters and kinds of a national log.
const symSlots = 1 << 13

// NewDecoder returns a Decoder for c.
func (c *Codec) NewDecoder() *Decoder {
	return &Decoder{c: c, syms: make([]string, symSlots), seed: maphash.MakeSeed()}
}

// DecodeCommit appends the events of the stored message b (one envelope,
// or an array of the envelopes of one command) to dst. On error it
// returns dst as it was.
func (d *Decoder) DecodeCommit(dst []Envelope, b []byte) ([]Envelope, error) {
	n := len(dst)
	if out, ok := d.canonicalCommit(dst, b); ok {
		return out, nil
	}
	evs, err := d.c.decodeCommit(b)
	if err != nil {
		return dst[:n], err
	}
	return append(dst[:n], evs...), nil
}

// Stored messages are written by Encode and EncodeCommit, always in one
// form: compact, keys in a fixed order, strings without escapes unless
// they hold a quote, a backslash, a control character or one of <, >, &,
// U+2028, U+2029. The canonical reader below reads that form straight
// into the envelope, without a JSON library; it gives up on anything
// else (whitespace, an unknown, repeated or differently cased key, an
// escape, null, a number that is not a small integer, an old schema
// version, an empty base64 string), and the message is read again by the
// general decoder. Whatever it accepts, it reads as that decoder does
// (FuzzCanonicalAgrees checks that): a string without escapes, control
// characters or invalid UTF-8 means its own bytes to every JSON decoder,
// and ids and times are parsed by the same methods the decoders call.

// canonicalCommit appends the events of b to dst if b is in canonical
// form.
func (d *Decoder) canonicalCommit(dst []Envelope, b []byte) ([]Envelope, bool) {
	n := len(dst)
	if len(b) == 0 || b[0] != '[' {
		dst = append(dst, Envelope{})
		if !d.canonical(b, &dst[n]) {
			return dst[:n], false
		}
		return dst, true
	}
	s := scanner{b: b, i: 1, d: d}
	for {
		dst = append(dst, Envelope{})
		if !d.envelope(&s, &dst[len(dst)-1]) {
			return dst[:n], false
		}
		if s.byte(']') && s.i == len(b) {
			return dst, true
		}
		if !s.byte(',') {
			return dst[:n], false
		}
	}
}

// canonical reads b, one envelope, into e if it is in canonical form.
func (d *Decoder) canonical(b []byte, e *Envelope) bool {
	s := scanner{b: b, d: d}
	return d.envelope(&s, e) && s.i == len(b)
}

// The keys of an envelope and of its source and actor, as Encode writes
// them.
var (
	envelopeKeys = []string{`"id":`, `"pathway":`, `"type":`, `"schema":`, `"occurred_at":`, `"recorded_at":`,
		`"source":`, `"actor":`, `"correlation":`, `"causation":`, `"data":`}
	sourceKeys = []string{`"system":`, `"org":`, `"message_id":`}
	actorKeys  = []string{`"org":`, `"role":`}
)

func (d *Decoder) envelope(s *scanner, e *Envelope) bool {
	var schema int
	var typed, versioned, occurred, recorded bool
	ok := s.object(envelopeKeys, func(k int) uint32 {
		switch k {
		case 0: // id
			return s.uuid(&e.ID, 1<<0)
		case 1: // pathway
			return s.uuid(&e.Pathway, 1<<1)
		case 2: // type
			v, ok := s.str()
			t, known := d.c.names[string(v)]
			if !ok || !known {
				return 0
			}
			e.Type, typed = t, true
			return 1 << 2
		case 3: // schema
			versioned = s.small(&schema)
			return bit(versioned, 1<<3)
		case 4: // occurred_at
			occurred = true
			return s.time(&e.OccurredAt, 1<<4)
		case 5: // recorded_at
			recorded = true
			return s.time(&e.RecordedAt, 1<<5)
		case 6: // source
			return s.object(sourceKeys, func(k int) uint32 {
				switch k {
				case 0: // system
					return s.sym(&e.Source.System, 1)
				case 1: // org
					return s.sym((*string)(&e.Source.Org), 2)
				case 2: // message_id
					return s.text(&e.Source.MessageID, 4)
				}
				return 0
			}, 1<<6)
		case 7: // actor
			return s.object(actorKeys, func(k int) uint32 {
				switch k {
				case 0: // org
					return s.sym((*string)(&e.Actor.Org), 1)
				case 1: // role
					return s.sym(&e.Actor.Role, 2)
				}
				return 0
			}, 1<<7)
		case 8: // correlation
			return s.text(&e.Correlation, 1<<8)
		case 9: // causation
			return s.text(&e.Causation, 1<<9)
		case 10: // data
			// The payload's type and version come first, and no
			// upcasting may be due.
			if !typed || !versioned || schema != d.c.current[e.Type] {
				return 0
			}
			e.Payload = NewPayload(e.Type)
			return bit(s.payload(e.Payload), 1<<10)
		}
		return 0
	}, 1) != 0
	if !ok || e.Payload == nil {
		return false
	}
	if occurred && storable("", e.OccurredAt) != nil || recorded && storable("", e.RecordedAt) != nil {
		return false
	}
	e.Schema = schema
	return true
}

// bit returns b if ok, else 0.
func bit(ok bool, b uint32) uint32 {
	if !ok {
		return 0
	}
	return b
}

// scanner reads the canonical form of a stored message. Every method
// returns false (or a zero bit) when the input leaves that form.
type scanner struct {
	b []byte
	i int
	d *Decoder
}

func (s *scanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads an object whose members field reads. keys are the keys
// it knows, as Encode writes them (`"key":`) and in its order; field
// decodes the value of keys[key] and returns that key's bit, or 0.
// object returns bit, or 0 for an unknown or repeated key.
func (s *scanner) object(keys []string, field func(key int) uint32, bit uint32) uint32 {
	if !s.byte('{') {
		return 0
	}
	if s.byte('}') {
		return bit
	}
	var seen uint32
	next := 0
	for {
		k := s.key(keys, next)
		if k < 0 {
			return 0
		}
		b := field(k)
		if b == 0 || seen&b != 0 {
			return 0
		}
		seen |= b
		next = k + 1
		if s.byte('}') {
			return bit
		}
		if !s.byte(',') {
			return 0
		}
	}
}

// key reads a member's key and its colon, and returns the key's index in
// keys, or -1 for a key not in keys. Keys come in the order of keys, so
// the one after the last is tried first: a stored key is found by one
// comparison with a constant, or a few when members were left out, where
// reading it as a string and looking it up took a scan and a search.
func (s *scanner) key(keys []string, next int) int {
	rest := s.b[s.i:]
	for k := next; k < len(keys); k++ {
		if has(rest, keys[k]) {
			s.i += len(keys[k])
			return k
		}
	}
	for k := range next {
		if has(rest, keys[k]) {
			s.i += len(keys[k])
			return k
		}
	}
	return -1
}

// has reports whether b begins with p.
func has(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}

// str reads a string without escapes, control characters or invalid
// UTF-8 and returns its bytes, which are its value.
func (s *scanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	b, start, ascii := s.b, s.i, true
	i := s.i
	for {
		// Eight bytes at a time while none is special: a quote, a
		// backslash, a control character or a byte of a multi-byte
		// character. The lowest flagged byte is the first special one
		// (a flag from a borrow only follows a real one).
		for ; i+8 <= len(b); i += 8 {
			x := binary.LittleEndian.Uint64(b[i:])
			m := (x - 0x2020202020202020) | ((x ^ 0x2222222222222222) - 0x0101010101010101) |
				((x ^ 0x5c5c5c5c5c5c5c5c) - 0x0101010101010101) | x
			if m &= 0x8080808080808080; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		if i >= len(b) {
			return nil, false
		}
		switch c := b[i]; {
		case c == '"':
			v := b[start:i]
			s.i = i + 1
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		i++
	}
}

// text reads a string that is mostly unique to its message: ids of
// messages, documents, offers, episodes. The events of one message share
// some (the message id, the correlation, the episode), so the last few
// are kept and handed out again.
func (s *scanner) text(dst *string, bit uint32) uint32 {
	v, ok := s.str()
	if !ok {
		return 0
	}
	d := s.d
	for _, r := range d.recent {
		if r == string(v) {
			*dst = r
			return bit
		}
	}
	*dst = string(v)
	if d.syms != nil {
		d.recent[d.next] = *dst
		d.next = (d.next + 1) % len(d.recent)
	}
	return bit
}

// sym reads a string that repeats across events, shared through the
// Decoder.
func (s *scanner) sym(dst *string, bit uint32) uint32 {
	v, ok := s.str()
	if !ok {
		return 0
	}
	d := s.d
	if d.syms == nil {
		*dst = string(v)
		return bit
	}
	slot := &d.syms[maphash.Bytes(d.seed, v)&(symSlots-1)]
	if *slot != string(v) {
		*slot = string(v)
	}
	*dst = *slot
	return bit
}

// uuid reads a uuid as UnmarshalText does; the canonical form, 36
// characters, without the search of the other forms it accepts.
func (s *scanner) uuid(dst *uuid.UUID, bit uint32) uint32 {
	v, ok := s.str()
	if !ok {
		return 0
	}
	if len(v) == 36 && hexUUID(dst, v) {
		return bit
	}
	if dst.UnmarshalText(v) != nil {
		return 0
	}
	return bit
}

// hexUUID reads xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, in either case, as
// uuid.ParseBytes does; eight digits at a time (hex8).
func hexUUID(dst *uuid.UUID, b []byte) bool {
	if len(b) != 36 {
		return false
	}
	a := (*[36]byte)(b)
	if a[8] != '-' || a[13] != '-' || a[18] != '-' || a[23] != '-' {
		return false
	}
	le := binary.LittleEndian
	w0, ok0 := hex8(le.Uint64(a[0:8]))
	w1, ok1 := hex8(uint64(le.Uint32(a[9:13])) | uint64(le.Uint32(a[14:18]))<<32)
	w2, ok2 := hex8(uint64(le.Uint32(a[19:23])) | uint64(le.Uint32(a[24:28]))<<32)
	w3, ok3 := hex8(le.Uint64(a[28:36]))
	if !ok0 || !ok1 || !ok2 || !ok3 {
		return false
	}
	le.PutUint32(dst[0:4], w0)
	le.PutUint32(dst[4:8], w1)
	le.PutUint32(dst[8:12], w2)
	le.PutUint32(dst[12:16], w3)
	return true
}

// hex8 decodes eight hexadecimal digits, either case, loaded little-endian
// (the first in the lowest byte), into four bytes stored little-endian;
// false if any byte is not a digit.
func hex8(x uint64) (uint32, bool) {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	// in sets a byte's high bit if the byte, below 0x80, is in [lo, hi].
	in := func(x uint64, lo, hi uint64) uint64 {
		return (x + (0x80-lo)*ones) &^ (x + (0x7f-hi)*ones) & high
	}
	digit := in(x, '0', '9')
	letter := in(x|0x20*ones, 'a', 'f') // 'A'-'F' and 'a'-'f'
	if x&high != 0 || digit|letter != high {
		return 0, false
	}
	// A digit's value is its low four bits, a letter's those plus nine;
	// letters alone have 0x40 set.
	v := x&(0x0f*ones) + (x&(0x40*ones))>>6*9
	// Pairs of digits into bytes, then the bytes together.
	v = (v<<4 | v>>8) & 0x00ff00ff00ff00ff
	v = (v | v>>8) & 0x0000ffff0000ffff
	return uint32(v | v>>16), true
}

// time reads a time as both JSON decoders do, through UnmarshalJSON,
// or, for a time in UTC as Encode writes envelope times, as UnmarshalJSON
// reads it: time.Date of the same fields in UTC.
func (s *scanner) time(dst *time.Time, bit uint32) uint32 {
	start := s.i
	v, ok := s.str()
	if !ok {
		return 0
	}
	if t, ok := utcTime(v); ok {
		*dst = t
		return bit
	}
	if dst.UnmarshalJSON(s.b[start:s.i]) != nil {
		return 0
	}
	return bit
}

// utcTime parses "2006-01-02T15:04:05Z", with 1 to 9 digits of a second
// after a point or none, with the ranges time.Time.UnmarshalJSON checks,
// into what that returns: time.Date of the fields in UTC, which is
// time.Unix of the same instant in UTC (counted here from the date, as
// time.Date does, without its normalising of out-of-range fields).
func utcTime(b []byte) (time.Time, bool) {
	const n = len("2006-01-02T15:04:05")
	if len(b) < n+1 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits4(b[0:4])
	month, ok2 := digits2(b[5:7])
	day, ok3 := digits2(b[8:10])
	hour, ok4 := digits2(b[11:13])
	minute, ok5 := digits2(b[14:16])
	sec, ok6 := digits2(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[n : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || len(frac) > 10 || frac[0] != '.' {
			return time.Time{}, false
		}
		f, ok := decimal(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			f *= 10
		}
		nsec = f
	}
	unix := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// digits2 and digits4 parse two and four decimal digits.
func digits2(b []byte) (int, bool) {
	d0, d1 := b[0]-'0', b[1]-'0'
	return int(d0)*10 + int(d1), d0 <= 9 && d1 <= 9
}

func digits4(b []byte) (int, bool) {
	hi, ok1 := digits2(b[0:2])
	lo, ok2 := digits2(b[2:4])
	return hi*100 + lo, ok1 && ok2
}

// daysSinceEpoch returns the days from 1970-01-01 to a valid date of the
// proleptic Gregorian calendar with a year of 0 to 9999 (H. Hinnant,
// "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
func daysSinceEpoch(year, month, day int) int64 {
	y := int64(year)
	if month <= 2 {
		y-- // years run from March, so a leap day ends one
	}
	era := (y+400)/400 - 1 // floor(y / 400) for y ≥ -400
	yoe := y - era*400
	mp := int64(month+9) % 12 // March is 0
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// decimal parses a run of decimal digits.
func decimal(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// base64 reads bytes as both JSON decoders do: standard base64 with
// padding.
func (s *scanner) base64(dst *[]byte, bit uint32) uint32 {
	v, ok := s.str()
	if !ok || len(v) == 0 {
		return 0
	}
	b := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Decode(b, v)
	if err != nil {
		return 0
	}
	*dst = b[:n]
	return bit
}

func (s *scanner) bool(dst *bool, bit uint32) uint32 {
	switch {
	case bytes.HasPrefix(s.b[s.i:], []byte("true")):
		*dst, s.i = true, s.i+4
	case bytes.HasPrefix(s.b[s.i:], []byte("false")):
		*dst, s.i = false, s.i+5
	default:
		return 0
	}
	return bit
}

// uint reads a uint64 of at most 19 digits (a log sequence), without a
// leading zero; anything else leaves the canonical form.
func (s *scanner) uint(dst *uint64, bit uint32) uint32 {
	start := s.i
	var v uint64
	for s.i < len(s.b) && s.i-start < 20 && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + uint64(s.b[s.i]-'0')
		s.i++
	}
	switch n := s.i - start; {
	case n == 0 || n > 19 || n > 1 && s.b[start] == '0':
		return 0
	}
	*dst = v
	return bit
}

// small reads a non-negative integer of at most 9 digits.
func (s *scanner) small(dst *int) bool {
	start, v := s.i, 0
	for s.i < len(s.b) && s.i-start < 10 && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int(s.b[s.i]-'0')
		s.i++
	}
	switch n := s.i - start; {
	case n == 0 || n > 9 || n > 1 && s.b[start] == '0':
		return false
	}
	*dst = v
	return true
}
