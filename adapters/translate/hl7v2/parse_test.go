package hl7v2

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t testing.TB, raw string) *Message {
	t.Helper()
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func readCorpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCorpus checks key fields of every corpus file against values read from
// the files by hand.
func TestCorpus(t *testing.T) {
	tests := []struct {
		file                       string
		code, trigger, structure   string
		controlID, version, sender string
		segments                   int
		pid3, pid3rep2             string // PID-3.1, PID-3(2).1
		pv1class, pv1loc           string // PV1-2, PV1-3.1.1
	}{
		{"hapi_adt_a03.hl7", "ADT", "A03", "", "263206", "2.5", "IRIS", 5, "5520255", "ZZZZZZ83M64Z148R", "I", "6402DH"},
		{"hl7dotnetcore_Sample-ADT.hl7", "ADT", "O01", "", "MSGID12349876", "2.3", "AcmeHIS", 5, "454721", "", "O", "OP"},
		{"ms_ADT-A01-01.hl7", "ADT", "A01", "ADT_A01", "MSG00001", "2.8", "ADTApp", 24, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A02-01.hl7", "ADT", "A02", "ADT_A02", "MSG00001", "2.8", "ADTApp", 14, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A03-01.hl7", "ADT", "A03", "ADT_A03", "MSG00001", "2.8", "ADTApp", 24, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A04-01.hl7", "ADT", "A04", "ADT_A04", "MSG00001", "2.8", "ADTApp", 24, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A05-01.hl7", "ADT", "A05", "ADT_A05", "MSG00001", "2.8", "ADTApp", 23, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A06-01.hl7", "ADT", "A06", "ADT_A06", "MSG00006", "2.8", "ADT1", 23, "PATID1234", "123456789", "I", "SPROOM"},
		{"ms_ADT-A07-01.hl7", "ADT", "A07", "ADT_A07", "MSG00007", "2.8", "ADT1", 23, "PATID1234", "123456789", "O", "OPD"},
		{"ms_ADT-A08-01.hl7", "ADT", "A08", "ADT_A08", "MSG00001", "2.8", "ADTApp", 24, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A11-01.hl7", "ADT", "A11", "ADT_A11", "MSG00001", "2.8", "ADTApp", 9, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A13-01.hl7", "ADT", "A13", "ADT_A13", "MSG00001", "2.8", "ADTApp", 24, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A27-01.hl7", "ADT", "A27", "ADT_A27", "MSG00001", "2.8", "ADTApp", 9, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A40-01.hl7", "ADT", "A40", "ADT_A40", "8919-40", "2.8", "Ntierprise", 4, "12345", "", "", ""},
		{"ms_ADT-A41-01.hl7", "ADT", "A41", "ADT_A41", "MSG00001", "2.8", "ADTApp", 7, "PATID1234", "123456789", "P", "HUH AE OMU"},
		{"ms_ADT-A47-01.hl7", "ADT", "A47", "ADT_A47", "MSG000047", "2.8", "ADTApp", 5, "MR101", "", "", ""},
		{"ms_ADT01-23.hl7", "ADT", "A01", "", "599102", "2.3", "AccMgr", 12, "10006579", "", "I", "PREOP"},
		{"ms_ADT01-28.hl7", "ADT", "A01", "ADT_A01", "MSG00001", "2.5.1", "ADT1", 5, "PATID1234", "123456789", "I", "2000"},
		{"ms_ADT04-23.hl7", "ADT", "A04", "", "Q123456789T123456789X123456", "2.3", "NES", 8, "123456789", "", "O", "ABCD"},
		{"ms_ADT04-28.hl7", "ADT", "A04", "", "1270326314", "2.3", "REDOX", 8, "0000000001", "e167267c-16c9-4fe3-96ae-9cff5703e90a", "I", "3N"},
	}
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("corpus has %d files; the table covers %d", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(readCorpus(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			code, trigger, structure := m.MessageType()
			if code != tt.code || trigger != tt.trigger || structure != tt.structure {
				t.Errorf("MessageType() = %q, %q, %q; want %q, %q, %q", code, trigger, structure, tt.code, tt.trigger, tt.structure)
			}
			checks := []struct{ name, got, want string }{
				{"ControlID()", m.ControlID(), tt.controlID},
				{"Version()", m.Version(), tt.version},
				{"SendingApplication().NamespaceID", m.SendingApplication().NamespaceID, tt.sender},
				{"Charset()", m.Charset(), ""},
				{"PID-3.1", m.Get("PID-3.1"), tt.pid3},
				{"PID-3(2).1", m.Get("PID-3(2).1"), tt.pid3rep2},
				{"PV1-2", m.Get("PV1-2"), tt.pv1class},
				{"PV1-3.1.1", m.Get("PV1-3.1.1"), tt.pv1loc},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %q; want %q", c.name, c.got, c.want)
				}
			}
			if got := m.NumSegments(); got != tt.segments {
				t.Errorf("NumSegments() = %d; want %d", got, tt.segments)
			}
			for i := range m.NumSegments() {
				if s := m.SegmentAt(i); strings.ContainsAny(s.Encoded(), "\r\n") {
					t.Errorf("segment %d (%s) holds a line break", i, s.Name())
				}
			}
		})
	}
}

// TestCorpusDetails checks structure the corpus table does not cover.
func TestCorpusDetails(t *testing.T) {
	t.Run("hapi repetitions and subcomponents", func(t *testing.T) {
		m, err := Parse(readCorpus(t, "hapi_adt_a03.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		pid, ok := m.Segment("PID")
		if !ok {
			t.Fatal("no PID")
		}
		reps := pid.Field(3).Repetitions()
		if len(reps) != 4 {
			t.Fatalf("PID-3 has %d repetitions; want 4", len(reps))
		}
		if got := reps[2].Component(7).String(); got != "20070103" {
			t.Errorf("PID-3(3).7 = %q; want %q", got, "20070103")
		}
		if got := reps[3].Component(5).String(); got != "TEAM" {
			t.Errorf("PID-3(4).5 = %q; want %q", got, "TEAM")
		}
		for path, want := range map[string]string{
			"PV1-3.9":       "MED. 1 - ONCOLOGIA",
			"PV1-3.11":      "OSPEDALE MAGGIORE DI LODI&LODI",
			"PV1-3.11.1":    "OSPEDALE MAGGIORE DI LODI",
			"PV1-3.11.2":    "LODI",
			"PV1-19":        "2008003369",
			"PV1-45":        "200803031508",
			"EVN-2":         "200803051509",
			"EVN-6":         "200803031508",
			"PR1-3.2":       "Mastoplastica",
			"MSH-1":         "|",
			"MSH-2":         `^~\&`,
			"MSH-2.1":       `^~\&`,
			"MSH-9":         "ADT^A03",
			"MSH-7":         "200803051508",
			"PID-3":         "5520255^^^PK^PK~ZZZZZZ83M64Z148R^^^CF^CF~ZZZZZZ83M64Z148R^^^SSN^SSN^^20070103^99991231~^^^^TEAM",
			"PID-3(1)":      "5520255^^^PK^PK",
			"PID(2)-3":      "",
			"ZZZ-1":         "",
			"PID-99":        "",
			"PID-3(9).1":    "",
			"PID-3.99":      "",
			"PV1-3.11.3":    "",
			"not a path":    "",
			"PID-3(2).1.1":  "ZZZZZZ83M64Z148R",
			"PID.3(2).1.1":  "ZZZZZZ83M64Z148R",
			"PID(1)-3(2).1": "ZZZZZZ83M64Z148R",
		} {
			if got := m.Get(path); got != want {
				t.Errorf("Get(%q) = %q; want %q", path, got, want)
			}
		}
		if got := pid.NumFields(); got != 30 {
			t.Errorf("PID NumFields() = %d; want 30", got)
		}
		msh := m.SegmentAt(0)
		if got := msh.NumFields(); got != 12 {
			t.Errorf("MSH NumFields() = %d; want 12", got)
		}
		if got := msh.Field(2).NumComponents(); got != 1 {
			t.Errorf("MSH-2 NumComponents() = %d; want 1", got)
		}
		if got := m.Delimiters(); got != defaultDelimiters() {
			t.Errorf("Delimiters() = %+v; want %+v", got, defaultDelimiters())
		}
	})
	t.Run("repeated segments", func(t *testing.T) {
		m, err := Parse(readCorpus(t, "ms_ADT01-23.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		in1 := m.Segments("IN1")
		if len(in1) != 3 {
			t.Fatalf("Segments(IN1) has %d; want 3", len(in1))
		}
		for i, want := range []string{"MEDICARE", "NON-PRIMARY", "SELF PAY"} {
			if got := in1[i].Field(2).String(); got != want {
				t.Errorf("IN1(%d)-2 = %q; want %q", i+1, got, want)
			}
			if got := m.Get(Path{Segment: "IN1", Occurrence: i + 1, Field: 2}.String()); got != want {
				t.Errorf("IN1(%d)-2 by path = %q; want %q", i+1, got, want)
			}
		}
		if got := m.Get("MSH-15"); got != " " {
			t.Errorf("MSH-15 = %q; want a single space as written", got)
		}
		if _, ok := m.Segment("OBX"); ok {
			t.Error("Segment(OBX) found one; want none")
		}
		if got := m.Segments("OBX"); got != nil {
			t.Errorf("Segments(OBX) = %v; want nil", got)
		}
		if got := m.SegmentAt(99).Name(); got != "" {
			t.Errorf("SegmentAt(99).Name() = %q; want empty", got)
		}
	})
	t.Run("HD fields", func(t *testing.T) {
		m, err := Parse(readCorpus(t, "ms_ADT-A01-01.hl7"))
		if err != nil {
			t.Fatal(err)
		}
		want := HD{"GHHSFacility", "2.16.840.1.122848.1.30", "ISO"}
		if got := m.SendingFacility(); got != want {
			t.Errorf("SendingFacility() = %+v; want %+v", got, want)
		}
		want = HD{"EHRApp", "1.Edu", "ISO"}
		if got := m.ReceivingApplication(); got != want {
			t.Errorf("ReceivingApplication() = %+v; want %+v", got, want)
		}
		want = HD{"GHHRFacility", "2.16.840.1.1122848.1.32", "ISO"}
		if got := m.ReceivingFacility(); got != want {
			t.Errorf("ReceivingFacility() = %+v; want %+v", got, want)
		}
		if got := m.Get("OBX-5(2)"); got != "120" {
			t.Errorf("OBX-5(2) = %q; want %q", got, "120")
		}
	})
}

func TestFieldAccess(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5\rPID|1||a1^^^X&1.2&ISO^MR~b2^^^Y^PI||\"\"|x^y|\r")
	pid, _ := m.Segment("PID")
	f := pid.Field(3)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"NumRepetitions", f.NumRepetitions(), 2},
		{"NumComponents", f.NumComponents(), 5},
		{"Component(4).NumSubComponents", f.Component(4).NumSubComponents(), 3},
		{"SubComponent(4,2)", f.SubComponent(4, 2), "1.2"},
		{"SubComponent(4,9)", f.SubComponent(4, 9), ""},
		{"SubComponent(4,0)", f.SubComponent(4, 0), ""},
		{"Component(0)", f.Component(0).String(), ""},
		{"Repetition(0)", f.Repetition(0).String(), ""},
		{"Repetition(2).Component(4)", f.Repetition(2).Component(4).String(), "Y"},
		{"Encoded", f.Repetition(2).Encoded(), "b2^^^Y^PI"},
		{"Component.Encoded", f.Component(4).Encoded(), "X&1.2&ISO"},
		{"Field(5).IsNull", pid.Field(5).IsNull(), true},
		{"Field(5).IsEmpty", pid.Field(5).IsEmpty(), false},
		{"Field(4).IsEmpty", pid.Field(4).IsEmpty(), true},
		{"Field(4).NumRepetitions", pid.Field(4).NumRepetitions(), 0},
		{"Field(4).Repetitions", len(pid.Field(4).Repetitions()), 0},
		{"Field(7).IsEmpty (trailing)", pid.Field(7).IsEmpty(), true},
		{"Field(0)", pid.Field(0).String(), ""},
		{"Field(-1)", pid.Field(-1).String(), ""},
		{"NumFields", pid.NumFields(), 7},
		{"Name", pid.Name(), "PID"},
		{"Component(2).IsEmpty", f.Component(2).IsEmpty(), true},
		{"MSH-1 components", m.SegmentAt(0).Field(1).Component(2).String(), ""},
		{"MSH-2 repetition 2", m.SegmentAt(0).Field(2).Repetition(2).String(), ""},
		{"MSH-2 subcomponent", m.SegmentAt(0).Field(2).SubComponent(1, 1), `^~\&`},
		{"MSH-2 NumRepetitions", m.SegmentAt(0).Field(2).NumRepetitions(), 1},
		{"Fields", len(pid.Fields()), 7},
		{"Fields()[2]", pid.Fields()[2], f},
		{"Components", len(f.Components()), 5},
		{"Components()[3]", f.Components()[3], f.Component(4)},
		{"SubComponents", strings.Join(f.Component(4).SubComponents(), ","), "X,1.2,ISO"},
		{"empty Components", len(pid.Field(4).Components()), 0},
		{"empty SubComponents", len(f.Component(2).SubComponents()), 0},
		{"MSH Fields", m.SegmentAt(0).Fields()[1].String(), `^~\&`},
		{"MSH Fields()[8]", m.SegmentAt(0).Fields()[8].String(), "ADT^A08"},
		{"MSH-2 Components", m.SegmentAt(0).Field(2).Components()[0].String(), `^~\&`},
		{"MSH-2 SubComponents", m.SegmentAt(0).Field(2).Component(1).SubComponents()[0], `^~\&`},
		{"MSH-2 Repetitions", len(m.SegmentAt(0).Field(2).Repetitions()), 1},
		{"zero Segment Fields", len(Segment{}.Fields()), 0},
		{"zero Segment", Segment{}.Field(3).Component(1).String(), ""},
		{"zero Segment NumFields", Segment{}.NumFields(), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v; want %v", tt.got, tt.want)
			}
		})
	}
}

// TestLineEndings parses one message written with each segment terminator.
func TestLineEndings(t *testing.T) {
	segs := []string{
		"MSH|^~\\&|SND|FAC|RCV|FAC2|20240101120000||ADT^A01^ADT_A01|C1|P|2.5",
		"EVN|A01|20240101120000",
		"PID|1||0102030405^^^CPR^NNDK",
		"PV1|1|I|AFD^STUE^SENG",
		"ZXY|custom|segment",
	}
	tests := []struct {
		name string
		raw  string
	}{
		{"CR", strings.Join(segs, "\r") + "\r"},
		{"LF", strings.Join(segs, "\n") + "\n"},
		{"CRLF", strings.Join(segs, "\r\n") + "\r\n"},
		{"no final terminator", strings.Join(segs, "\r")},
		{"mixed", segs[0] + "\r" + segs[1] + "\n" + segs[2] + "\r\n" + segs[3] + "\r" + segs[4]},
		{"blank lines and trailing space line", "\r\n" + strings.Join(segs, "\r\n\r\n") + "\r\n \r\n\r\n"},
		{"BOM", "\xef\xbb\xbf" + strings.Join(segs, "\n")},
		{"BOM and white space", "\xef\xbb\xbf \t\r\n" + strings.Join(segs, "\n")},
		{"MLLP framing", "\x0b" + strings.Join(segs, "\r") + "\r\x1c\r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if got := m.NumSegments(); got != len(segs) {
				t.Fatalf("NumSegments() = %d; want %d", got, len(segs))
			}
			for i, want := range segs {
				if got := m.SegmentAt(i).Encoded(); got != want {
					t.Errorf("segment %d = %q; want %q", i, got, want)
				}
			}
			if got := m.Get("PV1-3.2"); got != "STUE" {
				t.Errorf("PV1-3.2 = %q; want %q", got, "STUE")
			}
			if got := m.Get("ZXY-2"); got != "segment" {
				t.Errorf("ZXY-2 = %q; want %q", got, "segment")
			}
		})
	}
}

// TestEmbeddedLineBreaks covers senders that put raw LFs in text fields of
// CR-separated messages.
func TestEmbeddedLineBreaks(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		segments int
		obx5     string
	}{
		{"LF inside a CR message is data", "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rOBX|1|TX|||line 1\nline 2\n\nline 4|x\r", 2, "line 1\nline 2\n\nline 4"},
		{"LF before a segment ID still ends a segment", "MSH|^~\\&|||||||ORU^R01|1|P|2.5\rOBX|1|TX|||one\nOBX|2|TX|||two\r", 3, "one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if got := m.NumSegments(); got != tt.segments {
				t.Errorf("NumSegments() = %d; want %d", got, tt.segments)
			}
			if got := m.Get("OBX-5"); got != tt.obx5 {
				t.Errorf("OBX-5 = %q; want %q", got, tt.obx5)
			}
		})
	}
}

func TestEscapes(t *testing.T) {
	tests := []struct {
		name    string
		msh2    string
		charset string
		value   string
		want    string
	}{
		{"field separator", `^~\&`, "", `a\F\b`, "a|b"},
		{"component separator", `^~\&`, "", `a\S\b`, "a^b"},
		{"subcomponent separator", `^~\&`, "", `a\T\b`, "a&b"},
		{"repetition separator", `^~\&`, "", `a\R\b`, "a~b"},
		{"escape character", `^~\&`, "", `C:\E\temp`, `C:\temp`},
		{"line break", `^~\&`, "", `line 1\.br\line 2`, "line 1\nline 2"},
		{"highlighting dropped", `^~\&`, "", `\H\important\N\ text`, "important text"},
		{"hex ASCII", `^~\&`, "", `\X414243\`, "ABC"},
		{"hex lower case digits", `^~\&`, "", `\X6a\`, "j"},
		{"hex UTF-8", `^~\&`, "UNICODE UTF-8", `S\XC3B8\ren`, "Søren"},
		{"hex Latin-1 in UTF-8 message", `^~\&`, "", `\XC6\r\XF8\`, "Ærø"},
		{"hex in Latin-1 message", `^~\&`, "8859/1", `\XE6F8E5\`, "æøå"},
		{"hex in Latin-9 message", `^~\&`, "8859/15", `\XA4\`, "€"},
		{"hex CR", `^~\&`, "", `a\X0D\b`, "a\rb"},
		{"hex odd length kept", `^~\&`, "", `\X414\`, `\X414\`},
		{"hex bad digit kept", `^~\&`, "", `\XZZ\`, `\XZZ\`},
		{"unknown kept", `^~\&`, "", `a\Zlocal\b`, `a\Zlocal\b`},
		{"charset switch kept", `^~\&`, "", `\C2842\x`, `\C2842\x`},
		{"unterminated kept", `^~\&`, "", `a\F`, `a\F`},
		{"empty sequence kept", `^~\&`, "", `a\\b`, `a\\b`},
		{"truncation without truncation character", `^~\&`, "", `a\P\`, `a\P\`},
		{"truncation character", `^~\&#`, "", `a\P\`, "a#"},
		{"several", `^~\&`, "", `\F\\S\\T\\R\\E\`, `|^&~\`},
		{"other escape character", `^~!&`, "", `a!F!b!.br!c\F\`, "a|b\nc\\F\\"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "MSH|" + tt.msh2 + "|||||||ADT^A01|1|P|2.7||||||" + tt.charset + "\rNTE|1||" + tt.value + "\r"
			m := mustParse(t, raw)
			if got := m.Get("NTE-3"); got != tt.want {
				t.Errorf("NTE-3 = %q; want %q", got, tt.want)
			}
			if got := m.Get("NTE-3.1.1"); got != tt.want {
				t.Errorf("NTE-3.1.1 = %q; want %q", got, tt.want)
			}
			if got := m.SegmentAt(1).Field(3).Encoded(); got != tt.value {
				t.Errorf("Encoded() = %q; want %q as written", got, tt.value)
			}
		})
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		d     Delimiters
		value string
		want  string
	}{
		{"plain", defaultDelimiters(), "Søren Ærø", "Søren Ærø"},
		{"delimiters", defaultDelimiters(), `a|b^c&d~e\f`, `a\F\b\S\c\T\d\R\e\E\f`},
		{"line breaks", defaultDelimiters(), "a\nb\r\nc", `a\.br\b\X0D\\.br\c`},
		{"looks like an escape", defaultDelimiters(), `\F\`, `\E\F\E\`},
		{"truncation", Delimiters{'|', '^', '~', '\\', '&', '#'}, "#1", `\P\1`},
		{"zero delimiters mean defaults", Delimiters{}, "a|b", `a\F\b`},
		{"other delimiters", Delimiters{'#', '$', '*', '/', '%', 0}, "a#b$c/d", "a/F/b/S/c/E/d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Escape(tt.value, tt.d)
			if got != tt.want {
				t.Errorf("Escape(%q) = %q; want %q", tt.value, got, tt.want)
			}
			d := tt.d
			if d.Escape == 0 {
				d = defaultDelimiters()
			}
			if back := (enc{d: d}).decode(got); back != tt.value {
				t.Errorf("decode(Escape(%q)) = %q", tt.value, back)
			}
		})
	}
}

func TestCustomDelimiters(t *testing.T) {
	raw := "MSH#$*/%#SND#FAC#RCV#FAC2#20240101##ADT$A02$ADT_A02#C9#P#2.4\rPID#1##id1$$$A%1.2*id2$$$B#|pipe is data|\r"
	m := mustParse(t, raw)
	want := Delimiters{Field: '#', Component: '$', Repetition: '*', Escape: '/', SubComponent: '%'}
	if got := m.Delimiters(); got != want {
		t.Errorf("Delimiters() = %+v; want %+v", got, want)
	}
	for path, want := range map[string]string{
		"MSH-1":        "#",
		"MSH-2":        "$*/%",
		"MSH-9.2":      "A02",
		"PID-3(1).4.2": "1.2",
		"PID-3(2).1":   "id2",
		"PID-4":        "|pipe is data|",
	} {
		if got := m.Get(path); got != want {
			t.Errorf("Get(%q) = %q; want %q", path, got, want)
		}
	}
}

func TestCharsets(t *testing.T) {
	const text = "Ærø^Søren Åge"
	latin1 := func(s string) string { // æøå and friends only
		var b []byte
		for _, r := range s {
			b = append(b, byte(r))
		}
		return string(b)
	}
	msg := func(charset, pid5 string) string {
		return "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|1|P|2.5||||||" + charset + "\rPID|1||1||" + pid5 + "\r"
	}
	tests := []struct {
		name    string
		raw     string
		want    string
		charset string
	}{
		{"UTF-8 by default", msg("", text), text, ""},
		{"UNICODE UTF-8", msg("UNICODE UTF-8", text), text, "UNICODE UTF-8"},
		{"UTF-8 spelled otherwise", msg("utf-8", text), text, "utf-8"},
		{"8859/1", msg("8859/1", latin1(text)), text, "8859/1"},
		{"ISO-8859-1 spelled otherwise", msg("ISO-8859-1", latin1(text)), text, "ISO-8859-1"},
		{"8859/1 repeated MSH-18", msg("8859/1~ISO IR87", latin1(text)), text, "8859/1"},
		{"8859/15", msg("8859/15", "\xa4 \xa6\xe6"), "€ Šæ", "8859/15"},
		{"ASCII", msg("ASCII", "Aero^Soren"), "Aero^Soren", "ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw)
			if got := m.Get("PID-5"); got != tt.want {
				t.Errorf("PID-5 = %q; want %q", got, tt.want)
			}
			if got := m.Charset(); got != tt.charset {
				t.Errorf("Charset() = %q; want %q", got, tt.charset)
			}
		})
	}
	t.Run("8859/1 given name", func(t *testing.T) {
		m := mustParse(t, msg("8859/1", latin1(text)))
		if got := m.Get("PID-5.2"); got != "Søren Åge" {
			t.Errorf("PID-5.2 = %q; want %q", got, "Søren Åge")
		}
	})
}

func TestParseErrors(t *testing.T) {
	const msh = "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5"
	garbage := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.UintN(256))
	}
	big := bytes.Repeat([]byte("A"), 10<<20)
	tests := []struct {
		name     string
		raw      []byte
		sentinel error
		segment  string
		field    int
		reason   string // substring
	}{
		{name: "empty", raw: nil, sentinel: ErrNotHL7},
		{name: "white space", raw: []byte(" \r\n\t"), sentinel: ErrNotHL7},
		{name: "BOM only", raw: []byte("\xef\xbb\xbf"), sentinel: ErrNotHL7},
		{name: "not HL7", raw: []byte("hello, world"), sentinel: ErrNotHL7},
		{name: "starts with PID", raw: []byte("PID|1||1\r" + msh), sentinel: ErrNotHL7},
		{name: "batch header", raw: []byte("FHS|^~\\&\r" + msh), sentinel: ErrNotHL7},
		{name: "lower case msh", raw: []byte("msh|^~\\&"), sentinel: ErrNotHL7},
		{name: "UTF-16", raw: []byte("\xff\xfeM\x00S\x00H\x00"), sentinel: ErrNotHL7},
		{name: "binary garbage", raw: garbage, sentinel: ErrNotHL7},
		{name: "10 MB of letters", raw: big, sentinel: ErrNotHL7},
		{name: "MSH alone", raw: []byte("MSH"), segment: "MSH", field: 1, reason: "missing field separator"},
		{name: "MSH then CR", raw: []byte("MSH\r"), segment: "MSH", field: 1, reason: "missing field separator"},
		{name: "letter as field separator", raw: []byte("MSHA^~\\&A"), segment: "MSH", field: 1, reason: "invalid field separator"},
		{name: "space as field separator", raw: []byte("MSH ^~\\& "), segment: "MSH", field: 1, reason: "invalid field separator"},
		{name: "no encoding characters", raw: []byte("MSH|"), segment: "MSH", field: 2, reason: "got 0"},
		{name: "two encoding characters", raw: []byte("MSH|^~|S|F"), segment: "MSH", field: 2, reason: "got 2"},
		{name: "six encoding characters", raw: []byte("MSH|^~\\&#!|S"), segment: "MSH", field: 2, reason: "got 6"},
		{name: "repeated encoding character", raw: []byte("MSH|^^\\&|S"), segment: "MSH", field: 2, reason: "repeated"},
		{name: "digit as encoding character", raw: []byte("MSH|^~\\1|S"), segment: "MSH", field: 2, reason: "invalid"},
		{name: "truncated after MSH-2", raw: []byte("MSH|^~\\&"), segment: "MSH", field: 9, reason: "missing message type"},
		{name: "truncated in MSH-9", raw: []byte("MSH|^~\\&|S|F|R|F|20240101||"), segment: "MSH", field: 9, reason: "missing message type"},
		{name: "MSH-9 without code", raw: []byte("MSH|^~\\&|S|F|R|F|20240101||^A01|C1|P|2.5"), segment: "MSH", field: 9},
		{name: "truncated before MSH-10", raw: []byte("MSH|^~\\&|S|F|R|F|20240101||ADT^A01"), segment: "MSH", field: 10, reason: "missing message control id"},
		{name: "truncated before MSH-12", raw: []byte("MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P"), segment: "MSH", field: 12, reason: "missing version id"},
		{name: "version 3", raw: []byte("MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|3.0"), segment: "MSH", field: 12, reason: "unsupported version"},
		{name: "unknown charset", raw: []byte(msh + "||||||UNICODE UTF-16\rPID|1"), segment: "MSH", field: 18, reason: "unsupported character set"},
		{name: "invalid UTF-8 declared", raw: []byte(msh + "||||||UNICODE UTF-8\rPID|1||1||S\xf8ren"), segment: "MSH", field: 18, reason: `invalid UTF-8 at byte 74 (declared "UNICODE UTF-8")`},
		{name: "invalid UTF-8 assumed", raw: []byte("\xef\xbb\xbf" + msh + "\rPID|1||1||S\xf8ren"), segment: "MSH", field: 18, reason: "invalid UTF-8 at byte 58 (no MSH-18, so UTF-8 is assumed)"},
		{name: "non-ASCII in ASCII", raw: []byte(msh + "||||||ASCII\rPID|1||1||S\xc3\xb8ren"), segment: "MSH", field: 18, reason: "non-ASCII byte"},
		{name: "garbage segment after CR", raw: []byte(msh + "\rPID|1\r\x00\x01\x02garbage"), reason: "segment 3: invalid segment ID"},
		{name: "binary garbage after MSH", raw: append([]byte(msh+"||||||8859/1\r"), garbage...), reason: "invalid segment ID"},
		{name: "lower case segment", raw: []byte(msh + "\rpid|1"), reason: "invalid segment ID"},
		{name: "segment with other field separator", raw: []byte(msh + "\nPID#1"), reason: "invalid segment ID"},
		{name: "short segment ID", raw: []byte(msh + "\rPI|1"), reason: "invalid segment ID"},
		{name: "second MSH", raw: []byte(msh + "\rPID|1\r" + msh), segment: "MSH", reason: "second MSH segment (segment 3)"},
		{name: "10 MB of garbage after MSH", raw: append([]byte(msh+"\r"), bytes.Repeat([]byte{'\r', 0xff, '#'}, 10<<20/3)...), segment: "MSH", field: 18, reason: "invalid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.raw)
			if err == nil {
				t.Fatalf("Parse succeeded with %d segments; want an error", m.NumSegments())
			}
			if tt.sentinel != nil {
				if !errors.Is(err, tt.sentinel) {
					t.Fatalf("err = %v; want %v", err, tt.sentinel)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %T %v; want *ParseError", err, err)
			}
			if pe.Segment != tt.segment || pe.Field != tt.field {
				t.Errorf("location = %q, %d; want %q, %d (%v)", pe.Segment, pe.Field, tt.segment, tt.field, err)
			}
			if !strings.Contains(pe.Reason, tt.reason) {
				t.Errorf("Reason = %q; want it to contain %q", pe.Reason, tt.reason)
			}
			if !strings.HasPrefix(err.Error(), "hl7v2: ") {
				t.Errorf("Error() = %q; want the package prefix", err.Error())
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	tests := []struct {
		err  *ParseError
		want string
	}{
		{&ParseError{Segment: "MSH", Field: 9, Reason: "missing message type"}, "hl7v2: MSH-9: missing message type"},
		{&ParseError{Segment: "MSH", Reason: "second MSH segment"}, "hl7v2: MSH: second MSH segment"},
		{&ParseError{Reason: "segment 3: invalid segment ID"}, "hl7v2: segment 3: invalid segment ID"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestLargeMessage(t *testing.T) {
	value := strings.Repeat("QUJD", 10<<20/4) // 10 MB, as an embedded document would be
	raw := "MSH|^~\\&|S|F|R|F|20240101||ORU^R01|C1|P|2.5\rOBX|1|ED|PDF||^AP^PDF^Base64^" + value + "\r"
	m := mustParse(t, raw)
	if got := m.Get("OBX-5.5"); len(got) != len(value) {
		t.Errorf("len(OBX-5.5) = %d; want %d", len(got), len(value))
	}
	many := "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5" + strings.Repeat("\rNTE|1", 1<<20)
	m = mustParse(t, many)
	if got := m.NumSegments(); got != 1<<20+1 {
		t.Errorf("NumSegments() = %d; want %d", got, 1<<20+1)
	}
}

func TestParseDoesNotAliasInput(t *testing.T) {
	raw := []byte("MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5\rPID|1||123\r")
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 'X'
	}
	if got := m.Get("PID-3"); got != "123" {
		t.Errorf("PID-3 after reuse of the input = %q; want %q", got, "123")
	}
}

func TestPath(t *testing.T) {
	tests := []struct {
		in   string
		want Path
		str  string // String(); "" means in
		err  bool
	}{
		{in: "PV1-3", want: Path{Segment: "PV1", Field: 3}},
		{in: "PV1-3.1", want: Path{Segment: "PV1", Field: 3, Component: 1}},
		{in: "PID-3(2).1", want: Path{Segment: "PID", Field: 3, Repetition: 2, Component: 1}},
		{in: "PID-3(2).4.2", want: Path{Segment: "PID", Field: 3, Repetition: 2, Component: 4, SubComponent: 2}},
		{in: "OBX(12)-5", want: Path{Segment: "OBX", Occurrence: 12, Field: 5}},
		{in: "ZP1-1", want: Path{Segment: "ZP1", Field: 1}},
		{in: "PID.3.1", want: Path{Segment: "PID", Field: 3, Component: 1}, str: "PID-3.1"},
		{in: "", err: true},
		{in: "PID", err: true},
		{in: "PID-", err: true},
		{in: "PID-0", err: true},
		{in: "PID-x", err: true},
		{in: "pid-3", err: true},
		{in: "PID-3.", err: true},
		{in: "PID-3.1.2.3", err: true},
		{in: "PID-3(", err: true},
		{in: "PID-3(0)", err: true},
		{in: "PID-3(1", err: true},
		{in: "PID(x)-3", err: true},
		{in: "PID-3-1", err: true},
		{in: "PID-9999999", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if tt.err {
				if err == nil {
					t.Fatalf("ParsePath(%q) = %+v; want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParsePath(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
			str := tt.str
			if str == "" {
				str = tt.in
			}
			if got.String() != str {
				t.Errorf("String() = %q; want %q", got.String(), str)
			}
		})
	}
}

func TestLogValueRedacts(t *testing.T) {
	m := mustParse(t, "MSH|^~\\&|S|F|R|F|20240101||ADT^A01|C1|P|2.5\rPID|1||0102030405^^^CPR||Hansen^Jens\r")
	pid, _ := m.Segment("PID")
	for name, v := range map[string]string{
		"Message":   m.LogValue().String(),
		"Segment":   pid.LogValue().String(),
		"Field":     pid.Field(3).LogValue().String(),
		"Component": pid.Field(5).Component(1).LogValue().String(),
	} {
		if strings.Contains(v, "0102030405") || strings.Contains(v, "Hansen") {
			t.Errorf("%s LogValue %q holds patient data", name, v)
		}
	}
	if v := m.LogValue().String(); !strings.Contains(v, "ADT^A01") || !strings.Contains(v, "C1") {
		t.Errorf("Message LogValue %q; want type and control id", v)
	}
}

// typicalA01 is an ADT^A01 of the size and shape a Danish hospital sends.
const typicalA01 = "MSH|^~\\&|PAS|RH^5790000121526^GLN|STAFET|KOMMUNE|20240311081502+0100||ADT^A01^ADT_A01|PAS00012345678|P|2.5|||AL|NE|DNK|8859/1\r" +
	"EVN|A01|20240311081500+0100|||USR123^Hansen^Mette|20240311081000+0100\r" +
	"PID|1||0102030405^^^CPR^NNDK~98765^^^RH^MR||Jensen^Søren^Peter||19470925|M|||Nørregade 12^^København K^^1165^DK^H^^101||+4512345678^PRN^PH|||M|||||||||||DK||||N\r" +
	"PD1|||Lægehuset Vesterbro^^123456^^^SOR|1234567^Læge^Anne\r" +
	"NK1|1|Jensen^Inge|SPO|Nørregade 12^^København K^^1165^DK|+4587654321\r" +
	"PV1|1|I|KARD^S12^3^RH^^^^^Kardiologisk afd. B||||012345^Nielsen^Ole^^^Dr.|||MED||||7|||012345^Nielsen^Ole^^^Dr.|IN|VN202403110001^^^RH^VN|||||||||||||||||||||||||20240311080000+0100\r" +
	"PV2|||I21.4^Akut myokardieinfarkt^ICD10||||||20240318\r" +
	"DG1|1||DI214^Akut subendokardielt myokardieinfarkt^SKS||20240311080000+0100|A\r" +
	"ZST|1|Forløb^123abc\r"

func BenchmarkParse(b *testing.B) {
	latin1 := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r))
		}
		return out
	}
	inputs := []struct {
		name string
		raw  []byte
	}{
		{"typical_A01_8859-1", latin1(typicalA01)},
		{"typical_A01_UTF-8", []byte(strings.Replace(typicalA01, "8859/1", "UNICODE UTF-8", 1))},
		{"corpus_ms_ADT-A01-01", readCorpus(b, "ms_ADT-A01-01.hl7")},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(in.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// What a mapper does with each message: parse, read the fields an ADT
	// event needs, acknowledge.
	b.Run("typical_A01_read_and_ack", func(b *testing.B) {
		raw := latin1(typicalA01)
		paths := []string{"EVN-2", "PID-3(1).1", "PID-3(1).4", "PID-29", "PV1-2", "PV1-3.1", "PV1-19.1", "PV1-44", "PV1-45", "PV2-9"}
		opts := AckOptions{ControlID: "A1"}
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			m, err := Parse(raw)
			if err != nil {
				b.Fatal(err)
			}
			m.MessageType()
			m.ControlID()
			for _, p := range paths {
				m.Get(p)
			}
			opts.Ack(m, "AA")
		}
	})
}

// TestConcurrentReads backs the claim that a Message is safe for concurrent
// use; run it with -race.
func TestConcurrentReads(t *testing.T) {
	m, err := Parse(readCorpus(t, "ms_ADT-A01-01.hl7"))
	if err != nil {
		t.Fatal(err)
	}
	want := m.Get("PID-3(2).1")
	done := make(chan string)
	for range 4 {
		go func() {
			var got string
			for range 100 {
				got = m.Get("PID-3(2).1")
				for i := range m.NumSegments() {
					leaves(m.SegmentAt(i))
				}
				Ack(m, "AA")
			}
			done <- got
		}()
	}
	for range 4 {
		if got := <-done; got != want {
			t.Errorf("PID-3(2).1 = %q; want %q", got, want)
		}
	}
}
