package hl7v2

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var ackTime = time.Date(2024, 3, 11, 8, 15, 3, 0, time.FixedZone("", 3600))

// golden compares got with testdata/golden/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot  %q\nwant %q", name, got, want)
	}
}

// TestAckGolden acknowledges every corpus message, accepting it and
// rejecting it with two errors, and compares with the golden files.
func TestAckGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	opts := AckOptions{Time: ackTime}
	errs := []AckError{
		{Segment: "PID", Field: 3, Code: CodeRequiredFieldMissing, Message: "PID-3 har intet CPR-nummer"},
		{Segment: "PV1", Sequence: 1, Field: 3, Code: CodeTableValueNotFound, Severity: "W", Message: "ukendt afsnit"},
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hl7")
		t.Run(name, func(t *testing.T) {
			m, err := Parse(readCorpus(t, filepath.Base(file)))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".AA.ack", opts.Ack(m, "AA"))
			golden(t, name+".AE.ack", opts.Ack(m, "AE", errs...))
		})
	}
}

func TestAck(t *testing.T) {
	const body = "\rEVN|A01|20240101\rPID|1||0102030405^^^CPR\r"
	header := func(version, msh9, charset string) string {
		return "MSH|^~\\&|PAS|RH^1.2.3^ISO|STAFET|KOM|20240101120000||" + msh9 + "|CTL-1|T|" + version + "||||||" + charset
	}
	tests := []struct {
		name      string
		raw       string
		code      string
		opts      AckOptions
		errs      []AckError
		msh9      string
		msa       string // MSA as written, without terminator
		err       []string
		charset   string
		controlID string // "" when derived
	}{
		{
			name: "v2.5 accept", raw: header("2.5", "ADT^A01^ADT_A01", "") + body, code: "AA",
			msh9: "ACK^A01^ACK", msa: "MSA|AA|CTL-1",
		},
		{
			name: "v2.5 error with location", raw: header("2.5", "ADT^A01^ADT_A01", "") + body, code: "AE",
			errs: []AckError{{Segment: "PID", Field: 3, Code: CodeRequiredFieldMissing, Message: "no CPR"}},
			msh9: "ACK^A01^ACK", msa: "MSA|AE|CTL-1|no CPR",
			err: []string{"ERR||PID^1^3|101^Required field missing^HL70357|E||||no CPR"},
		},
		{
			name: "v2.5.1 default code and given severity", raw: header("2.5.1", "ADT^A08^ADT_A01", "") + body, code: "AE",
			errs: []AckError{{Severity: "W", Message: "a|b"}},
			msh9: "ACK^A08^ACK", msa: `MSA|AE|CTL-1|a\F\b`,
			err: []string{`ERR|||207^Application internal error^HL70357|W||||a\F\b`},
		},
		{
			name: "v2.3 uses ERR-1", raw: header("2.3", "ADT^A03", "") + body, code: "AR",
			errs: []AckError{
				{Segment: "PV1", Sequence: 2, Field: 3, Code: CodeTableValueNotFound, Message: "unknown ward"},
				{Code: CodeUnsupportedEventCode},
			},
			msh9: "ACK^A03", msa: "MSA|AR|CTL-1|unknown ward",
			err: []string{"ERR|PV1^2^3^103&Table value not found&HL70357~^^^201&Unsupported event code&HL70357"},
		},
		{
			name: "v2.3.1 has a structure component", raw: header("2.3.1", "ADT^A02", "") + body, code: "AA",
			msh9: "ACK^A02^ACK", msa: "MSA|AA|CTL-1",
		},
		{
			name: "v2.4 text option", raw: header("2.4", "ADT^A11^ADT_A09", "") + body, code: "AA", opts: AckOptions{Text: "modtaget"},
			msh9: "ACK^A11^ACK", msa: "MSA|AA|CTL-1|modtaget",
		},
		{
			name: "v2.7 text goes to ERR", raw: header("2.7", "ADT^A13^ADT_A01", "") + body, code: "AE", opts: AckOptions{Text: "try later"},
			msh9: "ACK^A13^ACK", msa: "MSA|AE|CTL-1",
			err: []string{"ERR|||207^Application internal error^HL70357|E||||try later"},
		},
		{
			name: "v2.8 accept with text", raw: header("2.8", "ADT^A01^ADT_A01", "") + body, code: "AA", opts: AckOptions{Text: "ok"},
			msh9: "ACK^A01^ACK", msa: "MSA|AA|CTL-1",
			err: []string{"ERR|||0^Message accepted^HL70357|I||||ok"},
		},
		{
			name: "control id option is escaped", raw: header("2.5", "ADT^A01^ADT_A01", "") + body, code: "AA", opts: AckOptions{ControlID: "A|1"},
			msh9: "ACK^A01^ACK", msa: "MSA|AA|CTL-1", controlID: `A\F\1`,
		},
		{
			name: "8859/1 is kept", raw: header("2.5", "ADT^A01^ADT_A01", "8859/1") + body, code: "AE",
			errs: []AckError{{Message: "ukendt afdeling på Ærø €"}},
			msh9: "ACK^A01^ACK", msa: "MSA|AE|CTL-1|ukendt afdeling p\xe5 \xc6r\xf8 ?",
			err:     []string{"ERR|||207^Application internal error^HL70357|E||||ukendt afdeling p\xe5 \xc6r\xf8 ?"},
			charset: "8859/1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			tt.opts.Time = ackTime
			ack := tt.opts.Ack(m, tt.code, tt.errs...)
			segs := strings.Split(strings.TrimSuffix(string(ack), "\r"), "\r")
			if !bytes.HasSuffix(ack, []byte("\r")) {
				t.Errorf("ACK does not end in CR: %q", ack)
			}
			wantMSH := "MSH|^~\\&|STAFET|KOM|PAS|RH^1.2.3^ISO|20240311081503+0100||" + tt.msh9 + "|"
			if !strings.HasPrefix(segs[0], wantMSH) {
				t.Errorf("MSH = %q; want prefix %q", segs[0], wantMSH)
			}
			if got := segs[1]; got != tt.msa {
				t.Errorf("MSA = %q; want %q", got, tt.msa)
			}
			if got := segs[2:]; strings.Join(got, "\n") != strings.Join(tt.err, "\n") {
				t.Errorf("ERR = %q; want %q", got, tt.err)
			}
			a, err := Parse(ack)
			if err != nil {
				t.Fatalf("Parse(ACK): %v", err)
			}
			for _, c := range []struct{ name, got, want string }{
				{"MSH-11", a.Get("MSH-11"), "T"},
				{"MSH-12", a.Version(), m.Version()},
				{"MSH-18", a.Charset(), tt.charset},
				{"MSA-1", a.Get("MSA-1"), tt.code},
				{"MSA-2", a.Get("MSA-2"), m.ControlID()},
			} {
				if c.got != c.want {
					t.Errorf("ACK %s = %q; want %q", c.name, c.got, c.want)
				}
			}
			if tt.controlID != "" {
				if got := a.SegmentAt(0).Field(10).Encoded(); got != tt.controlID {
					t.Errorf("ACK MSH-10 = %q; want %q", got, tt.controlID)
				}
			} else if id := a.ControlID(); len(id) != 19 || !strings.HasPrefix(id, "ACK") {
				t.Errorf("derived ACK MSH-10 = %q; want ACK and 16 hex digits", id)
			}
		})
	}
}

func TestAckControlID(t *testing.T) {
	m1 := mustParse(t, "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5\rPID|1||1\r")
	m2 := mustParse(t, "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5\rPID|1||2\r")
	id := func(ack []byte) string {
		t.Helper()
		a, err := Parse(ack)
		if err != nil {
			t.Fatal(err)
		}
		return a.ControlID()
	}
	opts := AckOptions{Time: ackTime}
	if a, b := id(opts.Ack(m1, "AA")), id(Ack(m1, "AA")); a != b {
		t.Errorf("same message, same code: %q and %q; want equal ids", a, b)
	}
	if a, b := id(opts.Ack(m1, "AA")), id(opts.Ack(m1, "AE")); a == b {
		t.Errorf("AA and AE of one message share id %q", a)
	}
	if a, b := id(opts.Ack(m1, "AA")), id(opts.Ack(m2, "AA")); a == b {
		t.Errorf("two messages with the same MSH-10 share ACK id %q", a)
	}
}

func TestAckTime(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5\r")
	before := time.Now().Truncate(time.Second)
	a, err := Parse(Ack(m, "AA"))
	if err != nil {
		t.Fatal(err)
	}
	at, err := ParseTime(a.Get("MSH-7"), nil)
	if err != nil {
		t.Fatalf("ParseTime(MSH-7): %v", err)
	}
	if at.Before(before) || at.After(time.Now()) {
		t.Errorf("MSH-7 = %v; want about %v", at, before)
	}
}

func TestAckNilMessage(t *testing.T) {
	a, err := Parse(AckOptions{Time: ackTime}.Ack(nil, "AR", AckError{Message: "no message"}))
	if err != nil {
		t.Fatalf("Parse(Ack(nil)): %v", err)
	}
	if got := a.Get("MSA-1"); got != "AR" {
		t.Errorf("MSA-1 = %q; want AR", got)
	}
}

func TestAckForUnparsable(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		reason    string
		controlID string // MSA-2
		receiver  string // ACK MSH-5, the original sender
		version   string
		errLoc    string // ERR-2 (or the location part of ERR-1)
		errCode   string // ERR-3.1
		text      string
	}{
		{name: "not HL7", raw: "GET / HTTP/1.1\r\n", version: "2.5", errCode: "100", text: "hl7v2: input does not start with an MSH segment"},
		{name: "empty", raw: "", reason: "empty frame", version: "2.5", errCode: "100", text: "empty frame"},
		{name: "missing control id", raw: "MSH|^~\\&|PAS|RH|STAFET|KOM|20240101||ADT^A01||P|2.5\r", controlID: "", receiver: "PAS", version: "2.5", errLoc: "MSH^1^10", errCode: "101", text: "missing message control id"},
		{name: "missing type", raw: "MSH|^~\\&|PAS|RH|STAFET|KOM|20240101|||C7|P|2.5\r", controlID: "C7", receiver: "PAS", version: "2.5", errLoc: "MSH^1^9", errCode: "101", text: "missing message type"},
		{name: "bad version", raw: "MSH|^~\\&|PAS|RH|STAFET|KOM|20240101||ADT^A01|C7|P|9.9\r", controlID: "C7", receiver: "PAS", version: "2.5", errLoc: "MSH^1^12", errCode: "203", text: "unsupported version \"9.9\""},
		{name: "broken encoding characters", raw: "MSH#^^^^#PAS|x#RH#STAFET#KOM#20240101##ADT^A01#C7#P#2.4\r", controlID: "C7", receiver: "PAS?x", version: "2.4", errLoc: "MSH^1^2", errCode: "102", text: "invalid or repeated encoding character '^'"},
		{name: "own delimiters kept", raw: "MSH#$*/%#PAS#RH#STAFET#KOM#20240101##ADT$A01#C7#P#2.5\rpid#1\r", controlID: "C7", receiver: "PAS", version: "2.5", errCode: "100", text: "segment 2: invalid segment ID (want 3 upper-case letters or digits, then the field separator)"},
		{name: "invalid UTF-8", raw: "MSH|^~\\&|PAS|RH|STAFET|KOM|20240101||ADT^A01|C7|P|2.6\rPID|1||1||S\xf8ren\r", controlID: "C7", receiver: "PAS", version: "2.6", errLoc: "MSH^1^18", errCode: "102", text: "invalid UTF-8 at byte 65 (no MSH-18, so UTF-8 is assumed)"},
		{name: "control characters in header", raw: "MSH|^~\\&|P\x00AS|RH|STAFET|KOM|20240101||ADT^A01|C\x017|P\r", controlID: "C?7", receiver: "P?AS", version: "2.5", errLoc: "MSH^1^12", errCode: "101", text: "missing version id"},
		{name: "parses after all", raw: "MSH|^~\\&|PAS|RH|STAFET|KOM|20240101||ADT^A01|C7|P|2.5\r", reason: "unsupported trigger", controlID: "C7", receiver: "PAS", version: "2.5", errCode: "207", text: "unsupported trigger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ack := AckOptions{Time: ackTime}.AckForUnparsable([]byte(tt.raw), tt.reason)
			a, err := Parse(ack)
			if err != nil {
				t.Fatalf("Parse(%q): %v", ack, err)
			}
			code := a.Get("ERR-3.1")
			loc := a.Get("ERR-2")
			text := a.Get("ERR-8")
			if !atLeast(tt.version, 2, 5, 0) {
				code = a.Get("ERR-1.4.1")
				loc = strings.TrimRight(strings.Join([]string{a.Get("ERR-1.1"), a.Get("ERR-1.2"), a.Get("ERR-1.3")}, "^"), "^")
				text = a.Get("MSA-3")
			}
			for _, c := range []struct{ name, got, want string }{
				{"MSA-1", a.Get("MSA-1"), "AR"},
				{"MSA-2", a.Get("MSA-2"), tt.controlID},
				{"MSH-5", a.Get("MSH-5"), tt.receiver},
				{"MSH-12", a.Version(), tt.version},
				{"ERR location", loc, tt.errLoc},
				{"ERR code", code, tt.errCode},
				{"text", text, tt.text},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q; want %q (ACK %q)", c.name, c.got, c.want, ack)
				}
			}
		})
	}
}

func TestParseErrorAckError(t *testing.T) {
	_, err := Parse([]byte("MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5||||||UTF-16\r"))
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v; want *ParseError", err)
	}
	want := AckError{Segment: "MSH", Field: 18, Code: CodeDataTypeError, Message: `unsupported character set "UTF-16"`}
	if got := pe.AckError(); got != want {
		t.Errorf("AckError() = %+v; want %+v", got, want)
	}
	if got := (&ParseError{Reason: "x"}).AckError().Code; got != CodeInternalError {
		t.Errorf("AckError().Code without code = %q; want %q", got, CodeInternalError)
	}
}

func TestAckCode(t *testing.T) {
	tests := []struct{ name, ack, want string }{
		{"accepted", "MSH|^~\\&|STAFET|STAFET|EPJ|AUH|20260302081502||ACK^A01^ACK|1|P|2.5\rMSA|AA|AUH0001\r", "AA"},
		{"with text", "MSH|^~\\&|S|S|E|A|20260302||ACK|1|P|2.5\rMSA|AE|X|bad\rERR|||207\r", "AE"},
		{"another field separator", "MSH#^~\\&#S\rMSA#AR#X\r", "AR"},
		{"no MSA", "MSH|^~\\&|S\r", ""},
		{"an MSA without fields", "MSH|^~\\&|S\rMSA", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AckCode([]byte(tt.ack)); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
		})
	}
}
