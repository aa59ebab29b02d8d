package engine

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestAckPosition(t *testing.T) {
	tests := []struct {
		name, reply  string
		seq, pending uint64
		ok           bool
	}{
		{"old form", "$JS.ACK.STAFET_EVENTS.c1.1.42.40.1700000000000000000.7", 42, 7, true},
		{"new form", "$JS.ACK._.acchash.STAFET_EVENTS.c1.1.42.40.1700000000000000000.7.tok", 42, 7, true},
		{"new form without the token", "$JS.ACK.dom.acchash.STAFET_EVENTS.c1.1.42.40.1700000000000000000.7", 42, 7, true},
		{"new form with more tokens", "$JS.ACK.dom.acchash.S.c1.1.42.40.17.7.tok.more", 42, 7, true},
		{"ten tokens", "$JS.ACK.x.S.c1.1.42.40.17.7", 0, 0, false},
		{"too short", "$JS.ACK.S.c1.1.42.40.17", 0, 0, false},
		{"not a number", "$JS.ACK.S.c1.1.4x.40.17.7", 0, 0, false},
		{"empty pending", "$JS.ACK.S.c1.1.42.40.17.", 0, 0, false},
		{"not an ack", "_INBOX.abc", 0, 0, false},
		{"empty", "", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, pending, ok := ackPosition(tt.reply)
			if seq != tt.seq || pending != tt.pending || ok != tt.ok {
				t.Errorf("got %d, %d, %v; want %d, %d, %v", seq, pending, ok, tt.seq, tt.pending, tt.ok)
			}
			// Every reply above that parses delivered its message 40th.
			if _, dseq, _, ok := ackFields(tt.reply); ok && dseq != 40 {
				t.Errorf("delivery sequence %d; want 40", dseq)
			}
		})
	}
}

// TestAckPositionAgreesWithMetadata reads real messages from the embedded
// server: ackPosition must read what Metadata reads.
func TestAckPositionAgreesWithMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Durability: Bulk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const n = 5
	for i := range n {
		if _, err := s.js.Publish(ctx, "stafet.ev.x.p"+string(rune('a'+i)), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := s.Log().stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{EventSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		seq, pending, ok := ackPosition(m.Reply())
		if !ok || seq != md.Sequence.Stream || pending != md.NumPending {
			t.Errorf("message %d: got %d, %d, %v from %q; want %d, %d as Metadata reads it", i, seq, pending, ok, m.Reply(), md.Sequence.Stream, md.NumPending)
		}
		if at := ackTime(m.Reply()); !at.Equal(md.Timestamp) {
			t.Errorf("message %d: got stored time %v from %q; want %v as Metadata reads it", i, at, m.Reply(), md.Timestamp)
		}
	}
}

// ackFields reads what the documented token layout says, for any reply
// subject a server (or anyone publishing into the replay's inbox) sends.
func FuzzAckFields(f *testing.F) {
	f.Add("$JS.ACK.STAFET_EVENTS.c1.1.42.40.1700000000000000000.7")
	f.Add("$JS.ACK._.acchash.STAFET_EVENTS.c1.1.42.40.1700000000000000000.7.tok")
	f.Add("$JS.ACK.S.c1.1.4x.40.17.7")
	f.Add("$JS.ACK........")
	f.Add("_INBOX.abc")
	f.Fuzz(func(t *testing.T, reply string) {
		seq, dseq, pending, ok := ackFields(reply)
		wseq, wdseq, wpending, wok := ackFieldsBySplit(reply)
		if seq != wseq || dseq != wdseq || pending != wpending || ok != wok {
			t.Fatalf("%q: got %d, %d, %d, %v; want %d, %d, %d, %v", reply, seq, dseq, pending, ok, wseq, wdseq, wpending, wok)
		}
		_ = ackTime(reply)
	})
}

// ackFieldsBySplit is ackFields written the plain way.
func ackFieldsBySplit(reply string) (seq, dseq, pending uint64, ok bool) {
	tokens := strings.Split(reply, ".")
	if len(tokens) < 2 || tokens[0] != "$JS" || tokens[1] != "ACK" {
		return 0, 0, 0, false
	}
	var at int
	switch n := len(tokens); {
	case n == 9:
		at = 5
	case n >= 11:
		at = 7
	default:
		return 0, 0, 0, false
	}
	seq, err1 := strconv.ParseUint(tokens[at], 10, 64)
	dseq, err2 := strconv.ParseUint(tokens[at+1], 10, 64)
	pending, err3 := strconv.ParseUint(tokens[at+3], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	return seq, dseq, pending, true
}
