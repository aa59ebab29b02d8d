package mllp_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// sendRaw writes bytes as they are (framing included) and reads one
// answer.
func (c *client) sendRaw(t testing.TB, raw []byte) []byte {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(raw); err != nil {
		t.Fatal(err)
	}
	b, err := mllp.ReadFrame(c.r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawCount counts the messages in the raw store.
func (e *hl7Env) rawCount(t testing.TB) int {
	t.Helper()
	n := 0
	for seq := uint64(1); ; seq++ {
		if _, err := e.store.Inbox().Message(context.Background(), seq); err != nil {
			return n
		}
		n++
	}
}

// TestHL7BatchOverMLLP sends a batch file in one frame: each message is
// stored and appended on its own, and the answer is the batch
// acknowledgement, with an ACK for each message its sender asked to have
// acknowledged (MSH-16).
func TestHL7BatchOverMLLP(t *testing.T) {
	e := startHL7(t, engine.Config{})
	c := e.dial(t)
	patient, visit := "2509479989", "3000001"
	a08NE := strings.Replace(adt("A08", "B0003", patient, visit, nil), "|P|2.5||||||", "|P|2.5|||AL|NE|||", 1)
	z99ER := strings.Replace(adt("Z99", "B0004", patient, visit, nil), "|P|2.5||||||", "|P|2.5|||AL|ER|||", 1)
	file := "FHS|^~\\&|EPJ|AUH|STAFET|STAFET|20260314110000||||F9\r" +
		"BHS|^~\\&|EPJ|AUH|STAFET|STAFET|20260314110000||||B9\r" +
		adt("A01", "B0001", patient, visit, nil) + adt("A03", "B0002", patient, visit, nil) + a08NE + z99ER +
		"BTS|4\rFTS|1\r"
	before := e.rawCount(t)
	answer := c.sendRaw(t, mllp.Frame([]byte(file)))

	f, err := hl7v2.SplitFile(answer)
	if err != nil {
		t.Fatalf("the answer is not a batch file: %v\n%q", err, answer)
	}
	if len(f.Batches) != 1 || f.Header.Field(12).String() != "F9" || f.Batches[0].Header.Field(12).String() != "B9" {
		t.Errorf("got file reference %q, batch reference %q; want F9, B9", f.Header.Field(12).String(), f.Batches[0].Header.Field(12).String())
	}
	var got []string
	for _, raw := range f.Messages() {
		ack, err := hl7v2.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ack.Get("MSA-2")+" "+ack.Get("MSA-1"))
	}
	// B0003 asked for no ACK (NE), B0004 for ACKs of errors only (ER).
	if want := []string{"B0001 AA", "B0002 AA", "B0004 AE"}; !slices.Equal(got, want) {
		t.Errorf("got ACKs %v; want %v", got, want)
	}
	if n, ok := f.Batches[0].Declared(); !ok || n != 3 {
		t.Errorf("BTS-1 = %d, %t; want 3 ACKs counted", n, ok)
	}
	if got := e.rawCount(t) - before; got != 4 {
		t.Errorf("stored %d raw messages; want each of the 4 on its own", got)
	}
	if got, want := e.history(t, patient, visit), []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted, events.TypePatientDischarged}; !slices.Equal(got, want) {
		t.Errorf("got %v; want %v", got, want)
	}

	t.Run("the same batch again is answered the same and appended once", func(t *testing.T) {
		again := c.sendRaw(t, mllp.Frame([]byte(file)))
		f2, err := hl7v2.SplitFile(again)
		if err != nil || len(f2.Messages()) != 3 {
			t.Fatalf("got %q, %v; want three ACKs again", again, err)
		}
		if got := e.history(t, patient, visit); len(got) != 3 {
			t.Errorf("got %v; want nothing appended twice", got)
		}
	})
}

// TestHL7FramingTolerance: byte order marks and white space between
// frames, a byte order mark inside a frame before MSH, and a frame with
// no message in it (what mllp_send --loose makes of a file's byte order
// mark: "MSH|^~\&|" and the mark) are all taken in stride.
func TestHL7FramingTolerance(t *testing.T) {
	e := startHL7(t, engine.Config{})
	c := e.dial(t)
	bom := []byte("\xef\xbb\xbf")

	t.Run("an empty frame is AA and stores nothing", func(t *testing.T) {
		before := e.rawCount(t)
		for _, frame := range [][]byte{append([]byte("MSH|^~\\&|"), bom...), bom, []byte(" \r\n"), append(bom, "MSH|^~\\&\r\n"...)} {
			ack, err := hl7v2.Parse(c.sendRaw(t, mllp.Frame(frame)))
			if err != nil {
				t.Fatal(err)
			}
			if got := ack.Get("MSA-1"); got != "AA" || !strings.Contains(ack.Get("MSA-3"), "empty frame") {
				t.Errorf("frame %q: got %s %q; want AA saying it is empty", frame, got, ack.Get("MSA-3"))
			}
			if got := ack.Get("MSH-5"); bytes.Contains([]byte(got), bom) {
				t.Errorf("MSH-5 = %q; want no byte order mark echoed", got)
			}
		}
		if got := e.rawCount(t) - before; got != 0 {
			t.Errorf("stored %d raw messages; want none", got)
		}
	})
	t.Run("marks and white space between frames and before MSH", func(t *testing.T) {
		var wire []byte
		wire = append(wire, bom...)
		wire = append(wire, "\r\n  \t"...)
		wire = append(wire, mllp.Frame(append(bom, adt("A01", "T0001", "0102030405", "4000001", nil)...))...)
		wire = append(wire, "\r\n"...)
		wire = append(wire, bom...)
		first := c.sendRaw(t, wire)
		second := c.sendRaw(t, append([]byte(" \n"), mllp.Frame([]byte(adt("A03", "T0002", "0102030405", "4000001", nil)))...))
		for i, raw := range [][]byte{first, second} {
			ack, err := hl7v2.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			wantAck(t, ack, "AA", []string{"T0001", "T0002"}[i])
		}
	})
}
