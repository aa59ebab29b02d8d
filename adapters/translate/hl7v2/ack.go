package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error condition codes of HL7 table 0357, for AckError.Code.
const (
	CodeAccepted                = "0"
	CodeSegmentSequenceError    = "100"
	CodeRequiredFieldMissing    = "101"
	CodeDataTypeError           = "102"
	CodeTableValueNotFound      = "103"
	CodeUnsupportedMessageType  = "200"
	CodeUnsupportedEventCode    = "201"
	CodeUnsupportedProcessingID = "202"
	CodeUnsupportedVersion      = "203"
	CodeUnknownKey              = "204"
	CodeDuplicateKey            = "205"
	CodeRecordLocked            = "206"
	CodeInternalError           = "207"
)

// codeText returns the HL7 description of an error condition code.
func codeText(code string) string {
	switch code {
	case CodeAccepted:
		return "Message accepted"
	case CodeSegmentSequenceError:
		return "Segment sequence error"
	case CodeRequiredFieldMissing:
		return "Required field missing"
	case CodeDataTypeError:
		return "Data type error"
	case CodeTableValueNotFound:
		return "Table value not found"
	case CodeUnsupportedMessageType:
		return "Unsupported message type"
	case CodeUnsupportedEventCode:
		return "Unsupported event code"
	case CodeUnsupportedProcessingID:
		return "Unsupported processing id"
	case CodeUnsupportedVersion:
		return "Unsupported version id"
	case CodeUnknownKey:
		return "Unknown key identifier"
	case CodeDuplicateKey:
		return "Duplicate key identifier"
	case CodeRecordLocked:
		return "Application record locked"
	case CodeInternalError:
		return "Application internal error"
	}
	return ""
}

// AckError is one error an ACK reports in an ERR segment.
type AckError struct {
	Segment  string // segment ID of the location (ERR-2.1), "" when there is none
	Sequence int    // which segment with that ID, from 1 (ERR-2.2); 0 means 1
	Field    int    // field position (ERR-2.3); 0 for the whole segment
	Code     string // HL7 table 0357 code (ERR-3), such as CodeRequiredFieldMissing; "" means CodeInternalError
	Severity string // ERR-4: "E" (the default), "W", "I" or "F"
	Message  string // text for the user (ERR-8); also MSA-3 before v2.7 when AckOptions.Text is empty
}

// AckOptions are the settings of an ACK that are not taken from the
// message. The zero value is ready to use.
type AckOptions struct {
	// ControlID is the ACK's own MSH-10. If empty, one is derived from the
	// acknowledged message and the acknowledgment code, so acknowledging the
	// same message the same way twice gives the same id.
	ControlID string
	// Time is the ACK's MSH-7. If zero, the current time is used.
	Time time.Time
	// Text is the acknowledgment's text: MSA-3 before v2.7 (which withdrew
	// MSA-3), else the user message of an ERR segment. If empty, the first
	// AckError's Message is used before v2.7.
	Text string
}

// Ack returns an original-mode acknowledgment of m with AckOptions' zero
// value; see AckOptions.Ack.
func Ack(m *Message, code string, errs ...AckError) []byte {
	return AckOptions{}.Ack(m, code, errs...)
}

// AckForUnparsable returns a best-effort AR acknowledgment of raw, a message
// that Parse rejects; see AckOptions.AckForUnparsable.
func AckForUnparsable(raw []byte, reason string) []byte {
	return AckOptions{}.AckForUnparsable(raw, reason)
}

// Ack returns an original-mode acknowledgment of m: "AA" (accept), "AE"
// (error) or "AR" (reject) in MSA-1 and m's control id in MSA-2. A nil m
// gives an ACK with an empty MSA-2.
//
// The ACK's MSH swaps m's sending and receiving application and facility,
// has message type ACK^<trigger>^ACK (ACK^<trigger> before v2.3.1) and keeps
// m's delimiters, processing id, version and character set. Each AckError
// becomes an ERR segment with location (ERR-2), code (ERR-3), severity
// (ERR-4) and user message (ERR-8) from v2.5 on; before v2.5 they are the
// repetitions of ERR-1 in a single ERR segment. From v2.7 on, a Text without
// errors is sent as an ERR segment of its own, with code 0 and severity I for
// AA, else 207 and E. Segments end in CR; the result is in m's character set.
func (o AckOptions) Ack(m *Message, code string, errs ...AckError) []byte {
	h := ackHeader{d: defaultDelimiters()}
	if m != nil && len(m.segs) > 0 {
		h = headerOf(m)
	}
	return o.build(h, code, errs)
}

// AckForUnparsable returns an AR acknowledgment of raw for when Parse
// rejects it, with reason as the text. It takes what it can from raw's MSH
// (delimiters, applications, facilities, control id, version, character set)
// and leaves out what is broken. The ERR segment locates the problem and
// gives its code when Parse can tell them. If raw parses after all, the
// result is that of Ack with an application internal error.
func (o AckOptions) AckForUnparsable(raw []byte, reason string) []byte {
	ae := AckError{Code: CodeInternalError, Message: reason}
	m, err := Parse(raw)
	if err == nil {
		return o.Ack(m, "AR", ae)
	}
	var pe *ParseError
	if errors.As(err, &pe) {
		ae = pe.AckError()
	} else {
		ae = AckError{Code: CodeSegmentSequenceError, Message: err.Error()}
	}
	if reason != "" {
		ae.Message = reason
	}
	return o.build(salvage(raw), "AR", []AckError{ae})
}

// ackHeader holds what an ACK copies from the message it acknowledges. The
// strings are encoded with d, ready to write.
type ackHeader struct {
	d                                  Delimiters
	cs                                 charset
	sendApp, sendFac, recvApp, recvFac string
	controlID, trigger, processingID   string
	version, charset                   string
	versionID                          string // decoded MSH-12.1, for the rules of that version
	hash                               uint64 // of the acknowledged bytes
}

func headerOf(m *Message) ackHeader {
	msh := m.msh()
	return ackHeader{
		d:            m.d,
		cs:           m.cs,
		sendApp:      msh.Field(3).Encoded(),
		sendFac:      msh.Field(4).Encoded(),
		recvApp:      msh.Field(5).Encoded(),
		recvFac:      msh.Field(6).Encoded(),
		trigger:      msh.Field(9).Component(2).Encoded(),
		controlID:    msh.Field(10).Encoded(),
		processingID: msh.Field(11).Encoded(),
		version:      msh.Field(12).Encoded(),
		versionID:    m.Version(),
		charset:      msh.Field(18).Encoded(),
		hash:         fnv64(m.buf),
	}
}

// salvage reads what it can of the MSH of a message Parse rejects. Values
// are kept only in a form that cannot break the ACK: valid UTF-8 without
// control characters, no longer than 199 bytes.
func salvage(raw []byte) ackHeader {
	h := ackHeader{d: defaultDelimiters(), hash: fnv64(raw)}
	in, _ := trimLeading(raw)
	if len(in) < 4 || string(in[:3]) != "MSH" || !validDelimiter(in[3]) {
		return h
	}
	end := min(len(in), 4096)
	line := string(in[:end])
	line = line[:lineEnd(line)]
	fs := line[3]
	ec, _ := cut(line, fs, 1)
	d, err := delimiters(fs, ec)
	if err != nil {
		// The fields can still be told apart, but not their parts.
		d = Delimiters{Field: fs}
	} else {
		h.d = d
	}
	msh := Segment{raw: line, e: enc{d: d}}
	if err == nil {
		if cs := charsetName(msh); cs != "" {
			if c, ok := lookupCharset(cs); ok {
				h.cs, h.charset = c, msh.Field(18).Encoded()
			}
		}
		if v := version(msh); validVersion(v) {
			h.version, h.versionID = msh.Field(12).Component(1).Encoded(), v
		}
		h.trigger = msh.Field(9).Component(2).Encoded()
	} else if v := strings.TrimSpace(msh.Field(12).Encoded()); validVersion(v) {
		h.version, h.versionID = v, v
	}
	clean := func(n int) string {
		s := msh.Field(n).Encoded()
		if h.cs == csLatin1 || h.cs == csLatin9 {
			s = singleByteToUTF8([]byte(s), h.cs)
		}
		return sanitize(s, h.d)
	}
	h.sendApp, h.sendFac, h.recvApp, h.recvFac = clean(3), clean(4), clean(5), clean(6)
	h.controlID, h.processingID = clean(10), clean(11)
	h.trigger = sanitize(h.trigger, h.d)
	return h
}

// sanitize makes a value from a broken header safe to copy into an ACK.
func sanitize(s string, d Delimiters) string {
	s = s[:min(len(s), 199)]
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == utf8.RuneError || r == rune(d.Field) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

func (o AckOptions) build(h ackHeader, code string, errs []AckError) []byte {
	d := h.d
	esc := func(s string) string { return Escape(s, d) }
	version, v := h.version, h.versionID
	if v == "" {
		version, v = esc("2.5"), "2.5"
	}

	msgType := "ACK"
	switch {
	case atLeast(v, 2, 3, 1):
		msgType = join(d.Component, "ACK", h.trigger, "ACK")
	case h.trigger != "":
		msgType = join(d.Component, "ACK", h.trigger)
	}
	controlID := esc(o.ControlID)
	if controlID == "" {
		controlID = fmt.Sprintf("ACK%016X", h.hash^fnv64(code))
	}
	at := o.Time
	if at.IsZero() {
		at = time.Now()
	}
	processingID := h.processingID
	if processingID == "" {
		processingID = "P"
	}
	encodingChars := string([]byte{d.Component, d.Repetition, d.Escape, d.SubComponent})
	if d.Truncation != 0 {
		encodingChars += string(d.Truncation)
	}

	w := writer{d: d}
	w.segment("MSH", encodingChars, h.recvApp, h.recvFac, h.sendApp, h.sendFac,
		esc(at.Format("20060102150405-0700")), "", msgType, controlID, processingID, version,
		"", "", "", "", "", h.charset)

	text := o.Text
	modern := atLeast(v, 2, 7, 0)
	switch {
	case !modern && text == "" && len(errs) > 0:
		text = errs[0].Message
	case modern && text != "" && len(errs) == 0:
		e := AckError{Code: CodeInternalError, Severity: "E", Message: text}
		if code == "AA" || code == "CA" {
			e.Code, e.Severity = CodeAccepted, "I"
		}
		errs = []AckError{e}
	}
	if modern {
		text = ""
	}
	w.segment("MSA", esc(code), h.controlID, esc(text))

	if atLeast(v, 2, 5, 0) {
		for _, e := range errs {
			c, sev := e.code(), e.Severity
			if sev == "" {
				sev = "E"
			}
			loc := e.location(esc)
			w.segment("ERR", "", join(d.Component, loc[:]...),
				join(d.Component, esc(c), esc(codeText(c)), "HL70357"),
				esc(sev), "", "", "", esc(e.Message))
		}
	} else if len(errs) > 0 {
		// ERR-1 (ELD): segment^sequence^field^code&text&table, repeating.
		reps := make([]string, len(errs))
		for i, e := range errs {
			c, loc := e.code(), e.location(esc)
			reps[i] = join(d.Component, loc[0], loc[1], loc[2],
				join(d.SubComponent, esc(c), esc(codeText(c)), "HL70357"))
		}
		w.segment("ERR", strings.Join(reps, string(d.Repetition)))
	}
	return encodeOutput(w.b, h.cs)
}

func (e AckError) code() string {
	if e.Code == "" {
		return CodeInternalError
	}
	return e.Code
}

// location returns the segment, sequence and field of e, escaped; all
// empty when e has no segment.
func (e AckError) location(esc func(string) string) [3]string {
	if e.Segment == "" {
		return [3]string{}
	}
	field := ""
	if e.Field > 0 {
		field = strconv.Itoa(e.Field)
	}
	return [3]string{esc(e.Segment), strconv.Itoa(max(e.Sequence, 1)), field}
}

// writer appends segments, dropping empty trailing fields.
type writer struct {
	b []byte
	d Delimiters
}

func (w *writer) segment(name string, fields ...string) {
	n := len(fields)
	for n > 0 && fields[n-1] == "" {
		n--
	}
	w.b = append(w.b, name...)
	for _, f := range fields[:n] {
		w.b = append(w.b, w.d.Field)
		w.b = append(w.b, f...)
	}
	w.b = append(w.b, '\r')
}

// join joins parts with sep, dropping empty trailing parts.
func join(sep byte, parts ...string) string {
	n := len(parts)
	for n > 0 && parts[n-1] == "" {
		n--
	}
	return strings.Join(parts[:n], string(sep))
}

// atLeast reports whether version v, such as "2.3.1", is at least
// major.minor.patch. A version it cannot read counts as 2.5.
func atLeast(v string, major, minor, patch int) bool {
	got := [3]int{2, 5, 0}
	if validVersion(v) {
		got = [3]int{}
		for i, p := range strings.SplitN(v, ".", 3) {
			n, err := strconv.Atoi(strings.TrimRight(p, "."))
			if err != nil || n > 99 {
				n = 99
			}
			got[i] = n
		}
	}
	for i, want := range [3]int{major, minor, patch} {
		if got[i] != want {
			return got[i] > want
		}
	}
	return true
}

// fnv64 is FNV-1a, for control ids that are the same on every run.
func fnv64[S string | []byte](s S) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// AckCode returns MSA-1 of an acknowledgement (AA, AE, AR, CA, CE, CR),
// or "" when it has no MSA segment.
func AckCode(ack []byte) string {
	i := bytes.Index(ack, []byte("\rMSA"))
	if i < 0 || i+7 > len(ack) || ack[i+4] != ack[3] {
		return ""
	}
	code, _, _ := bytes.Cut(ack[i+5:], []byte{ack[3]})
	code, _, _ = bytes.Cut(code, []byte{'\r'})
	return string(code)
}
