package hl7v2

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// leaves returns every subcomponent of s, decoded, by field, repetition and
// component: the structure a round trip must keep.
func leaves(s Segment) [][][][]string {
	var out [][][][]string
	for _, f := range s.Fields() {
		var reps [][][]string
		for _, r := range f.Repetitions() {
			var comps [][]string
			for _, c := range r.Components() {
				comps = append(comps, c.SubComponents())
			}
			reps = append(reps, comps)
		}
		out = append(out, reps)
	}
	return out
}

// encode writes a segment from its decoded leaves with delimiters d.
func encode(name string, fields [][][][]string, d Delimiters) string {
	var b strings.Builder
	b.WriteString(name)
	for _, reps := range fields {
		b.WriteByte(d.Field)
		for i, comps := range reps {
			if i > 0 {
				b.WriteByte(d.Repetition)
			}
			for j, subs := range comps {
				if j > 0 {
					b.WriteByte(d.Component)
				}
				for k, sub := range subs {
					if k > 0 {
						b.WriteByte(d.SubComponent)
					}
					b.WriteString(Escape(sub, d))
				}
			}
		}
	}
	return b.String()
}

func equalLeaves(a, b [][][][]string) bool {
	return slices.EqualFunc(a, b, func(a, b [][][]string) bool {
		return slices.EqualFunc(a, b, func(a, b [][]string) bool {
			return slices.EqualFunc(a, b, slices.Equal)
		})
	})
}

// checkAccessors checks that the slice accessors agree with the indexed ones
// on the first few items of each level.
func checkAccessors(t *testing.T, s Segment) {
	t.Helper()
	fields := s.Fields()
	if len(fields) != s.NumFields() {
		t.Fatalf("%s: len(Fields()) = %d; NumFields() = %d", s.Name(), len(fields), s.NumFields())
	}
	for i, f := range fields[:min(len(fields), 8)] {
		if g := s.Field(i + 1); g != f {
			t.Fatalf("%s: Fields()[%d] = %q; Field(%d) = %q", s.Name(), i, f.Encoded(), i+1, g.Encoded())
		}
		reps := f.Repetitions()
		if len(reps) != f.NumRepetitions() {
			t.Fatalf("%s-%d: len(Repetitions()) = %d; NumRepetitions() = %d", s.Name(), i+1, len(reps), f.NumRepetitions())
		}
		for j, r := range reps[:min(len(reps), 4)] {
			if g := f.Repetition(j + 1); g != r {
				t.Fatalf("%s-%d: Repetitions()[%d] = %q; Repetition(%d) = %q", s.Name(), i+1, j, r.Encoded(), j+1, g.Encoded())
			}
		}
		comps := f.Components()
		if len(comps) != f.NumComponents() {
			t.Fatalf("%s-%d: len(Components()) = %d; NumComponents() = %d", s.Name(), i+1, len(comps), f.NumComponents())
		}
		for j, c := range comps[:min(len(comps), 4)] {
			if g := f.Component(j + 1); g != c {
				t.Fatalf("%s-%d: Components()[%d] = %q; Component(%d) = %q", s.Name(), i+1, j, c.Encoded(), j+1, g.Encoded())
			}
			subs := c.SubComponents()
			if len(subs) != c.NumSubComponents() {
				t.Fatalf("%s-%d.%d: len(SubComponents()) = %d; NumSubComponents() = %d", s.Name(), i+1, j+1, len(subs), c.NumSubComponents())
			}
			for k, sub := range subs[:min(len(subs), 4)] {
				if g := c.SubComponent(k + 1); g != sub {
					t.Fatalf("%s-%d.%d: SubComponents()[%d] = %q; SubComponent(%d) = %q", s.Name(), i+1, j+1, k, sub, k+1, g)
				}
			}
		}
	}
}

// FuzzParse checks that Parse never panics, rejects only with the documented
// errors, and that what it accepts can be walked, acknowledged and
// re-encoded without loss.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(typicalA01))
	opts := AckOptions{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			var pe *ParseError
			if !errors.Is(err, ErrNotHL7) && !errors.As(err, &pe) {
				t.Fatalf("err = %T %v; want ErrNotHL7 or *ParseError", err, err)
			}
			ack := opts.AckForUnparsable(raw, "")
			a, err := Parse(ack)
			if err != nil {
				t.Fatalf("ACK for rejected input does not parse: %v\n%q", err, ack)
			}
			if got := a.Get("MSA-1"); got != "AR" {
				t.Fatalf("MSA-1 = %q; want AR", got)
			}
			return
		}

		code, _, _ := m.MessageType()
		if strings.TrimSpace(code) == "" {
			t.Fatal("accepted a message without a message type")
		}
		for _, p := range []string{"MSH-9.2", "PID-3(2).1", "PV1-3.1.1", "OBX(2)-5", "MSH-2", "MSH-1"} {
			if v := m.Get(p); !utf8.ValidString(v) {
				t.Fatalf("Get(%q) = %q is not UTF-8", p, v)
			}
		}

		for i := range m.NumSegments() {
			checkAccessors(t, m.SegmentAt(i))
		}

		ack := opts.Ack(m, "AE", AckError{Segment: "PID", Field: 3, Message: "x"})
		a, err := Parse(ack)
		if err != nil {
			t.Fatalf("ACK does not parse: %v\n%q", err, ack)
		}
		if got, want := a.Get("MSA-2"), m.ControlID(); got != want {
			t.Fatalf("MSA-2 = %q; want %q", got, want)
		}

		// Round trip: the segments after MSH, re-encoded from their decoded
		// values under the default delimiters, parse to the same values.
		var b strings.Builder
		b.WriteString("MSH|^~\\&|||||||ADT^A01|1|P|2.5")
		var want [][][][][]string
		for i := 1; i < m.NumSegments(); i++ {
			s := m.SegmentAt(i)
			l := leaves(s)
			want = append(want, l)
			b.WriteByte('\r')
			b.WriteString(encode(s.Name(), l, defaultDelimiters()))
		}
		m2, err := Parse([]byte(b.String()))
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v\n%q", err, b.String())
		}
		if m2.NumSegments() != m.NumSegments() {
			t.Fatalf("re-encoded message has %d segments; want %d", m2.NumSegments(), m.NumSegments())
		}
		for i, w := range want {
			s := m2.SegmentAt(i + 1)
			if got := leaves(s); !equalLeaves(got, w) {
				t.Fatalf("segment %d after round trip = %q; want %q", i+1, got, w)
			}
		}
	})
}

// FuzzEscape checks that decoding what Escape writes gives back the input.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", `a|b^c~d\e&f`, "line\nbreak\r\n", `\F\`, "æøå", "#trunc"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, truncation bool) {
		if !utf8.ValidString(s) {
			return
		}
		d := defaultDelimiters()
		if truncation {
			d.Truncation = '#'
		}
		e := Escape(s, d)
		if strings.ContainsAny(e, "|^~&\r\n") || (truncation && strings.Contains(e, "#")) {
			t.Fatalf("Escape(%q) = %q keeps a delimiter", s, e)
		}
		if got := (enc{d: d}).decode(e); got != s {
			t.Fatalf("decode(Escape(%q)) = %q", s, got)
		}
	})
}

// FuzzParsePath checks that a path that parses formats to one that parses
// to the same Path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"PID-3", "PID-3(2).1.4", "OBX(2)-5", "PID.3", "PID-3.", "PID-(1)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		q, err := ParsePath(p.String())
		if err != nil || q != p {
			t.Fatalf("ParsePath(%q) = %+v; its String %q parses to %+v, %v", s, p, p.String(), q, err)
		}
	})
}

// FuzzParseTime checks that ParseTime never panics and that a time it
// accepts formats back to its input.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024", "20240311081503.1234+0100", "198908181126+0215", "20240230", "20240311-0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s, time.UTC)
		if err != nil {
			return
		}
		s = strings.TrimSpace(s)
		main, zone := s, ""
		if i := strings.IndexAny(s, "+-"); i >= 0 {
			main, zone = s[:i], s[i:]
		}
		digits, frac, _ := strings.Cut(main, ".")
		layout := "20060102150405"[:len(digits)]
		if got := tm.Format(layout); got != digits {
			t.Fatalf("ParseTime(%q) = %v; formats as %q", s, tm, got)
		}
		if frac != "" && tm.Nanosecond() == 0 && strings.Trim(frac, "0") != "" {
			t.Fatalf("ParseTime(%q) lost the fraction", s)
		}
		if zone == "-0000" {
			zone = "+0000"
		}
		if zone != "" && tm.Format("-0700") != zone {
			t.Fatalf("ParseTime(%q) has offset %s", s, tm.Format("-0700"))
		}
	})
}
