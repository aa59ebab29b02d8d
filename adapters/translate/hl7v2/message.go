package hl7v2

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"
)

// ErrNotHL7 is returned by Parse for input that does not start with an MSH
// segment once a UTF-8 byte order mark and leading white space are skipped.
var ErrNotHL7 = errors.New("hl7v2: input does not start with an MSH segment")

// ParseError reports why a message that starts with MSH could not be parsed.
// Segment and Field locate the problem where that is possible ("MSH", 9);
// Field is 0 when the problem is with a whole segment, and Segment is empty
// when no segment can be named. Reason never quotes field contents, so the
// error is safe to log.
type ParseError struct {
	Segment string
	Field   int
	Reason  string

	// code is the HL7 table 0357 error condition an ACK reports for it.
	code string
}

// Error reads like "hl7v2: MSH-9: missing message type".
func (e *ParseError) Error() string {
	switch {
	case e.Segment != "" && e.Field > 0:
		return fmt.Sprintf("hl7v2: %s-%d: %s", e.Segment, e.Field, e.Reason)
	case e.Segment != "":
		return "hl7v2: " + e.Segment + ": " + e.Reason
	default:
		return "hl7v2: " + e.Reason
	}
}

// AckError describes e for an ACK: its location, the HL7 error condition
// code (table 0357) that fits it, and its reason as the user message.
func (e *ParseError) AckError() AckError {
	ae := AckError{Segment: e.Segment, Field: e.Field, Code: e.code, Message: e.Reason}
	if ae.Code == "" {
		ae.Code = CodeInternalError
	}
	return ae
}

func parseErr(seg string, field int, code, reason string) *ParseError {
	return &ParseError{Segment: seg, Field: field, Reason: reason, code: code}
}

// Delimiters are the separators a message declares in MSH-1 and MSH-2.
// Truncation is 0 when the message declares none (it is optional, v2.7+).
type Delimiters struct {
	Field        byte
	Component    byte
	Repetition   byte
	Escape       byte
	SubComponent byte
	Truncation   byte
}

// defaultDelimiters are the ones HL7 recommends, "|^~\&".
func defaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', SubComponent: '&'}
}

// validDelimiter reports whether c may serve as a delimiter: printable ASCII
// that is neither a letter, a digit nor a space.
func validDelimiter(c byte) bool {
	switch {
	case c <= ' ' || c >= 0x7f:
		return false
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		return false
	}
	return true
}

// Message is a parsed HL7 v2 message. It holds one UTF-8 copy of the input
// and the position of each segment in it; fields, components and escape
// sequences are split and decoded only when they are read. A Message is
// immutable and safe for concurrent use. Strings it returns may share memory
// with it.
type Message struct {
	buf  string
	segs []Segment
	d    Delimiters
	cs   charset
}

// Parse parses one HL7 v2 message. The delimiters come from MSH-1 and MSH-2;
// segments may end in CR, LF or CRLF; a leading UTF-8 byte order mark, white
// space and blank lines are skipped. The input is decoded according to MSH-18
// (UTF-8 when absent) and copied, so the caller may reuse raw afterwards.
//
// Parse checks that MSH-9 (message type), MSH-10 (control id) and MSH-12
// (version) are present. It returns ErrNotHL7 for input that does not start
// with MSH and a *ParseError for anything else it rejects.
func Parse(raw []byte) (*Message, error) {
	in, skipped := trimLeading(raw)
	if len(in) < 3 || string(in[:3]) != "MSH" {
		return nil, ErrNotHL7
	}
	// One copy serves as the message for UTF-8 and ASCII, by far the most
	// common; the single byte sets are converted from in again.
	s := string(in)
	h, err := readHeader(s)
	if err != nil {
		return nil, err
	}
	buf, err := decodeInput(in, s, h, skipped)
	if err != nil {
		return nil, err
	}
	segs, err := splitSegments(buf, enc{d: h.d, cs: h.cs})
	if err != nil {
		return nil, err
	}
	return &Message{buf: buf, segs: segs, d: h.d, cs: h.cs}, nil
}

// isBlank reports whether c is white space or an MLLP framing byte, which are
// ignored before the message and on lines of their own.
func isBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', 0x1c:
		return true
	}
	return false
}

func trimLeading(raw []byte) (in []byte, skipped int) {
	in = raw
	if len(in) >= 3 && in[0] == 0xef && in[1] == 0xbb && in[2] == 0xbf {
		in = in[3:]
	}
	for len(in) > 0 && isBlank(in[0]) {
		in = in[1:]
	}
	return in, len(raw) - len(in)
}

// header is what Parse reads from the MSH segment before it decodes the rest.
type header struct {
	d        Delimiters
	cs       charset
	declared string // MSH-18 as written
}

// readHeader reads the delimiters and checks the required MSH fields. in
// starts with "MSH".
func readHeader(in string) (header, error) {
	var h header
	if len(in) < 4 || in[3] == '\r' || in[3] == '\n' {
		return h, parseErr("MSH", 1, CodeDataTypeError, "missing field separator")
	}
	fs := in[3]
	if !validDelimiter(fs) {
		return h, parseErr("MSH", 1, CodeDataTypeError, fmt.Sprintf("invalid field separator %q", fs))
	}
	line := in[:lineEnd(in)]
	ec, _ := cut(line, fs, 1)
	d, err := delimiters(fs, ec)
	if err != nil {
		return h, err
	}
	h.d = d

	// Read the fields as the accessors of Message do, so that what is
	// checked here is what they return.
	msh := Segment{raw: line, e: enc{d: d}}
	if code, _, _ := messageType(msh); strings.TrimSpace(code) == "" {
		return h, parseErr("MSH", 9, CodeRequiredFieldMissing, "missing message type")
	}
	if strings.TrimSpace(msh.Field(10).String()) == "" {
		return h, parseErr("MSH", 10, CodeRequiredFieldMissing, "missing message control id")
	}
	switch v := version(msh); {
	case v == "":
		return h, parseErr("MSH", 12, CodeRequiredFieldMissing, "missing version id")
	case !validVersion(v):
		return h, parseErr("MSH", 12, CodeUnsupportedVersion, fmt.Sprintf("unsupported version %q", clip(v, 16)))
	}
	cs := charsetName(msh)
	var ok bool
	if h.cs, ok = lookupCharset(cs); !ok {
		return h, parseErr("MSH", 18, CodeDataTypeError, fmt.Sprintf("unsupported character set %q", clip(cs, 32)))
	}
	h.declared = cs
	return h, nil
}

// delimiters checks the field separator and encoding characters (MSH-2).
func delimiters(fs byte, ec string) (Delimiters, error) {
	if len(ec) < 4 || len(ec) > 5 {
		return Delimiters{}, parseErr("MSH", 2, CodeDataTypeError, fmt.Sprintf(
			"encoding characters must be 4 (5 with a truncation character), got %d", len(ec)))
	}
	for i, c := range []byte(ec) {
		if !validDelimiter(c) || c == fs || strings.IndexByte(ec[:i], c) >= 0 {
			return Delimiters{}, parseErr("MSH", 2, CodeDataTypeError, fmt.Sprintf(
				"invalid or repeated encoding character %q", c))
		}
	}
	d := Delimiters{Field: fs, Component: ec[0], Repetition: ec[1], Escape: ec[2], SubComponent: ec[3]}
	if len(ec) == 5 {
		d.Truncation = ec[4]
	}
	return d, nil
}

// validVersion accepts "2." followed by digits and dots, as in "2.3.1".
func validVersion(v string) bool {
	if len(v) < 3 || v[:2] != "2." {
		return false
	}
	for i := 2; i < len(v); i++ {
		if (v[i] < '0' || v[i] > '9') && v[i] != '.' {
			return false
		}
	}
	return v[2] != '.'
}

// decodeInput checks in against the declared character set and returns it
// as a UTF-8 string. skipped is the number of bytes trimmed before in, so
// that offsets in errors count from the start of the caller's input.
func decodeInput(in []byte, s string, h header, skipped int) (string, error) {
	switch h.cs {
	case csUTF8:
		if !utf8.ValidString(s) {
			declared := "no MSH-18, so UTF-8 is assumed"
			if h.declared != "" {
				declared = fmt.Sprintf("declared %q", h.declared)
			}
			return "", parseErr("MSH", 18, CodeDataTypeError, fmt.Sprintf(
				"invalid UTF-8 at byte %d (%s)", skipped+invalidUTF8At(in), declared))
		}
		return s, nil
	case csASCII:
		for i, c := range in {
			if c >= utf8.RuneSelf {
				return "", parseErr("MSH", 18, CodeDataTypeError, fmt.Sprintf(
					"non-ASCII byte at byte %d (declared %q)", skipped+i, h.declared))
			}
		}
		return s, nil
	default:
		return singleByteToUTF8(in, h.cs), nil
	}
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// splitSegments finds the segments in buf, which starts with "MSH".
//
// A segment ends at CR, LF or CRLF. Blank lines are skipped. Every other line
// must start with a segment ID, except in a message whose MSH ends in CR: there
// a bare LF followed by something that is not a segment ID is taken to be a
// line break inside a field value, as some senders write them unescaped.
func splitSegments(buf string, e enc) ([]Segment, error) {
	crMode := false
	if i := lineEnd(buf); i < len(buf) {
		crMode = buf[i] == '\r'
	}
	segs := make([]Segment, 0, strings.Count(buf, "\r")+strings.Count(buf, "\n")+1)
	// The next CR and LF are looked up separately so that each search runs
	// over the buffer once, whichever of the two the message uses.
	find := func(c byte, from int) int {
		if i := strings.IndexByte(buf[from:], c); i >= 0 {
			return from + i
		}
		return len(buf)
	}
	nextCR, nextLF := find('\r', 0), find('\n', 0)
	start := -1 // start of the last segment
	bareLF := false
	for pos := 0; pos < len(buf); {
		if nextCR < pos {
			nextCR = find('\r', pos)
		}
		if nextLF < pos {
			nextLF = find('\n', pos)
		}
		end := min(nextCR, nextLF)
		line := buf[pos:end]
		afterBareLF := bareLF
		next := end
		if end < len(buf) {
			next = end + 1
			bareLF = buf[end] == '\n'
			if buf[end] == '\r' && next < len(buf) && buf[next] == '\n' {
				next++
			}
		}
		switch {
		case blank(line):
		case isSegmentID(line, e.d.Field):
			if len(segs) > 0 && line[:3] == "MSH" {
				return nil, parseErr("MSH", 0, CodeSegmentSequenceError, fmt.Sprintf(
					"second MSH segment (segment %d): one message per Parse", len(segs)+1))
			}
			start = pos
			segs = append(segs, Segment{raw: line, e: e})
		case crMode && afterBareLF:
			segs[len(segs)-1].raw = buf[start:end]
		default:
			// The line is not quoted: it may be patient data.
			return nil, parseErr("", 0, CodeSegmentSequenceError, fmt.Sprintf(
				"segment %d: invalid segment ID (want 3 upper-case letters or digits, then the field separator)", len(segs)+1))
		}
		pos = next
	}
	return segs, nil
}

// isSegmentID reports whether line starts with a segment ID: an upper-case
// letter and two upper-case letters or digits, then a field separator or
// the end of the line.
func isSegmentID(line string, fs byte) bool {
	if len(line) < 3 || (len(line) > 3 && line[3] != fs) {
		return false
	}
	if line[0] < 'A' || line[0] > 'Z' {
		return false
	}
	for _, c := range []byte(line[1:3]) {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func blank(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBlank(s[i]) {
			return false
		}
	}
	return true
}

// lineEnd returns the index of the first CR or LF in s, or len(s).
func lineEnd(s string) int {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return i
	}
	return len(s)
}

// clip shortens b for quoting in an error message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Delimiters returns the delimiters the message declares.
func (m *Message) Delimiters() Delimiters { return m.d }

// NumSegments returns the number of segments, MSH included.
func (m *Message) NumSegments() int { return len(m.segs) }

// SegmentAt returns the i-th segment, counting from 0 (MSH). It returns the
// zero Segment when i is out of range.
func (m *Message) SegmentAt(i int) Segment {
	if i < 0 || i >= len(m.segs) {
		return Segment{}
	}
	return m.segs[i]
}

// Segment returns the first segment with the given ID, such as "PV1".
func (m *Message) Segment(name string) (Segment, bool) {
	return m.nth(name, 1)
}

// nth returns the n-th (1-based) segment with the given ID.
func (m *Message) nth(name string, n int) (Segment, bool) {
	for _, s := range m.segs {
		if s.raw[:3] == name {
			if n--; n == 0 {
				return s, true
			}
		}
	}
	return Segment{}, false
}

// Segments returns every segment with the given ID, in message order.
func (m *Message) Segments(name string) []Segment {
	var out []Segment
	for _, s := range m.segs {
		if s.raw[:3] == name {
			out = append(out, s)
		}
	}
	return out
}

func (m *Message) msh() Segment {
	if len(m.segs) == 0 {
		return Segment{}
	}
	return m.segs[0]
}

// MessageType returns the components of MSH-9: message code ("ADT"), trigger
// event ("A01") and message structure ("ADT_A01"; often empty before v2.3.1).
func (m *Message) MessageType() (code, trigger, structure string) {
	return messageType(m.msh())
}

func messageType(msh Segment) (code, trigger, structure string) {
	f := msh.Field(9)
	return f.Component(1).String(), f.Component(2).String(), f.Component(3).String()
}

// ControlID returns MSH-10, the message control id that an ACK echoes in MSA-2.
func (m *Message) ControlID() string { return m.msh().Field(10).String() }

// Version returns the version id in MSH-12.1, such as "2.5.1".
func (m *Message) Version() string { return version(m.msh()) }

func version(msh Segment) string {
	return strings.TrimSpace(msh.Field(12).Component(1).String())
}

// Charset returns the character set declared in MSH-18, such as "8859/1", or
// "" when none is declared and UTF-8 was assumed.
func (m *Message) Charset() string { return charsetName(m.msh()) }

func charsetName(msh Segment) string {
	return strings.TrimSpace(msh.Field(18).Repetition(1).String())
}

// HD is an HL7 hierarchic designator, the type of the application and
// facility fields in MSH.
type HD struct {
	NamespaceID     string
	UniversalID     string
	UniversalIDType string
}

func hd(f Field) HD {
	r := f.Repetition(1)
	return HD{r.Component(1).String(), r.Component(2).String(), r.Component(3).String()}
}

// SendingApplication returns MSH-3.
func (m *Message) SendingApplication() HD { return hd(m.msh().Field(3)) }

// SendingFacility returns MSH-4.
func (m *Message) SendingFacility() HD { return hd(m.msh().Field(4)) }

// ReceivingApplication returns MSH-5.
func (m *Message) ReceivingApplication() HD { return hd(m.msh().Field(5)) }

// ReceivingFacility returns MSH-6.
func (m *Message) ReceivingFacility() HD { return hd(m.msh().Field(6)) }

// LogValue describes the message by its header only, so that logging a
// message never logs patient data.
func (m *Message) LogValue() slog.Value {
	code, trigger, _ := m.MessageType()
	return slog.GroupValue(
		slog.String("type", code+"^"+trigger),
		slog.String("control_id", m.ControlID()),
		slog.String("version", m.Version()),
		slog.Int("segments", len(m.segs)),
	)
}
