package hl7v2

import (
	"log/slog"
	"strings"
	"unicode/utf8"
)

// enc says how to split and decode the text of one message.
type enc struct {
	d  Delimiters
	cs charset
	// literal marks MSH-1 and MSH-2, which hold delimiters themselves and
	// are neither split nor unescaped.
	literal bool
}

// cut returns the i-th (from 0) part of s when split at sep, and whether s
// has that many parts.
func cut(s string, sep byte, i int) (string, bool) {
	for ; i > 0; i-- {
		j := strings.IndexByte(s, sep)
		if j < 0 {
			return "", false
		}
		s = s[j+1:]
	}
	if j := strings.IndexByte(s, sep); j >= 0 {
		s = s[:j]
	}
	return s, true
}

// parts returns how many parts s has when split at sep; 0 for "".
func parts(s string, sep byte) int {
	if s == "" {
		return 0
	}
	return strings.Count(s, string(rune(sep))) + 1
}

// Segment is one segment of a message. The zero Segment stands for a missing
// one: it has no name and all its fields are empty.
type Segment struct {
	raw string
	e   enc
}

// Name returns the segment ID, such as "PID".
func (s Segment) Name() string {
	if len(s.raw) < 3 {
		return ""
	}
	return s.raw[:3]
}

// isMSH reports a segment whose first fields are the delimiters: MSH, and
// the batch headers FHS and BHS, which are built the same way.
func (s Segment) isMSH() bool {
	if len(s.raw) < 3 {
		return false
	}
	switch s.raw[:3] {
	case "MSH", "FHS", "BHS":
		return true
	}
	return false
}

// Field returns field n, counting from 1 as HL7 does. In MSH (and FHS and
// BHS), field 1 is the
// field separator itself and field 2 the encoding characters, both returned
// as written. A field the segment does not have is empty.
func (s Segment) Field(n int) Field {
	if n < 1 || s.raw == "" {
		return Field{e: s.e}
	}
	i := n
	if s.isMSH() {
		switch n {
		case 1:
			if len(s.raw) < 4 {
				return Field{e: s.e}
			}
			return Field{raw: s.raw[3:4], e: enc{d: s.e.d, cs: s.e.cs, literal: true}}
		case 2:
			raw, _ := cut(s.raw, s.e.d.Field, 1)
			return Field{raw: raw, e: enc{d: s.e.d, cs: s.e.cs, literal: true}}
		}
		i = n - 1
	}
	raw, _ := cut(s.raw, s.e.d.Field, i)
	return Field{raw: raw, e: s.e}
}

// Fields returns the fields of the segment in order, so that Fields()[i] is
// Field(i+1). It reads the segment once, where calling Field for every n
// would read it once per field.
func (s Segment) Fields() []Field {
	n := s.NumFields()
	if n == 0 {
		return nil
	}
	out := make([]Field, 0, n)
	lit := enc{d: s.e.d, cs: s.e.cs, literal: true}
	msh := s.isMSH()
	i := 0
	for part := range strings.SplitSeq(s.raw, string(rune(s.e.d.Field))) {
		switch {
		case i == 0:
			if msh {
				out = append(out, Field{raw: s.raw[3:4], e: lit})
			}
		case i == 1 && msh:
			out = append(out, Field{raw: part, e: lit})
		default:
			out = append(out, Field{raw: part, e: s.e})
		}
		i++
	}
	return out
}

// NumFields returns the number of the last field present in the segment.
func (s Segment) NumFields() int {
	n := parts(s.raw, s.e.d.Field) - 1
	if s.isMSH() {
		n++
	}
	return max(n, 0)
}

// Encoded returns the segment as written, without its terminator. Parse has
// already converted it to UTF-8.
func (s Segment) Encoded() string { return s.raw }

// LogValue names the segment but leaves out its contents, which may be
// patient data.
func (s Segment) LogValue() slog.Value {
	return slog.GroupValue(slog.String("segment", s.Name()), slog.Int("fields", s.NumFields()))
}

// Field is a field of a segment with all its repetitions, or one repetition
// of it (see Repetition). The zero Field is empty.
type Field struct {
	raw string
	e   enc
}

// String returns the field's text with escape sequences decoded. For a field
// with several components or repetitions the separators are kept as they are,
// so use Component or Repetition to read the parts unambiguously.
func (f Field) String() string {
	if f.e.literal {
		return f.raw
	}
	return f.e.decode(f.raw)
}

// Encoded returns the field as written, escape sequences and all.
func (f Field) Encoded() string { return f.raw }

// IsEmpty reports whether the field has no value.
func (f Field) IsEmpty() bool { return f.raw == "" }

// IsNull reports whether the field holds the HL7 null value `""`, which tells
// the receiver to delete what it has stored.
func (f Field) IsNull() bool { return f.raw == `""` }

// NumRepetitions returns the number of repetitions; 0 for an empty field.
func (f Field) NumRepetitions() int {
	if f.e.literal {
		return min(len(f.raw), 1)
	}
	return parts(f.raw, f.e.d.Repetition)
}

// Repetition returns repetition i, counting from 1.
func (f Field) Repetition(i int) Field {
	switch {
	case i < 1:
		return Field{e: f.e}
	case f.e.literal:
		if i > 1 {
			return Field{e: f.e}
		}
		return f
	}
	raw, _ := cut(f.raw, f.e.d.Repetition, i-1)
	return Field{raw: raw, e: f.e}
}

// Repetitions returns the repetitions of the field; none for an empty field.
func (f Field) Repetitions() []Field {
	n := f.NumRepetitions()
	if n == 0 {
		return nil
	}
	if f.e.literal {
		return []Field{f}
	}
	out := make([]Field, 0, n)
	for part := range strings.SplitSeq(f.raw, string(rune(f.e.d.Repetition))) {
		out = append(out, Field{raw: part, e: f.e})
	}
	return out
}

func (f Field) first() string {
	if f.e.literal {
		return f.raw
	}
	raw, _ := cut(f.raw, f.e.d.Repetition, 0)
	return raw
}

// NumComponents returns the number of components of the first repetition.
func (f Field) NumComponents() int {
	if f.e.literal {
		return min(len(f.raw), 1)
	}
	return parts(f.first(), f.e.d.Component)
}

// Component returns component i of the first repetition, counting from 1.
func (f Field) Component(i int) Component {
	switch {
	case i < 1:
		return Component{e: f.e}
	case f.e.literal:
		if i > 1 {
			return Component{e: f.e}
		}
		return Component(f)
	}
	raw, _ := cut(f.first(), f.e.d.Component, i-1)
	return Component{raw: raw, e: f.e}
}

// Components returns the components of the first repetition in order, so
// that Components()[i] is Component(i+1); none when it is empty.
func (f Field) Components() []Component {
	n := f.NumComponents()
	if n == 0 {
		return nil
	}
	if f.e.literal {
		return []Component{Component(f)}
	}
	out := make([]Component, 0, n)
	for part := range strings.SplitSeq(f.first(), string(rune(f.e.d.Component))) {
		out = append(out, Component{raw: part, e: f.e})
	}
	return out
}

// SubComponent returns subcomponent j of component i of the first
// repetition, decoded; both count from 1.
func (f Field) SubComponent(i, j int) string {
	return f.Component(i).SubComponent(j)
}

// LogValue leaves out the field's contents, which may be patient data.
func (f Field) LogValue() slog.Value {
	return slog.StringValue(redacted(f.raw))
}

// Component is one component of a field. The zero Component is empty.
type Component struct {
	raw string
	e   enc
}

// String returns the component's text with escape sequences decoded; any
// subcomponent separators are kept.
func (c Component) String() string {
	if c.e.literal {
		return c.raw
	}
	return c.e.decode(c.raw)
}

// Encoded returns the component as written.
func (c Component) Encoded() string { return c.raw }

// IsEmpty reports whether the component has no value.
func (c Component) IsEmpty() bool { return c.raw == "" }

// NumSubComponents returns the number of subcomponents; 0 when empty.
func (c Component) NumSubComponents() int {
	if c.e.literal {
		return min(len(c.raw), 1)
	}
	return parts(c.raw, c.e.d.SubComponent)
}

// SubComponent returns subcomponent j, counting from 1, decoded.
func (c Component) SubComponent(j int) string {
	switch {
	case j < 1:
		return ""
	case c.e.literal:
		if j > 1 {
			return ""
		}
		return c.raw
	}
	raw, _ := cut(c.raw, c.e.d.SubComponent, j-1)
	return c.e.decode(raw)
}

// SubComponents returns the subcomponents in order, decoded; none when the
// component is empty.
func (c Component) SubComponents() []string {
	n := c.NumSubComponents()
	if n == 0 {
		return nil
	}
	if c.e.literal {
		return []string{c.raw}
	}
	out := make([]string, 0, n)
	for part := range strings.SplitSeq(c.raw, string(rune(c.e.d.SubComponent))) {
		out = append(out, c.e.decode(part))
	}
	return out
}

// LogValue leaves out the component's contents, which may be patient data.
func (c Component) LogValue() slog.Value {
	return slog.StringValue(redacted(c.raw))
}

func redacted(s string) string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// decode replaces the escape sequences in s. Sequences it does not know,
// such as \Zxx\ or \Cxxyy\, and an escape character without a closing one are
// kept as written.
func (e enc) decode(s string) string {
	esc := e.d.Escape
	i := strings.IndexByte(s, esc)
	if i < 0 || esc == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i >= 0 {
		b.WriteString(s[:i])
		rest := s[i+1:]
		j := strings.IndexByte(rest, esc)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		if !e.writeEscape(&b, rest[:j]) {
			b.WriteString(s[i : i+j+2])
		}
		s = rest[j+1:]
		i = strings.IndexByte(s, esc)
	}
	b.WriteString(s)
	return b.String()
}

// writeEscape writes what the escape sequence seq (between the escape
// characters) stands for, and reports whether it knew seq.
func (e enc) writeEscape(b *strings.Builder, seq string) bool {
	d := e.d
	switch seq {
	case "F":
		b.WriteByte(d.Field)
	case "S":
		b.WriteByte(d.Component)
	case "T":
		b.WriteByte(d.SubComponent)
	case "R":
		b.WriteByte(d.Repetition)
	case "E":
		b.WriteByte(d.Escape)
	case "P":
		if d.Truncation == 0 {
			return false
		}
		b.WriteByte(d.Truncation)
	case "H", "N":
		// Start and end of highlighting: plain text has no use for them.
	case ".br":
		b.WriteByte('\n')
	default:
		return len(seq) > 1 && seq[0] == 'X' && e.writeHex(b, seq[1:])
	}
	return true
}

// writeHex writes the bytes of a \Xhh..\ sequence. They are read in the
// message's character set; in a UTF-8 message bytes that are not valid UTF-8
// are read as ISO 8859-1, as senders that escape "æ" as \XE6\ mean.
func (e enc) writeHex(b *strings.Builder, hex string) bool {
	if len(hex)%2 != 0 {
		return false
	}
	var small [32]byte
	raw := small[:0]
	for i := 0; i < len(hex); i += 2 {
		hi, ok1 := unhex(hex[i])
		lo, ok2 := unhex(hex[i+1])
		if !ok1 || !ok2 {
			return false
		}
		raw = append(raw, hi<<4|lo)
	}
	if e.cs == csUTF8 && utf8.Valid(raw) {
		b.Write(raw)
		return true
	}
	cs := e.cs
	if cs != csLatin9 {
		cs = csLatin1
	}
	writeSingleByte(b, raw, cs)
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// Escape returns s with every character that has a meaning in an HL7
// message under d replaced by its escape sequence: the delimiters, and line
// breaks (LF as \.br\, CR as \X0D\). Decoding the result gives s back. If d
// has no escape character, the default delimiters "|^~\&" are used.
func Escape(s string, d Delimiters) string {
	if d.Escape == 0 {
		d = defaultDelimiters()
	}
	i := 0
	for i < len(s) && d.code(s[i]) == "" {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		code := d.code(s[i])
		if code == "" {
			b.WriteByte(s[i])
			continue
		}
		b.WriteByte(d.Escape)
		b.WriteString(code)
		b.WriteByte(d.Escape)
	}
	return b.String()
}

// code returns the escape sequence body for c, or "" if c needs none.
func (d Delimiters) code(c byte) string {
	switch {
	case c == '\n':
		return ".br"
	case c == '\r':
		return "X0D"
	case c == 0:
		return ""
	case c == d.Field:
		return "F"
	case c == d.Component:
		return "S"
	case c == d.SubComponent:
		return "T"
	case c == d.Repetition:
		return "R"
	case c == d.Escape:
		return "E"
	case c == d.Truncation:
		return "P"
	}
	return ""
}
