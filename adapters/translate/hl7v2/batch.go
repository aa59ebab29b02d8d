package hl7v2

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// File is an HL7 batch file (HL7 v2.5 §2.10.3):
//
//	[FHS] { [BHS] { MSH … } [BTS] } [FTS]
//
// The headers and trailers are optional, so messages written one after
// the other are a file of one batch too. SplitFile reads one; the
// messages keep their own bytes, character set and delimiters, each to be
// parsed and answered on its own.
type File struct {
	// Header and Trailer are the FHS and FTS segments; the zero Segment
	// when the file has none.
	Header, Trailer Segment
	Batches         []Batch
}

// Batch is one batch of a File.
type Batch struct {
	// Header and Trailer are the BHS and BTS segments; the zero Segment
	// when the batch has none.
	Header, Trailer Segment
	// Messages are the messages as received, each starting with MSH.
	Messages [][]byte
}

// Messages returns every message of the file in order.
func (f *File) Messages() [][]byte {
	var out [][]byte
	for _, b := range f.Batches {
		out = append(out, b.Messages...)
	}
	return out
}

// Declared returns the message count the batch's trailer declares
// (BTS-1), and whether it declares one.
func (b Batch) Declared() (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(b.Trailer.Field(1).String()))
	return n, err == nil && n >= 0
}

// Problem describes how the batch differs from what its trailer declares,
// or returns "" when it does not: a message lost on the way shows here.
func (b Batch) Problem() string {
	if n, ok := b.Declared(); ok && n != len(b.Messages) {
		return fmt.Sprintf("BTS-1 declares %d messages; the batch holds %d", n, len(b.Messages))
	}
	return ""
}

// IsFile reports whether raw is more than one plain message: it starts
// with FHS or BHS, or holds a second MSH segment. Parse takes one message;
// SplitFile takes the rest.
func IsFile(raw []byte) bool {
	in, _ := trimLeading(raw)
	if hasPrefixID(in, "FHS") || hasPrefixID(in, "BHS") {
		return true
	}
	msh := 0
	for l := range lines(in) {
		if headerID(l.text) == "MSH" {
			if msh++; msh > 1 {
				return true
			}
		}
	}
	return false
}

// SplitFile splits a batch file into its batches and messages, without
// parsing the messages. A UTF-8 byte order mark, white space and blank
// lines are skipped before, between and after them. It returns ErrNotHL7
// for input that does not start with FHS, BHS or MSH, and a *ParseError
// for headers and trailers out of place.
func SplitFile(raw []byte) (*File, error) {
	in, _ := trimLeading(raw)
	first := headerID(firstLine(in))
	if first != "FHS" && first != "BHS" && first != "MSH" {
		return nil, ErrNotHL7
	}
	f := &File{}
	var cur *Batch
	msgStart := -1
	closeMessage := func(end int) {
		if msgStart >= 0 {
			cur.Messages = append(cur.Messages, bytes.TrimRight(in[msgStart:end], " \t\r\n\v\f\x1c\x0b"))
			msgStart = -1
		}
	}
	batch := func() *Batch {
		if cur == nil {
			f.Batches = append(f.Batches, Batch{})
			cur = &f.Batches[len(f.Batches)-1]
		}
		return cur
	}
	seg := 0
	for line := range lines(in) {
		seg++
		id := headerID(line.text)
		if id == "" {
			if msgStart < 0 && !blank(line.text) {
				return nil, parseErr("", 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: outside a message (want MSH, BHS, BTS, FHS or FTS)", seg))
			}
			continue
		}
		closeMessage(line.at)
		switch id {
		case "MSH":
			batch()
			msgStart = line.start
		case "FHS":
			if seg != 1 {
				return nil, parseErr("FHS", 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: FHS must come first", seg))
			}
			f.Header = controlSegment(line.text)
		case "BHS":
			if f.Trailer.raw != "" {
				return nil, parseErr("BHS", 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: BHS after FTS", seg))
			}
			f.Batches = append(f.Batches, Batch{Header: controlSegment(line.text)})
			cur = &f.Batches[len(f.Batches)-1]
		case "BTS":
			if cur == nil && len(f.Batches) > 0 {
				return nil, parseErr("BTS", 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: BTS without a batch", seg))
			}
			batch().Trailer = controlSegment(line.text)
			cur = nil
		case "FTS":
			if f.Trailer.raw != "" {
				return nil, parseErr("FTS", 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: a second FTS", seg))
			}
			f.Trailer = controlSegment(line.text)
			cur = nil
		}
		if f.Trailer.raw != "" && id != "FTS" {
			return nil, parseErr(id, 0, CodeSegmentSequenceError, fmt.Sprintf("segment %d: after FTS", seg))
		}
	}
	closeMessage(len(in))
	return f, nil
}

// line is one line of input: at is where it begins, start where its text
// begins (after a byte order mark).
type line struct {
	text      string
	at, start int
}

// lines yields the lines of in, split at CR, LF and CRLF, with a UTF-8
// byte order mark at the start of a line left out of its text (files
// joined end to end keep the mark of each).
func lines(in []byte) func(func(line) bool) {
	return func(yield func(line) bool) {
		for pos := 0; pos < len(in); {
			end := pos
			for end < len(in) && in[end] != '\r' && in[end] != '\n' {
				end++
			}
			start := pos
			if bytes.HasPrefix(in[pos:end], []byte("\xef\xbb\xbf")) {
				start += 3
			}
			if !yield(line{text: string(in[start:end]), at: pos, start: start}) {
				return
			}
			pos = end + 1
		}
	}
}

func firstLine(in []byte) string {
	for l := range lines(in) {
		return l.text
	}
	return ""
}

// headerID returns MSH, FHS, BHS, BTS or FTS when a line is that segment,
// else "". MSH, FHS and BHS declare their field separator in the fourth
// character; BTS and FTS may end right after their name.
func headerID(s string) string {
	if len(s) < 3 {
		return ""
	}
	switch id := s[:3]; id {
	case "MSH", "FHS", "BHS":
		if len(s) > 3 && validDelimiter(s[3]) {
			return id
		}
	case "BTS", "FTS":
		if len(s) == 3 || validDelimiter(s[3]) {
			return id
		}
	}
	return ""
}

func hasPrefixID(in []byte, id string) bool {
	return headerID(firstLine(in)) == id
}

// controlSegment reads a batch or file header or trailer with the
// delimiters it declares (FHS, BHS) or the defaults (BTS, FTS). Control
// segments hold ids and counts, no patient data, and are read as UTF-8.
func controlSegment(s string) Segment {
	d := defaultDelimiters()
	if len(s) > 3 && validDelimiter(s[3]) {
		d.Field = s[3]
		if ec, ok := cut(s, s[3], 1); ok && (s[:3] == "FHS" || s[:3] == "BHS") {
			if dd, err := delimiters(s[3], ec); err == nil {
				d = dd
			}
		}
	}
	return Segment{raw: s, e: enc{d: d}}
}

// BatchAck answers a file with the acknowledgements of its messages
// (HL7 v2.5 §2.10.3, the response batch): acks holds one ACK per message
// of f.Messages(), in order, nil for a message its sender asked not to
// have acknowledged (MSH-16). Each batch becomes a batch of ACKs whose
// header swaps the sending and receiving application and facility and
// names the original batch control id (BHS-12 = BHS-11); its trailer
// counts the ACKs. A file header, if f has one, is answered the same way
// (FHS-12 = FHS-11). When a batch holds another number of messages than
// its trailer declares, the batch comment (BHS-10) says so. Segments end
// in CR.
func BatchAck(f *File, acks [][]byte, at time.Time) []byte {
	var out bytes.Buffer
	stamp := at.Format("20060102150405-0700")
	hash := fnv64(string(f.Header.raw))
	if f.Header.raw != "" {
		writeControlHeader(&out, "FHS", f.Header, stamp, "", hash)
	}
	i := 0
	for _, b := range f.Batches {
		writeControlHeader(&out, "BHS", b.Header, stamp, b.Problem(), hash^fnv64(b.Header.raw)^uint64(i))
		n := 0
		for range b.Messages {
			if i < len(acks) && acks[i] != nil {
				out.Write(bytes.TrimRight(acks[i], "\r\n"))
				out.WriteByte('\r')
				n++
			}
			i++
		}
		fmt.Fprintf(&out, "BTS|%d\r", n)
	}
	if f.Header.raw != "" || f.Trailer.raw != "" {
		fmt.Fprintf(&out, "FTS|%d\r", len(f.Batches))
	}
	return out.Bytes()
}

// writeControlHeader writes the FHS or BHS answering h: the applications
// and facilities swapped, a control id of its own and h's as the
// reference, and comment. The answer uses the default delimiters.
func writeControlHeader(out *bytes.Buffer, id string, h Segment, stamp, comment string, hash uint64) {
	d := defaultDelimiters()
	esc := func(n int) string { return Escape(h.Field(n).String(), d) }
	recvApp, recvFac := esc(5), esc(6)
	if recvApp == "" {
		recvApp = "STAFET"
	}
	fmt.Fprintf(out, "%s|^~\\&|%s|%s|%s|%s|%s|||%s|%s|%s\r",
		id, recvApp, recvFac, esc(3), esc(4), stamp, Escape(comment, d), fmt.Sprintf("B%016X", hash), esc(11))
}

// WantsAck reports whether the sender of m asked for an application
// acknowledgement with code (AA, AE or AR) in MSH-16: AL (always) or
// empty, as in original mode, yes; NE (never) no; ER (error) only for
// AE and AR; SU (success) only for AA. A batch acknowledgement leaves
// out the ACKs its messages' senders did not ask for.
func WantsAck(m *Message, code string) bool {
	switch strings.ToUpper(strings.TrimSpace(m.msh().Field(16).String())) {
	case "NE":
		return false
	case "ER":
		return code != "AA"
	case "SU":
		return code == "AA"
	}
	return true
}
