package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// FuzzEncodeMatchesReference builds envelopes of every type from fuzzed
// strings, times, zones and flags, and requires Encode and EncodeCommit
// to write the bytes (or fail with the error) of the encoding/json
// reference. The seed corpus is in testdata/fuzz/FuzzEncodeMatchesReference.
//
//	go test ./events -run '^$' -fuzz FuzzEncodeMatchesReference -fuzztime 120s
func FuzzEncodeMatchesReference(f *testing.F) {
	c := NewCodec()
	f.Fuzz(func(t *testing.T, kind uint8, s0, s1, s2, s3 string, sec, nsec int64, zone int32, flags uint32, raw []byte) {
		g := &fuzzEnvelope{s: [4]string{s0, s1, s2, s3}, sec: sec, nsec: nsec, zone: zone, flags: flags, raw: raw}
		e := g.envelope(kind)
		second := g.envelope(kind + 1)
		for _, evs := range [][]Envelope{{e}, {e, second}} {
			got, err := c.EncodeCommit(evs)
			want, wantErr := c.EncodeCommitReference(evs)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
				t.Fatalf("EncodeCommit of %d: got %s (%v)\nwant %s (%v)", len(evs), got, err, want, wantErr)
			}
		}
		got, err := c.Encode(&e)
		want, wantErr := c.EncodeReference(&e)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("Encode: got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
		}
	})
}

// fuzzEnvelope turns fuzzed values into envelopes: each bit of flags
// empties one string or zeroes one time, so that every omitempty field
// is both written and left out.
type fuzzEnvelope struct {
	s     [4]string
	sec   int64
	nsec  int64
	zone  int32
	flags uint32
	raw   []byte
	next  int
}

// str returns the next fuzzed string, or "" if its flag is set.
func (g *fuzzEnvelope) str() string {
	i := g.next
	g.next++
	if g.flags&(1<<(i%32)) != 0 {
		return ""
	}
	return g.s[i%len(g.s)]
}

func (g *fuzzEnvelope) org() OrgID { return OrgID(g.str()) }

func (g *fuzzEnvelope) bool() bool {
	g.next++
	return g.flags&(1<<(g.next%32)) != 0
}

// time returns a time in a fuzzed zone, or the zero time if its flag is
// set. Years stay in 0-9999 unless the top flag says otherwise, so that
// most inputs encode and some fail.
func (g *fuzzEnvelope) time() time.Time {
	g.next++
	if g.flags&(1<<(g.next%32)) != 0 {
		return time.Time{}
	}
	sec, nsec := g.sec+int64(g.next)*86399, g.nsec
	if g.flags&(1<<31) == 0 {
		const span = 253402300800 + 62135596800 // 0000-01-01 to 9999-12-31 in Unix seconds
		sec = ((sec+62135596800)%span+span)%span - 62135596800
		nsec = (nsec%1e9 + 1e9) % 1e9
	}
	zone := g.zone
	if g.flags&(1<<30) == 0 {
		zone %= 24 * 3600
	}
	return time.Unix(sec, nsec).In(time.FixedZone("", int(zone)))
}

func (g *fuzzEnvelope) uuid() uuid.UUID {
	var id uuid.UUID
	g.next++
	for i := range id {
		if len(g.raw) > 0 {
			id[i] = g.raw[(i+g.next)%len(g.raw)] + byte(g.next)
		}
	}
	return id
}

func (g *fuzzEnvelope) bytes() []byte {
	g.next++
	switch g.flags >> (g.next % 32) & 3 {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return g.raw
}

func (g *fuzzEnvelope) envelope(kind uint8) Envelope {
	g.next = int(kind)
	e := Envelope{
		ID: g.uuid(), Pathway: g.uuid(), OccurredAt: g.time(), RecordedAt: g.time(),
		Source:      Source{System: g.str(), Org: g.org(), MessageID: g.str()},
		Actor:       Actor{Org: g.org(), Role: g.str()},
		Correlation: g.str(), Causation: g.str(),
	}
	e.Payload = g.payload(kind)
	return e
}

// payload returns a payload of one of the catalogue's types by kind,
// its fields filled from the fuzzed values, or a nil pointer of one, or a
// payload type encoding/json writes alone. Reflection over the catalogue
// keeps a new type or field under this guard without a change here.
func (g *fuzzEnvelope) payload(kind uint8) Payload {
	types := Types()
	switch k := int(kind) % (len(types) + 3); k {
	case len(types):
		return (*DocumentSent)(nil)
	case len(types) + 1:
		return &otherPayload{Name: g.str(), Kind: Type(g.str()), At: g.time(), N: float64(g.sec) / 7, Raw: json.RawMessage(`{"a" : [1, "<&>"]}`)}
	case len(types) + 2:
		return &otherPayload{Kind: Type(g.str())}
	default:
		p := NewPayload(types[k])
		g.fill(reflect.ValueOf(p).Elem())
		return p
	}
}

// fill sets every field of the struct v from the fuzzed values.
func (g *fuzzEnvelope) fill(v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Type() {
		case reflect.TypeFor[time.Time]():
			f.Set(reflect.ValueOf(g.time()))
			continue
		case reflect.TypeFor[uuid.UUID]():
			if g.bool() {
				f.Set(reflect.ValueOf(g.uuid()))
			}
			continue
		case reflect.TypeFor[[]byte]():
			f.SetBytes(g.bytes())
			continue
		}
		switch f.Kind() {
		case reflect.String:
			f.SetString(g.str())
		case reflect.Bool:
			f.SetBool(g.bool())
		case reflect.Uint64:
			// Zero, small and the largest: the encoder's and the reader's
			// edges.
			f.SetUint([]uint64{0, uint64(g.sec), 1<<64 - 1}[uint64(g.sec)%3])
		case reflect.Pointer:
			if g.bool() {
				f.Set(reflect.New(f.Type().Elem()))
				g.fill(f.Elem())
			}
		default:
			panic(fmt.Sprintf("fuzzEnvelope.fill: no values for a field of type %s", f.Type()))
		}
	}
}

// otherPayload is a payload type Encode does not write itself.
type otherPayload struct {
	Name string          `json:"name,omitempty"`
	Kind Type            `json:"-"`
	At   time.Time       `json:"at"`
	N    float64         `json:"n"`
	Raw  json.RawMessage `json:"raw,omitempty"`
}

func (p *otherPayload) Type() Type    { return p.Kind }
func (*otherPayload) Validate() error { return nil }

// TestAppendStringMatchesEncodingJSON compares appendString with
// encoding/json on every byte alone and between letters, and on the runes
// and invalid sequences it treats apart.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x7f, 0x80, 0x2027, 0x2028, 0x2029, 0x202a, utf8.RuneError, utf8.MaxRune} {
		inputs = append(inputs, string(r), "x"+string(r)+"y")
	}
	inputs = append(inputs, "\xed\xa0\x80", "\xc0\x80", "\xe2\x80", "\xe2\x80\xa8\xe2", "\xf4\x90\x80\x80", "ab\xff")
	for _, s := range inputs {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q): got %s; want %s", s, got, want)
		}
	}
}
