package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// canonicalSeeds returns stored messages for the canonical reader's tests:
// the compact form of every example, both fuzz corpora of the codec, and
// variants just outside the canonical form.
func canonicalSeeds(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	files, _ := filepath.Glob("testdata/examples/*.json")
	var compact [][]byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatal(err)
		}
		compact = append(compact, buf.Bytes())
	}
	if len(compact) < 2 {
		t.Fatal("no examples in testdata/examples")
	}
	out = append(out, compact...)
	out = append(out, []byte("["+string(compact[0])+","+string(compact[1])+"]"))
	for _, dir := range []string{"FuzzDecode", "FuzzDecodeCommit"} {
		corpus, _ := filepath.Glob(filepath.Join("testdata", "fuzz", dir, "*"))
		for _, file := range corpus {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lit, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
			lit, ok2 := strings.CutSuffix(strings.TrimSpace(lit), ")")
			s, err := strconv.Unquote(lit)
			if !ok || !ok2 || err != nil {
				t.Fatalf("%s: not a []byte corpus entry", file)
			}
			out = append(out, []byte(s))
		}
	}
	const (
		head = `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01",`
		tail = `,"schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`
	)
	for _, v := range []string{
		head + `"type":"PatientDied"` + tail,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2024-02-29T23:59:59.123456789Z","data":{"place":"sor:1"}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-02-29T08:35:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00.1234567891Z","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00.Z","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T24:00:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10t08:35:00z","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00+01:00","data":{}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"0000-01-01T00:00:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":01,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":1.0,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":-1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
		head + `"type":"PatientDied","schema":1234567890,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
		head + `"type":"PatientDied","data":{},"schema":1,"occurred_at":"2025-03-10T08:35:00Z"}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"place":"sor:1","place":"sor:2"}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"Place":"sor:1"}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"place":"s\u00f8r:1"}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"place":"sør:1"}}`,
		head + "\"type\":\"PatientDied\",\"schema\":1,\"occurred_at\":\"2025-03-10T08:35:00Z\",\"data\":{\"place\":\"s\xf8r:1\"}}",
		head + "\"type\":\"PatientDied\",\"schema\":1,\"occurred_at\":\"2025-03-10T08:35:00Z\",\"data\":{\"place\":\"s\x7fr:1\"}}",
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"place":null}}`,
		head + `"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{} }`,
		head + `"type":"DocumentAcknowledged","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"document":"d","by":"sor:1","ok":true,"reason":"a <b> & \"c\""}}`,
		head + `"type":"DocumentAcknowledged","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"document":"d","by":"sor:1","ok":tru}}`,
		head + `"type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"patient":"p0","identity":{"nonce":"AAAA","ciphertext":"AA=="}}}`,
		head + `"type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"patient":"p0","identity":{"nonce":"AAA","ciphertext":"A==="}}}`,
		head + `"type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"patient":"p0","identity":{"nonce":"","ciphertext":"-_-_"}}}`,
		head + `"type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"patient":"p0","identity":{"nonce":"AAAA"},"identity":{"ciphertext":"AAAA"}}}`,
		head + `"type":"PatientIdentityMerged","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"survivor":"p1","merged":"p2","merged_pathway":"urn:uuid:01957f2a-6c00-7000-8000-00000000aa02"}}`,
		head + `"type":"Correction","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"annuls":"01957F2A-6C00-7000-8000-00000000AA02","reason":"x"}}`,
		`[` + head + `"type":"PatientDied"` + tail + `,` + head + `"type":"PathwayClosed"` + tail + `]`,
		`[` + head + `"type":"PatientDied"` + tail + `,]`,
		`[` + head + `"type":"PatientDied"` + tail + `] `,
		`[` + head + `"type":"PatientDied"` + tail + `]]`,
	} {
		out = append(out, []byte(v))
	}
	return out
}

// FuzzCanonicalAgrees checks the canonical reader against the general
// decoder: whatever it accepts, the general decoder reads to the same
// envelopes, and a Decoder that shares strings across messages reads what
// a fresh one does.
//
//	go test ./events -run '^$' -fuzz FuzzCanonicalAgrees -fuzztime 60s
func FuzzCanonicalAgrees(f *testing.F) {
	for _, b := range canonicalSeeds(f) {
		f.Add(b)
	}
	c := NewCodec()
	shared := c.NewDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		fresh := Decoder{c: c}
		got, ok := fresh.canonicalCommit(nil, b)
		again, okAgain := shared.canonicalCommit([]Envelope{{}}, b)
		if ok != okAgain || ok && !reflect.DeepEqual(again[1:], got) {
			t.Fatalf("a shared Decoder disagrees with a fresh one (%v, %v)\ninput: %q", okAgain, ok, b)
		}
		if !ok {
			if len(got) != 0 {
				t.Fatalf("got %d events from input out of canonical form; want none", len(got))
			}
			return
		}
		want, err := c.decodeCommit(b)
		if err != nil {
			t.Fatalf("the canonical reader accepted what the decoder rejects: %v\ninput: %q", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("readers disagree\ninput:     %q\ncanonical: %#v\ndecoder:   %#v", b, got, want)
		}
		if len(b) > 0 && b[0] == '{' {
			var e Envelope
			if !fresh.canonical(b, &e) {
				t.Fatalf("canonical rejects the envelope canonicalCommit accepted: %q", b)
			}
			if want, err := c.decode(b); err != nil || !reflect.DeepEqual(e, want) {
				t.Fatalf("Decode: readers disagree (%v)\ninput: %q", err, b)
			}
		}
	})
}

// FuzzDecodeCommitAgreesWithEncodingJSON extends
// FuzzDecodeAgreesWithEncodingJSON to stored messages, through whichever
// reader DecodeCommit picks: whatever it accepts, encoding/json reads the
// same way.
func FuzzDecodeCommitAgreesWithEncodingJSON(f *testing.F) {
	for _, b := range canonicalSeeds(f) {
		f.Add(b)
	}
	c := NewCodec()
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := c.DecodeCommit(b)
		if err != nil {
			return
		}
		want, err := stdDecodeCommit(c, b)
		if err != nil {
			t.Fatalf("DecodeCommit accepted what encoding/json rejects: %v\ninput: %q", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decoders disagree\ninput: %q\ngot:  %#v\nwant: %#v", b, got, want)
		}
	})
}

// stdDecodeCommit reads a stored message with encoding/json alone.
func stdDecodeCommit(c *Codec, b []byte) ([]Envelope, error) {
	var raws []json.RawMessage
	if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("[")) {
		if err := json.Unmarshal(b, &raws); err != nil {
			return nil, err
		}
	} else {
		raws = []json.RawMessage{b}
	}
	out := make([]Envelope, 0, len(raws))
	for _, r := range raws {
		var w wire
		if err := json.Unmarshal(r, &w); err != nil {
			return nil, err
		}
		p, err := c.decodePayload(w.Type, w.Schema, w.Data, json.Unmarshal)
		if err != nil {
			return nil, err
		}
		e := Envelope{
			ID: w.ID, Pathway: w.Pathway, Type: w.Type, Schema: c.current[w.Type], OccurredAt: w.OccurredAt,
			RecordedAt: w.RecordedAt, Correlation: w.Correlation, Causation: w.Causation, Payload: p,
		}
		if w.Source != nil {
			e.Source = Source{w.Source.System, w.Source.Org, w.Source.MessageID}
		}
		if w.Actor != nil {
			e.Actor = Actor{w.Actor.Org, w.Actor.Role}
		}
		out = append(out, e)
	}
	return out, nil
}

// TestCanonicalReadsWhatEncodeWrites checks that the stored form of every
// example takes the canonical reader, alone and in commits: were it to
// fall back, replay would be several times slower without a test
// failing.
func TestCanonicalReadsWhatEncodeWrites(t *testing.T) {
	c := NewCodec()
	d := c.NewDecoder()
	files, _ := filepath.Glob("testdata/examples/*.json")
	var all []Envelope
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.decode(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		all = append(all, e)
	}
	// An envelope with every optional part, and one with none.
	full := all[0]
	full.Causation, full.Actor.Role = "01957f2a-6c00-7000-8000-000000000001", "visitator"
	bare := all[0]
	bare.RecordedAt, bare.Source, bare.Actor, bare.Correlation = time.Time{}, Source{}, Actor{}, ""
	all = append(all, full, bare)
	for _, e := range all {
		t.Run(string(e.Type), func(t *testing.T) {
			for _, commit := range [][]Envelope{{e}, {e, all[0], e}} {
				b, err := c.EncodeCommit(commit)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := d.canonicalCommit(nil, b)
				if !ok {
					t.Fatalf("the canonical reader gave up on %s", b)
				}
				want, err := c.decodeCommit(b)
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("got %#v; want %#v (%v)", got, want, err)
				}
			}
		})
	}
}

func TestDecoderAppends(t *testing.T) {
	c := NewCodec()
	d := c.NewDecoder()
	seeds := canonicalSeeds(t)
	var dst []Envelope
	for _, b := range seeds {
		n := len(dst)
		var err error
		dst, err = d.DecodeCommit(dst, b)
		want, wantErr := c.decodeCommit(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("got error %v; want %v\ninput: %q", err, wantErr, b)
		}
		if err != nil {
			if len(dst) != n {
				t.Fatalf("got %d events appended with error %v; want none", len(dst)-n, err)
			}
			continue
		}
		if !reflect.DeepEqual(dst[n:], want) {
			t.Fatalf("got %#v; want %#v\ninput: %q", dst[n:], want, b)
		}
	}
}

// TestUTCTime checks utcTime against time.Time.UnmarshalJSON, value for
// value, on the days around every year's and February's end from year 0
// to 9999 at varied times of day and fractions, and on strings just
// outside its form.
func TestUTCTime(t *testing.T) {
	fracs := []string{"", ".1", ".25", ".123456789", ".000000001", ".5"}
	i := 0
	for y := range 10000 {
		for _, d := range []time.Time{
			time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 2, 28, 0, 0, 0, 0, time.UTC),
			time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1), time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC),
			time.Date(y, time.Month(1+y%12), 1+y%28, 0, 0, 0, 0, time.UTC), time.Date(y, 12, 31, 0, 0, 0, 0, time.UTC),
		} {
			i++
			at := d.Add(time.Duration(i*7919) * time.Second % (24 * time.Hour))
			s := at.Format("2006-01-02T15:04:05") + fracs[i%len(fracs)] + "Z"
			var want time.Time
			if err := want.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
			got, ok := utcTime([]byte(s))
			if !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("utcTime(%s): got %#v, %v; want %#v", s, got, ok, want)
			}
		}
	}
	for _, s := range []string{
		"2025-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z",
		"2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z", "2024-01-01T00:00:00.Z",
		"2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00+00:00", "2024-01-01 00:00:00Z",
		"2024-1-01T00:00:00Z", "+024-01-01T00:00:00Z", "2024-01-01T00:00:0aZ", "2024-01-01T00:00:00.1a3Z",
		"1900-02-29T00:00:00Z", "Z", "",
	} {
		if got, ok := utcTime([]byte(s)); ok {
			var want time.Time
			if err := want.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("utcTime(%q): got %v; want it refused or %v (%v)", s, got, want, err)
			}
		}
	}
}

// TestHexUUID checks the canonical reader's uuids against
// uuid.ParseBytes: every byte in every position of a valid id, and cases.
func TestHexUUID(t *testing.T) {
	base := []byte("0123abcd-ABCD-ef01-89Ab-cDeF01234567")
	check := func(b []byte) {
		t.Helper()
		var got uuid.UUID
		ok := hexUUID(&got, b)
		want, err := uuid.ParseBytes(b)
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("hexUUID(%q): got %v, %v; uuid.ParseBytes: %v, %v", b, got, ok, want, err)
		}
	}
	check(base)
	for i := range base {
		for c := range 256 {
			b := bytes.Clone(base)
			b[i] = byte(c)
			check(b)
		}
	}
	for _, s := range []string{"", "0123abcd-abcd-ef01-89ab-cdef0123456", "0123abcd0abcd-ef01-89ab-cdef01234567"} {
		var u uuid.UUID
		if hexUUID(&u, []byte(s)) {
			t.Errorf("hexUUID(%q) accepted", s)
		}
	}
}

// TestStorable checks storable's bounds against the year in UTC.
func TestStorable(t *testing.T) {
	east := time.FixedZone("east", 3600)
	for _, at := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, east),
		time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 30, 0, 0, east),
		time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), {},
	} {
		y := at.UTC().Year()
		if got, want := storable("t", at) == nil, y >= 0 && y <= 9999; got != want {
			t.Errorf("storable(%v): got %v, want %v", at, got, want)
		}
	}
}

// TestCanonicalKeysInAnyOrder checks that the canonical reader, which
// looks for each key where Encode writes it, still reads members in
// another order (the payload's after its type and schema) as the general
// decoder does, and refuses a repeated key.
func TestCanonicalKeysInAnyOrder(t *testing.T) {
	c := NewCodec()
	files, _ := filepath.Glob("testdata/examples/*.json")
	if len(files) == 0 {
		t.Fatal("no examples in testdata/examples")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		reordered := reverseMembers(t, b, 0)
		d := Decoder{c: c}
		got, ok := d.canonicalCommit(nil, reordered)
		want, err := c.decodeCommit(reordered)
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: canonical %v, decoder %v; disagree on %s", file, ok, err, reordered)
		}
		if bytes.HasPrefix(reordered, []byte(`{"id":`)) {
			t.Fatalf("%s: members not reordered: %s", file, reordered)
		}
		repeated := bytes.Replace(reordered, []byte(`,"data":`), []byte(`,"data":{},"data":`), 1)
		if _, ok := d.canonicalCommit(nil, repeated); ok {
			t.Errorf("%s: canonical accepted a repeated key: %s", file, repeated)
		}
	}
}

// reverseMembers writes a JSON value compactly with each object's members
// in reverse order, except that an envelope's data comes last.
func reverseMembers(t *testing.T, b []byte, depth int) []byte {
	t.Helper()
	var obj []struct {
		k string
		v json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		obj = append(obj, struct {
			k string
			v json.RawMessage
		}{k.(string), v})
	}
	out := []byte("{")
	var data []byte
	for i := len(obj) - 1; i >= 0; i-- {
		m := obj[i]
		v := reverseMembers(t, m.v, depth+1)
		if depth == 0 && m.k == "data" {
			data = v
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(strconv.AppendQuote(out, m.k), ':'), v...)
	}
	if data != nil {
		out = append(append(out, `,"data":`...), data...)
	}
	return append(out, '}')
}
