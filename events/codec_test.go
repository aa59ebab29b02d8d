package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

func mustEncode(t testing.TB, c *events.Codec, e *events.Envelope) []byte {
	t.Helper()
	b, err := c.Encode(e)
	if err != nil {
		t.Fatalf("Encode %s: %v", e.Type, err)
	}
	return b
}

func TestCodecRoundTrip(t *testing.T) {
	c := events.NewCodec()
	for _, x := range examples(t) {
		t.Run(string(x.env.Type), func(t *testing.T) {
			want := x.env
			b := mustEncode(t, c, &want)
			got, err := c.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v\n%s", err, b)
			}
			if got.Schema != 1 {
				t.Errorf("got schema %d; want 1", got.Schema)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if bytes.Contains(b, []byte(testCPR)) {
				t.Errorf("stored form holds the CPR in clear: %s", b)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("decoded envelope: Validate: %v", err)
			}
		})
	}
}

func TestCodecEncode(t *testing.T) {
	c := events.NewCodec()
	t.Run("times are stored in UTC", func(t *testing.T) {
		e := examples(t)[1].env
		cph := time.FixedZone("CET", 3600)
		e.OccurredAt, e.RecordedAt = e.OccurredAt.In(cph), e.RecordedAt.In(cph)
		b := mustEncode(t, c, &e)
		if !bytes.Contains(b, []byte(`"occurred_at":"2025-03-10T08:35:00Z"`)) {
			t.Errorf("got %s; want occurred_at in UTC", b)
		}
		got, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.OccurredAt.Equal(e.OccurredAt) || !got.RecordedAt.Equal(e.RecordedAt) {
			t.Errorf("got %s, %s; want %s, %s", got.OccurredAt, got.RecordedAt, e.OccurredAt, e.RecordedAt)
		}
	})
	t.Run("optional parts are left out", func(t *testing.T) {
		e := events.Envelope{ID: exampleID(1), Pathway: pathway1, OccurredAt: t0, Payload: &events.PatientDied{}}
		b := mustEncode(t, c, &e)
		want := `{"id":"01957f2a-6c00-7000-8000-000000000001","pathway":"01957f2a-6c00-7000-8000-00000000aa01",` +
			`"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:15:00Z","data":{}}`
		if string(b) != want {
			t.Errorf("got  %s\nwant %s", b, want)
		}
		got, err := c.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		e.Type, e.Schema = events.TypePatientDied, 1
		if !reflect.DeepEqual(got, e) {
			t.Errorf("got %+v; want %+v", got, e)
		}
	})
	t.Run("type comes from the payload", func(t *testing.T) {
		e := examples(t)[1].env
		e.Type = ""
		got, err := c.Decode(mustEncode(t, c, &e))
		if err != nil || got.Type != events.TypePatientAdmitted {
			t.Errorf("got %s, %v; want PatientAdmitted", got.Type, err)
		}
	})
	t.Run("seq is not stored", func(t *testing.T) {
		e := examples(t)[1].env
		e.Seq = 42
		got, err := c.Decode(mustEncode(t, c, &e))
		if err != nil || got.Seq != 0 {
			t.Errorf("got seq %d, %v; want 0", got.Seq, err)
		}
	})
	t.Run("missing payload", func(t *testing.T) {
		e := examples(t)[1].env
		e.Payload = nil
		_, err := c.Encode(&e)
		var ve *events.ValidationError
		if !errors.As(err, &ve) || ve.Field != "data" {
			t.Errorf("got %v; want *ValidationError on data", err)
		}
	})
}

// stored returns the stored form of the PatientAdmitted example as a map,
// for tests that break it.
func stored(t *testing.T) map[string]any {
	t.Helper()
	e := examples(t)[1].env
	var m map[string]any
	if err := json.Unmarshal(mustEncode(t, events.NewCodec(), &e), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCodecDecodeErrors(t *testing.T) {
	edit := func(f func(m map[string]any)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			m := stored(t)
			f(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	raw := func(s string) func(*testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	tests := []struct {
		name  string
		in    func(t *testing.T) []byte
		is    error  // errors.Is target, or
		field string // the *ValidationError field, or
		any   bool   // just an error
	}{
		{"unknown type", edit(func(m map[string]any) { m["type"] = "PatientTeleported" }), events.ErrUnknownType, "", false},
		{"type in other case", edit(func(m map[string]any) { m["type"] = "patientadmitted" }), events.ErrUnknownType, "", false},
		{"schema from the future", edit(func(m map[string]any) { m["schema"] = 2 }), events.ErrFutureSchema, "", false},
		{"missing type", edit(func(m map[string]any) { delete(m, "type") }), nil, "type", false},
		{"empty type", edit(func(m map[string]any) { m["type"] = "" }), nil, "type", false},
		{"missing data", edit(func(m map[string]any) { delete(m, "data") }), nil, "data", false},
		{"null data", edit(func(m map[string]any) { m["data"] = nil }), nil, "data", false},
		{"missing schema", edit(func(m map[string]any) { delete(m, "schema") }), nil, "schema", false},
		{"negative schema", edit(func(m map[string]any) { m["schema"] = -1 }), nil, "schema", false},
		{"data not an object", edit(func(m map[string]any) { m["data"] = 5 }), nil, "", true},
		{"data field of wrong type", edit(func(m map[string]any) { m["data"].(map[string]any)["hospital"] = 5 }), nil, "", true},
		{"bad id", edit(func(m map[string]any) { m["id"] = "not-a-uuid" }), nil, "", true},
		{"bad time", edit(func(m map[string]any) { m["occurred_at"] = "yesterday" }), nil, "", true},
		{"occurred_at before year 0 in UTC", edit(func(m map[string]any) { m["occurred_at"] = "0000-01-01T00:00:00+01:00" }), nil, "occurred_at", false},
		{"recorded_at after year 9999 in UTC", edit(func(m map[string]any) { m["recorded_at"] = "9999-12-31T23:59:59-01:00" }), nil, "recorded_at", false},
		{"schema not a number", edit(func(m map[string]any) { m["schema"] = "1" }), nil, "", true},
		{"not JSON", raw("PatientAdmitted"), nil, "", true},
		{"truncated", raw(`{"id":"01957f2a-6c00-7000-8000-000000000001","type":"Pati`), nil, "", true},
		{"empty", raw(""), nil, "", true},
		{"null", raw("null"), nil, "type", false},
		{"array", raw("[]"), nil, "", true},
	}
	c := events.NewCodec()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Decode(tt.in(t))
			if err == nil {
				t.Fatalf("got %+v, nil; want an error", got)
			}
			if got.Payload != nil {
				t.Errorf("got a payload with the error; want the zero Envelope")
			}
			switch {
			case tt.is != nil:
				if !errors.Is(err, tt.is) {
					t.Errorf("got %v; want %v", err, tt.is)
				}
			case tt.field != "":
				var ve *events.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Errorf("got %v; want *ValidationError on %s", err, tt.field)
				}
			}
			if !strings.HasPrefix(err.Error(), "events: ") {
				t.Errorf("got message %q; want the events: prefix", err)
			}
		})
	}
}

// closedV1 is PathwayClosed as an imagined schema version 1 stored it,
// before "why" was renamed "reason" (version 2) and the reason was
// prefixed with its source (version 3).
const closedV1 = `{"id":"01957f2a-6c00-7000-8000-000000000001","pathway":"01957f2a-6c00-7000-8000-00000000aa01",` +
	`"type":"PathwayClosed","schema":1,"occurred_at":"2025-03-10T08:15:00Z","data":{"why":"done"}}`

func renameWhy(data json.RawMessage) (json.RawMessage, error) {
	var v1 struct {
		Why string `json:"why"`
	}
	if err := json.Unmarshal(data, &v1); err != nil {
		return nil, err
	}
	return json.Marshal(map[string]string{"reason": v1.Why})
}

func TestCodecUpcast(t *testing.T) {
	t.Run("one step", func(t *testing.T) {
		c := events.NewCodec()
		c.Upcast(events.TypePathwayClosed, 1, renameWhy)
		if got := c.Current(events.TypePathwayClosed); got != 2 {
			t.Fatalf("Current: got %d; want 2", got)
		}
		e, err := c.Decode([]byte(closedV1))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if e.Schema != 2 {
			t.Errorf("got schema %d; want 2", e.Schema)
		}
		if got := e.Payload.(*events.PathwayClosed).Reason; got != "done" {
			t.Errorf("got reason %q; want done", got)
		}
		// New writes carry the new version and need no upcasting.
		b := mustEncode(t, c, &e)
		if !bytes.Contains(b, []byte(`"schema":2`)) {
			t.Errorf("got %s; want schema 2", b)
		}
		again, err := c.Decode(b)
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Errorf("got %+v, %v; want %+v", again, err, e)
		}
		// Other types are untouched.
		if got := c.Current(events.TypePatientAdmitted); got != 1 {
			t.Errorf("Current(PatientAdmitted): got %d; want 1", got)
		}
	})
	t.Run("a chain", func(t *testing.T) {
		c := events.NewCodec()
		c.Upcast(events.TypePathwayClosed, 2, func(data json.RawMessage) (json.RawMessage, error) {
			var v2 events.PathwayClosed
			if err := json.Unmarshal(data, &v2); err != nil {
				return nil, err
			}
			v2.Reason = "legacy: " + v2.Reason
			return json.Marshal(&v2)
		})
		c.Upcast(events.TypePathwayClosed, 1, renameWhy)
		e, err := c.Decode([]byte(closedV1))
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if got := e.Payload.(*events.PathwayClosed).Reason; e.Schema != 3 || got != "legacy: done" {
			t.Errorf("got schema %d, reason %q; want 3, %q", e.Schema, got, "legacy: done")
		}
	})
	t.Run("a missing step", func(t *testing.T) {
		c := events.NewCodec()
		c.Upcast(events.TypePathwayClosed, 2, renameWhy)
		if _, err := c.Decode([]byte(closedV1)); err == nil || !strings.Contains(err.Error(), "no upcaster") {
			t.Errorf("got %v; want no upcaster from version 1", err)
		}
	})
	t.Run("upcaster fails", func(t *testing.T) {
		c := events.NewCodec()
		boom := errors.New("boom")
		c.Upcast(events.TypePathwayClosed, 1, func(json.RawMessage) (json.RawMessage, error) { return nil, boom })
		if _, err := c.Decode([]byte(closedV1)); !errors.Is(err, boom) {
			t.Errorf("got %v; want the upcaster's error wrapped", err)
		}
	})
	t.Run("codecs do not share upcasters", func(t *testing.T) {
		c := events.NewCodec()
		c.Upcast(events.TypePathwayClosed, 1, renameWhy)
		if got := events.NewCodec().Current(events.TypePathwayClosed); got != 1 {
			t.Errorf("a fresh codec: got version %d; want 1", got)
		}
	})
}

func TestCodecDecodePayload(t *testing.T) {
	c := events.NewCodec()
	tests := []struct {
		name  string
		typ   events.Type
		data  string
		is    error
		field string
	}{
		{"valid", events.TypeHandoffAccepted, `{"offer":"offer-1","by":"kommune:0751"}`, nil, ""},
		{"invalid field", events.TypeHandoffAccepted, `{"offer":"offer-1","by":"kommune:751"}`, nil, "by"},
		{"missing field", events.TypeHandoffAccepted, `{"by":"kommune:0751"}`, nil, "offer"},
		{"empty object", events.TypePathwayClosed, `{}`, nil, "reason"},
		{"unknown type", "HandoffStolen", `{}`, events.ErrUnknownType, ""},
		{"no type", "", `{}`, nil, "type"},
		{"no data", events.TypePathwayClosed, ``, nil, "data"},
		{"null data", events.TypePathwayClosed, `null`, nil, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.DecodePayload(tt.typ, json.RawMessage(tt.data))
			switch {
			case tt.is != nil:
				if !errors.Is(err, tt.is) {
					t.Errorf("got %v; want %v", err, tt.is)
				}
			case tt.field != "":
				var ve *events.ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Errorf("got %v; want *ValidationError on %s", err, tt.field)
				}
			default:
				if err != nil {
					t.Fatalf("got %v; want nil", err)
				}
				want := &events.HandoffAccepted{Offer: "offer-1", By: aarhus}
				if !reflect.DeepEqual(p, events.Payload(want)) {
					t.Errorf("got %+v; want %+v", p, want)
				}
			}
		})
	}
}

func TestTypes(t *testing.T) {
	seen := map[events.Type]bool{}
	for _, typ := range events.Types() {
		if seen[typ] {
			t.Errorf("%s listed twice", typ)
		}
		seen[typ] = true
		p := events.NewPayload(typ)
		if p == nil {
			t.Errorf("NewPayload(%s): got nil; want a payload", typ)
			continue
		}
		if p.Type() != typ {
			t.Errorf("NewPayload(%s).Type(): got %s", typ, p.Type())
		}
	}
	if p := events.NewPayload("Nope"); p != nil {
		t.Errorf("NewPayload(Nope): got %T; want nil", p)
	}
}

func TestCodecCommit(t *testing.T) {
	c := events.NewCodec()
	xs := examples(t)
	t.Run("one event is a plain envelope", func(t *testing.T) {
		b, err := c.EncodeCommit([]events.Envelope{xs[1].env})
		if err != nil {
			t.Fatal(err)
		}
		if want := mustEncode(t, c, &xs[1].env); !bytes.Equal(b, want) {
			t.Errorf("got %s; want the single envelope %s", b, want)
		}
		got, err := c.DecodeCommit(b)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], xs[1].env) {
			t.Errorf("got %d events, %v; want the envelope back", len(got), err)
		}
	})
	t.Run("several events are an array", func(t *testing.T) {
		in := []events.Envelope{xs[0].env, xs[1].env, xs[9].env}
		b, err := c.EncodeCommit(in)
		if err != nil {
			t.Fatal(err)
		}
		if b[0] != '[' {
			t.Errorf("got %.20s…; want a JSON array", b)
		}
		got, err := c.DecodeCommit(append([]byte(" \n"), b...))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, in) {
			t.Errorf("got %+v; want %+v", got, in)
		}
	})
	bad := []struct {
		name, in string
		field    string
	}{
		{"empty array", `[]`, "commit"},
		{"null element", `[null]`, "type"},
		{"bad element", `[{"type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:15:00Z"}]`, "data"},
		{"not JSON", `[`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.DecodeCommit([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %d events; want an error", len(got))
			}
			var ve *events.ValidationError
			if tt.field != "" && (!errors.As(err, &ve) || ve.Field != tt.field) {
				t.Errorf("got %v; want *ValidationError on %s", err, tt.field)
			}
		})
	}
	t.Run("an element in error fails the commit", func(t *testing.T) {
		good := mustEncode(t, c, &xs[1].env)
		in := append(append(append([]byte("["), good...), ","...), `{"type":"Nope","schema":1,"data":{}}]`...)
		if got, err := c.DecodeCommit(in); !errors.Is(err, events.ErrUnknownType) || got != nil {
			t.Errorf("got %d events, %v; want none and ErrUnknownType", len(got), err)
		}
	})
}
