package events

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Encoding sits on the append hot path. Envelopes and the payloads of
// this package are written straight into the message's bytes, in the form
// encoding/json gave them when it wrote the log (json.Marshal of wireOut,
// kept in encode_ref_test.go): the same keys in the same order, the same
// omitempty and omitzero, strings escaped as encoding/json escapes them
// (quotes, backslashes, control characters, <, >, &, U+2028, U+2029,
// invalid UTF-8 as U+FFFD), times as time.Time.MarshalJSON writes them.
// Stored bytes never change: TestEncodeMatchesReference and
// FuzzEncodeMatchesReference hold the two to byte equality. Payloads of
// other packages' types still go through encoding/json.

// appendEnvelope appends the stored form of e at the current schema
// version to b.
func (c *Codec) appendEnvelope(b []byte, e *Envelope) ([]byte, error) {
	if e.Payload == nil {
		return nil, &ValidationError{Field: "data", Reason: "missing payload"}
	}
	t := e.Payload.Type()
	b = append(b, `{"id":`...)
	b = appendUUID(b, e.ID)
	b = append(b, `,"pathway":`...)
	b = appendUUID(b, e.Pathway)
	b = append(b, `,"type":`...)
	b = appendString(b, string(t))
	b = append(b, `,"schema":`...)
	b = strconv.AppendInt(b, int64(c.current[t]), 10)
	b = append(b, `,"occurred_at":`...)
	b, err := appendTime(b, e.OccurredAt.UTC())
	if err == nil && !e.RecordedAt.IsZero() {
		b = append(b, `,"recorded_at":`...)
		b, err = appendTime(b, e.RecordedAt.UTC())
	}
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", t, err)
	}
	if s := &e.Source; *s != (Source{}) {
		b = append(b, `,"source":{`...)
		n := len(b)
		b = appendField(b, n, `"system":`, s.System)
		b = appendField(b, n, `"org":`, string(s.Org))
		b = appendField(b, n, `"message_id":`, s.MessageID)
		b = append(b, '}')
	}
	if a := &e.Actor; *a != (Actor{}) {
		b = append(b, `,"actor":{`...)
		n := len(b)
		b = appendField(b, n, `"org":`, string(a.Org))
		b = appendField(b, n, `"role":`, a.Role)
		b = append(b, '}')
	}
	b = appendOmit(b, `,"correlation":`, e.Correlation)
	b = appendOmit(b, `,"causation":`, e.Causation)
	b = append(b, `,"data":`...)
	if b, err = appendPayload(b, e.Payload); err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", t, err)
	}
	return append(b, '}'), nil
}

// appendPayload appends p as encoding/json marshals it.
func appendPayload(b []byte, p Payload) ([]byte, error) {
	if v := reflect.ValueOf(p); v.Kind() == reflect.Pointer && v.IsNil() {
		return append(b, "null"...), nil
	}
	b, ok, err := appendCatalogued(b, p)
	if ok || err != nil {
		return b, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	return append(b, data...), nil
}

// appendOmit appends an omitempty string member whose key (with its
// leading comma) is key.
func appendOmit(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(append(b, key...), v)
}

// appendField appends an omitempty string member of an object whose
// first member would start at b[start], with a comma if it is not the
// first.
func appendField(b []byte, start int, key, v string) []byte {
	if v == "" {
		return b
	}
	if len(b) > start {
		b = append(b, ',')
	}
	return appendString(append(b, key...), v)
}

// appendUUID appends id as its MarshalText writes it, quoted.
func appendUUID(b []byte, id uuid.UUID) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id[:4])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[4:6])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[6:8])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[8:10])
	b = append(b, '-')
	b = hex.AppendEncode(b, id[10:])
	return append(b, '"')
}

// appendBytes appends a []byte as encoding/json does: standard base64,
// or null for nil.
func appendBytes(b, v []byte) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

// appendTime appends t as time.Time.MarshalJSON writes it, and fails
// where it fails (a year outside 0-9999, a zone offset of a day or more)
// with the error encoding/json gives.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	b = append(b, '"')
	out, err := t.AppendText(b)
	if err != nil {
		_, err = t.MarshalJSON()
		return nil, &json.MarshalerError{Type: reflect.TypeFor[time.Time](), Err: err}
	}
	return append(out, '"'), nil
}

// jsonSafe holds the ASCII bytes encoding/json writes as they are in a
// string, with HTML escaping on: not a quote, a backslash, a control
// character, <, > or &.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string as encoding/json writes it
// with HTML escaping (its appendString).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while none needs a look: a quote, a
		// backslash, a control character, <, >, & or a byte of a
		// multi-byte character. The lowest flagged byte is the first
		// such (a flag from a borrow only follows a real one).
		for ; i+8 <= len(s); i += 8 {
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			m := (x - 0x2020202020202020) | x |
				((x ^ 0x2222222222222222) - 0x0101010101010101) | ((x ^ 0x5c5c5c5c5c5c5c5c) - 0x0101010101010101) |
				((x ^ 0x3c3c3c3c3c3c3c3c) - 0x0101010101010101) | ((x ^ 0x3e3e3e3e3e3e3e3e) - 0x0101010101010101) |
				((x ^ 0x2626262626262626) - 0x0101010101010101)
			if m &= 0x8080808080808080; m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
		}
		if i >= len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
