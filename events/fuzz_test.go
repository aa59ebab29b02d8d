package events_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stafet/stafet/events"
)

// FuzzDecode feeds the codec arbitrary bytes. Decode must never panic, and
// whatever it accepts must survive a round trip: Encode(Decode(b)) decodes
// to an equal envelope and re-encodes to the same bytes. The seed corpus
// (testdata/fuzz/FuzzDecode) holds one stored example of every type and
// malformed variants; TestFuzzSeeds keeps it in step with the examples.
//
//	go test ./events -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	c := events.NewCodec()
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := c.Decode(b)
		if err != nil {
			if e.Payload != nil {
				t.Fatalf("got a payload with error %v; want the zero Envelope", err)
			}
			return
		}
		_ = e.Validate() // must not panic either
		b1, err := c.Encode(&e)
		if err != nil {
			t.Fatalf("Encode of a decoded envelope: %v\ninput: %q", err, b)
		}
		e2, err := c.Decode(b1)
		if err != nil {
			t.Fatalf("Decode of a re-encoded envelope: %v\ninput:      %q\nre-encoded: %s", err, b, b1)
		}
		if !equalEnvelope(e, e2) {
			t.Fatalf("round trip changed the envelope\nfirst:  %+v\nsecond: %+v\ninput: %q", e, e2, b)
		}
		b2, err := c.Encode(&e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("second encoding differs (%v)\nfirst:  %s\nsecond: %s", err, b1, b2)
		}
	})
}

// FuzzDecodeCommit feeds DecodeCommit (a stored message: one envelope or
// an array of one command's envelopes) arbitrary bytes, with the same
// properties as FuzzDecode through EncodeCommit.
//
//	go test ./events -run '^$' -fuzz FuzzDecodeCommit -fuzztime 60s
func FuzzDecodeCommit(f *testing.F) {
	c := events.NewCodec()
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := c.DecodeCommit(b)
		if err != nil {
			if evs != nil {
				t.Fatalf("got %d events with error %v; want none", len(evs), err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatalf("got no events and no error; want one or the other")
		}
		b1, err := c.EncodeCommit(evs)
		if err != nil {
			t.Fatalf("EncodeCommit of decoded events: %v\ninput: %q", err, b)
		}
		again, err := c.DecodeCommit(b1)
		if err != nil || len(again) != len(evs) {
			t.Fatalf("DecodeCommit of re-encoded events: %d events, %v\ninput: %q\nre-encoded: %s", len(again), err, b, b1)
		}
		for i := range evs {
			if !equalEnvelope(evs[i], again[i]) {
				t.Fatalf("[%d] round trip changed the envelope\nfirst:  %+v\nsecond: %+v", i, evs[i], again[i])
			}
		}
	})
}

// malformedSeeds are hand-written variants of a stored PatientAdmitted for
// the fuzz corpus: each names what it tries.
var malformedSeeds = map[string]string{
	"truncated":        `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdm`,
	"unknown-type":     `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientBeamed","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"future-schema":    `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":99,"occurred_at":"2025-03-10T08:35:00Z","data":{"hospital":"sor:1","class":"inpatient"}}`,
	"schema-zero":      `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":0,"occurred_at":"2025-03-10T08:35:00Z","data":{"hospital":"sor:1","class":"inpatient"}}`,
	"schema-huge":      `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":1e40,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"missing-data":     `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":1,"occurred_at":"2025-03-10T08:35:00Z"}`,
	"null-data":        `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":null}`,
	"data-array":       `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientAdmitted","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":[1,2]}`,
	"missing-type":     `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"bad-uuid":         `{"id":"01957f2a-6c00-7000-8000-00000000000Z","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"uuid-forms":       `{"id":"urn:uuid:01957f2a-6c00-7000-8000-000000000002","pathway":"{01957f2a-6c00-7000-8000-00000000aa01}","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"uuid-no-dashes":   `{"id":"01957f2a6c0070008000000000000002","pathway":"01957F2A-6C00-7000-8000-00000000AA01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}}`,
	"bad-time":         `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"10.03.2025 08:35","data":{}}`,
	"time-offset":      `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"LeaveStarted","schema":1,"occurred_at":"2025-03-10T09:35:00+01:00","recorded_at":"2025-03-10T09:35:01.5+01:00","data":{"hospital":"sor:1","until":"2025-03-12T00:00:00+01:00"}}`,
	"time-year-zero":   `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"0000-01-01T00:00:00+01:00","data":{}}`,
	"time-year-9999":   `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"9999-12-31T23:59:59-01:00","data":{}}`,
	"zero-recorded":    `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","recorded_at":"0001-01-01T00:00:00Z","data":{}}`,
	"empty-source":     `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","source":{},"actor":{},"data":{}}`,
	"null-parts":       `{"id":null,"pathway":null,"type":"PatientDied","schema":1,"occurred_at":null,"source":null,"actor":null,"data":{"place":null}}`,
	"duplicate-keys":   `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","type":"PathwayClosed","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"reason":"x","reason":"y"}}`,
	"key-case":         `{"ID":"01957f2a-6c00-7000-8000-000000000002","Pathway":"01957f2a-6c00-7000-8000-00000000aa01","TYPE":"PatientDied","Schema":1,"Occurred_At":"2025-03-10T08:35:00Z","DATA":{"PLACE":"sor:1"}}`,
	"invalid-utf8":     "{\"id\":\"01957f2a-6c00-7000-8000-000000000002\",\"pathway\":\"01957f2a-6c00-7000-8000-00000000aa01\",\"type\":\"PathwayClosed\",\"schema\":1,\"occurred_at\":\"2025-03-10T08:35:00Z\",\"data\":{\"reason\":\"\xff\xfe\"}}",
	"escapes":          `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"Pathway\u0043losed","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"reason":"\ud800 \u0000 <>&\u2028"}}`,
	"sealed-identity":  `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"patient":"p0","cluster":"x","identity":{"nonce":"not base64!","ciphertext":""}}}`,
	"identity-empty":   `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PathwayOpened","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{"identity":{}}}`,
	"deep-nesting":     `{"id":"01957f2a-6c00-7000-8000-000000000002","type":"PathwayClosed","schema":1,"data":{"x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}}`,
	"extra-fields":     `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","seq":7,"data":{"place":"sor:1","cpr":"2509479989"},"x":{"y":[1,2,{}]}}`,
	"bool-for-string":  `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":true,"occurred_at":"2025-03-10T08:35:00Z","data":{"place":false}}`,
	"not-json":         `STIN|2509479989`,
	"empty":            ``,
	"json-null":        `null`,
	"trailing-garbage": `{"id":"01957f2a-6c00-7000-8000-000000000002","pathway":"01957f2a-6c00-7000-8000-00000000aa01","type":"PatientDied","schema":1,"occurred_at":"2025-03-10T08:35:00Z","data":{}} {}`,
}

func corpusFile(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

// TestFuzzSeeds checks (or with -update writes) the generated part of the
// FuzzDecode corpus: the stored form of every example and the malformed
// variants. Crashers the fuzzer found are kept beside them by their hash
// names.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	want := map[string][]byte{}
	c := events.NewCodec()
	for _, x := range examples(t) {
		want["seed-"+string(x.env.Type)] = corpusFile(mustEncode(t, c, &x.env))
	}
	for name, s := range malformedSeeds {
		want["seed-malformed-"+name] = corpusFile([]byte(s))
	}
	// FuzzDecodeCommit's seeds: commits of one and of several events, and
	// arrays that are not commits.
	commitDir := filepath.Join("testdata", "fuzz", "FuzzDecodeCommit")
	xs := examples(t)
	commit := func(envs ...events.Envelope) []byte {
		b, err := c.EncodeCommit(envs)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, b := range map[string][]byte{
		"seed-single":       commit(xs[1].env),
		"seed-admission":    commit(xs[0].env, xs[1].env, xs[14].env),
		"seed-handoff":      commit(xs[9].env, xs[10].env),
		"seed-empty-array":  []byte(`[]`),
		"seed-nested-array": []byte(`[[` + string(commit(xs[1].env)) + `]]`),
		"seed-null-element": []byte(`[null,{}]`),
		"seed-whitespace":   []byte(" \t\r\n[" + string(commit(xs[5].env)) + "]"),
		"seed-mixed":        []byte(`[` + string(commit(xs[5].env)) + `,"x",1]`),
	} {
		want[filepath.Join("..", "FuzzDecodeCommit", name)] = corpusFile(b)
	}
	if *update {
		for _, d := range []string{dir, commitDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range want {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%v (run go test ./events -run TestFuzzSeeds -update)", err)
			continue
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%s: stale; run go test ./events -run TestFuzzSeeds -update", name)
		}
	}
}
