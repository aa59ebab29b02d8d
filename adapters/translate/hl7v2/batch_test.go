package hl7v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// goldenFile is a batch file as SplitFile reads it, each message's
// translation, and the batch acknowledgement.
type goldenFile struct {
	Error    *goldenError        `json:"error,omitempty"`
	Header   string              `json:"file_header,omitempty"`
	Batches  []goldenBatch       `json:"batches,omitempty"`
	Messages []goldenTranslation `json:"messages,omitempty"`
	Ack      []string            `json:"batch_ack,omitempty"`
}

type goldenBatch struct {
	ControlID string `json:"control_id,omitempty"`
	Messages  int    `json:"messages"`
	Problem   string `json:"problem,omitempty"`
}

// TestSplitFileGolden splits every file in testdata/batch, translates
// its messages and builds its acknowledgement (every message answered AA
// or AE by its translation, as MSH-16 asks), and compares the whole with
// testdata/golden-batch/<name>.json.
func TestSplitFileGolden(t *testing.T) {
	tr := testTranslator(t)
	at := time.Date(2026, 3, 14, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	files, err := filepath.Glob(filepath.Join("testdata", "batch", "*.hl7"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no batch files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hl7")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !IsFile(raw) {
				t.Errorf("IsFile = false; want true")
			}
			f, err := SplitFile(raw)
			var g goldenFile
			if err != nil {
				g.Error = toGolden(nil, parseFailure(err)).Error
			} else {
				g = goldenOf(t, f, tr, at)
			}
			b, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, filepath.Join("testdata", "golden-batch", name+".json"), append(b, '\n'))
		})
	}
}

func goldenOf(t *testing.T, f *File, tr *Translator, at time.Time) goldenFile {
	t.Helper()
	g := goldenFile{Header: f.Header.Field(11).String()}
	for _, b := range f.Batches {
		g.Batches = append(g.Batches, goldenBatch{ControlID: b.Header.Field(11).String(), Messages: len(b.Messages), Problem: b.Problem()})
	}
	var acks [][]byte
	for _, msg := range f.Messages() {
		got, err := tr.Translate(msg)
		checkTranslation(t, got, err)
		g.Messages = append(g.Messages, toGolden(got, err))
		m, perr := Parse(msg)
		if perr != nil {
			acks = append(acks, AckOptions{Time: at}.AckForUnparsable(msg, ""))
			continue
		}
		code := "AA"
		if err != nil {
			code = "AE"
		}
		if !WantsAck(m, code) {
			acks = append(acks, nil)
			continue
		}
		acks = append(acks, AckOptions{Time: at}.Ack(m, code))
	}
	ack := BatchAck(f, acks, at)
	g.Ack = strings.Split(strings.TrimSuffix(string(ack), "\r"), "\r")
	return g
}

func TestSplitFile(t *testing.T) {
	msg := func(id string) string {
		return "MSH|^~\\&|EPJ|AUH|STAFET|STAFET|20260312081502||ADT^A08^ADT_A01|" + id + "|P|2.5\rPID|1||2509479989^^^CPR^NNDNK\r"
	}
	tests := []struct {
		name     string
		in       string
		messages []string // control ids, in order
		batches  int
		err      string // "" for none; "not HL7" for ErrNotHL7
	}{
		{"one message", msg("A"), []string{"A"}, 1, ""},
		{"two messages", msg("A") + msg("B"), []string{"A", "B"}, 1, ""},
		{"blank lines and BOMs between", "\xef\xbb\xbf" + msg("A") + "\r\n \r\n\xef\xbb\xbf" + msg("B"), []string{"A", "B"}, 1, ""},
		{"batch", "BHS|^~\\&|EPJ|AUH\r" + msg("A") + "BTS|1\r", []string{"A"}, 1, ""},
		{"two batches in a file", "FHS|^~\\&\rBHS|^~\\&\r" + msg("A") + "BTS|1\rBHS|^~\\&\r" + msg("B") + "BTS|1\rFTS|2\r", []string{"A", "B"}, 2, ""},
		{"empty batch", "BHS|^~\\&\rBTS|0\r", nil, 1, ""},
		{"BTS without fields", "BHS|^~\\&\r" + msg("A") + "BTS\rFTS\r", []string{"A"}, 1, ""},
		{"other delimiters", "BHS#*~\\&#EPJ\rMSH#*~\\&#EPJ#AUH#####ADT*A08#C#P#2.5\rBTS#1\r", []string{"C"}, 1, ""},
		{"not HL7", "hello", nil, 0, "not HL7"},
		{"segments before any message", "BHS|^~\\&\rPID|1\r" + msg("A"), nil, 0, "outside a message"},
		{"FHS not first", msg("A") + "FHS|^~\\&\r", nil, 0, "FHS must come first"},
		{"segment after FTS", "FHS|^~\\&\r" + msg("A") + "FTS|1\r" + msg("B"), nil, 0, "after FTS"},
		{"two FTS", "FHS|^~\\&\r" + msg("A") + "FTS|1\rFTS|1\r", nil, 0, "second FTS"},
		{"BHS after FTS", "FHS|^~\\&\r" + msg("A") + "FTS|1\rBHS|^~\\&\r", nil, 0, "BHS after FTS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := SplitFile([]byte(tt.in))
			switch {
			case tt.err == "not HL7":
				if !errors.Is(err, ErrNotHL7) {
					t.Fatalf("got %v; want ErrNotHL7", err)
				}
				return
			case tt.err != "":
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tt.err) {
					t.Fatalf("got %v; want a *ParseError saying %q", err, tt.err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if len(f.Batches) != tt.batches {
				t.Errorf("got %d batches; want %d", len(f.Batches), tt.batches)
			}
			var ids []string
			for _, raw := range f.Messages() {
				m, err := Parse(raw)
				if err != nil {
					t.Fatalf("message %q does not parse: %v", raw, err)
				}
				ids = append(ids, m.ControlID())
			}
			if strings.Join(ids, ",") != strings.Join(tt.messages, ",") {
				t.Errorf("got messages %v; want %v", ids, tt.messages)
			}
		})
	}
}

func TestWantsAck(t *testing.T) {
	tests := []struct {
		msh16, code string
		want        bool
	}{
		{"", "AA", true}, {"", "AE", true}, {"AL", "AR", true},
		{"NE", "AA", false}, {"NE", "AE", false},
		{"ER", "AA", false}, {"ER", "AE", true}, {"ER", "AR", true},
		{"SU", "AA", true}, {"SU", "AE", false},
	}
	for _, tt := range tests {
		t.Run(tt.msh16+"/"+tt.code, func(t *testing.T) {
			m, err := Parse([]byte("MSH|^~\\&|A|B|C|D|20260101||ADT^A08|1|P|2.5|||AL|" + tt.msh16 + "\r"))
			if err != nil {
				t.Fatal(err)
			}
			if got := WantsAck(m, tt.code); got != tt.want {
				t.Errorf("got %t; want %t", got, tt.want)
			}
		})
	}
}

// FuzzSplitFile: splitting never panics, every message it returns starts
// with MSH and lies within the input, and a file of one message holds
// exactly what Parse reads.
func FuzzSplitFile(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "batch", "*.hl7"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("FHS|^~\\&\rBHS|^~\\&\rMSH|^~\\&|||||||ADT^A01|1|P|2.5\rBTS|1\rFTS|1\r"))
	f.Add([]byte("\xef\xbb\xbfMSH|^~\\&|x\r\xef\xbb\xbf\rMSH|^~\\&|y\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		file, err := SplitFile(raw)
		if err != nil {
			var pe *ParseError
			if !errors.Is(err, ErrNotHL7) && !errors.As(err, &pe) {
				t.Fatalf("error %T %v; want ErrNotHL7 or a *ParseError", err, err)
			}
			return
		}
		for _, m := range file.Messages() {
			if !bytes.HasPrefix(m, []byte("MSH")) || !bytes.Contains(raw, m) {
				t.Fatalf("message %q does not start with MSH or is not in the input", m)
			}
		}
		_ = BatchAck(file, nil, time.Unix(0, 0))
	})
}
