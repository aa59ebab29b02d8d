package engine_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/natstest"
)

// runIndex runs a receipt index of s until the test ends, and waits until
// it is ready.
func runIndex(t *testing.T, s *engine.Store) *engine.ReceiptIndex {
	t.Helper()
	x := s.Inbox().NewReceiptIndex()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-x.Ready():
	case err := <-done:
		t.Fatalf("index stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("index not ready in 10s")
	}
	return x
}

// waitFor waits until the index holds n messages and cond holds.
func waitFor(t *testing.T, x *engine.ReceiptIndex, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

func seqs(rs []engine.Receipt) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.RawSeq)
	}
	return out
}

// TestReceipts sends messages through the intake and searches them in the
// receipt index the way the message browser does, without opening a
// sealed body; then a dead letter is replayed after a fix, and a store
// whose receipts are missing gets them from its raw messages.
func TestReceipts(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	x := runIndex(t, s)
	send := func(sender, id, body string) engine.Outcome {
		t.Helper()
		out, _ := in.Receive(ctx, engine.RawMessage{System: "line", Sender: sender, ControlID: id, Body: []byte(body)})
		if out.RawSeq == 0 {
			t.Fatalf("%s not stored", id)
		}
		return out
	}
	admit := send("EPJ^AUH", "AUH-1", "0101504321|E-1|admit")
	bad := send("EPJ^AUH", "AUH-2", "0101504321|E-1|transfer")
	junk := send("EPJ^XYZ", "XYZ-1", "junk")
	send("EPJ^AUH", "AUH-1", "0101504321|E-1|admit") // a resend
	other := send("EPJ^AUH", "AUH-3", "0202604321|E-2|admit")
	waitFor(t, x, "4 messages and 5 answers", func() bool {
		c := x.Senders("")
		return x.Len() == 4 && len(c) == 2 && c[0].Answers["AA"]+c[1].Answers["AA"] == 3
	})
	t.Run("search", func(t *testing.T) {
		for _, c := range []struct {
			name string
			q    engine.ReceiptQuery
			want []uint64
		}{
			{"everything, newest first", engine.ReceiptQuery{}, []uint64{other.RawSeq, junk.RawSeq, bad.RawSeq, admit.RawSeq}},
			{"by sender, part of it in any case", engine.ReceiptQuery{Sender: "auh"}, []uint64{other.RawSeq, bad.RawSeq, admit.RawSeq}},
			{"by channel", engine.ReceiptQuery{System: "hl7v2"}, nil},
			{"by control id's beginning", engine.ReceiptQuery{ControlID: "AUH-"}, []uint64{other.RawSeq, bad.RawSeq, admit.RawSeq}},
			{"dead letters", engine.ReceiptQuery{Dead: true}, []uint64{junk.RawSeq, bad.RawSeq}},
			{"by error code", engine.ReceiptQuery{Code: "unknown-trigger"}, []uint64{bad.RawSeq}},
			{"by answer", engine.ReceiptQuery{Answer: "AR"}, []uint64{junk.RawSeq}},
			{"by episode, in clear", engine.ReceiptQuery{Episode: "E-1"}, []uint64{admit.RawSeq}},
			{"by pathway", engine.ReceiptQuery{Pathway: other.Pathway}, []uint64{other.RawSeq}},
			{"by the sending organisation", engine.ReceiptQuery{Org: hospital}, []uint64{other.RawSeq, bad.RawSeq, admit.RawSeq}},
			{"by time", engine.ReceiptQuery{From: time.Now().Add(time.Hour)}, nil},
			{"a page", engine.ReceiptQuery{Limit: 2}, []uint64{other.RawSeq, junk.RawSeq}},
			{"the next page", engine.ReceiptQuery{Limit: 2, Before: junk.RawSeq}, []uint64{bad.RawSeq, admit.RawSeq}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, _ := x.Search(c.q)
				if !slices.Equal(seqs(got), c.want) {
					t.Errorf("got %v; want %v", seqs(got), c.want)
				}
			})
		}
		if r, _ := x.Receipt(bad.RawSeq); r.Answer != "AE" || r.Field != "VERB" || r.ControlID != "AUH-2" {
			t.Errorf("the dead letter's receipt: %+v", r)
		}
	})
	t.Run("counters per channel and sender", func(t *testing.T) {
		got := map[string]string{}
		for _, c := range x.Senders("") {
			got[c.Sender] = fmt.Sprintf("org %s received %d AA %d AE %d AR %d dead %d", c.Org, c.Received, c.Answers["AA"], c.Answers["AE"], c.Answers["AR"], c.Dead)
		}
		want := map[string]string{
			"EPJ^AUH": "org sor:6620000000001 received 3 AA 3 AE 1 AR 0 dead 1",
			"EPJ^XYZ": "org  received 1 AA 0 AE 0 AR 1 dead 1",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s; want %s", k, got[k], w)
			}
		}
		if own := x.Senders(hospital); len(own) != 1 || own[0].Sender != "EPJ^AUH" {
			t.Errorf("the hospital's own senders: %+v", own)
		}
	})
	t.Run("a replay after a fix leaves the dead letters", func(t *testing.T) {
		fixed := "0101504321|E-1|discharge"
		out, err := in.Replay(ctx, bad.RawSeq, []byte(fixed))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, x, "the replay's receipts", func() bool {
			r, ok := x.Receipt(bad.RawSeq)
			return ok && r.ResolvedBy == out.RawSeq
		})
		dead, _ := x.Search(engine.ReceiptQuery{Dead: true})
		if !slices.Equal(seqs(dead), []uint64{junk.RawSeq}) {
			t.Errorf("dead letters after the replay: %v; want only %d", seqs(dead), junk.RawSeq)
		}
		if r, _ := x.Receipt(out.RawSeq); r.Replaces != bad.RawSeq || r.Answer != "AA" {
			t.Errorf("the corrected body's receipt: %+v", r)
		}
	})
	t.Run("missing receipts are made from the raw messages", func(t *testing.T) {
		// Stored raw with no receipt: as a store from before receipts, or
		// one whose receipt a crash lost.
		st, err := s.Inbox().Store(ctx, engine.RawMessage{System: "line", Sender: "EPJ^AUH", ControlID: "AUH-9", Body: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Inbox().PutDeadLetter(ctx, engine.DeadLetter{RawSeq: st.Seq, System: "line", Code: "parse", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
		y := runIndex(t, s)
		r, ok := y.Receipt(st.Seq)
		if !ok || !r.Backfilled || r.Answer != "AE" || r.Code != "parse" || r.ControlID != "AUH-9" {
			t.Errorf("the made receipt: %+v, %v", r, ok)
		}
		if y.Len() != x.Len()+1 {
			t.Errorf("a new index holds %d messages; want the first's %d and the one made", y.Len(), x.Len())
		}
		// The first index takes it from the stream too, once.
		waitFor(t, x, "the made receipt", func() bool { _, ok := x.Receipt(st.Seq); return ok })
		for _, c := range x.Senders("") {
			if c.Sender == "EPJ^AUH" && (c.Received != 5 || c.Answers["AE"] != 1) {
				t.Errorf("counters after the made receipt: %+v; want 5 received and no answer counted for it", c)
			}
		}
	})
}

// TestReceiptUnacknowledged: a receipt costs no answer from the server,
// and the receipts of messages answered close together share one write.
// A message that means nothing for a pathway, for a patient the store
// knows, is two publishes (the key's read, the raw message) and two
// answers (the key, the raw message's acknowledgement), besides its share
// of a receipts write; and its receipt is stored all the same.
func TestReceiptUnacknowledged(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	x := runIndex(t, s)
	must(in.Receive(ctx, msg("u0", "0102030405|E1|admit")))
	waitFor(t, x, "the first receipt", func() bool { return x.Len() == 1 })
	nc := s.NATS().Conn()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	stream, err := natstest.JetStream(t, nc).Stream(ctx, engine.ReceiptStream)
	if err != nil {
		t.Fatal(err)
	}
	written := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	const n = 20
	before, writes := nc.Stats(), written()
	for i := range n {
		must(in.Receive(ctx, msg(fmt.Sprintf("u%d", i+1), "0102030405|E1|noop")))
	}
	waitFor(t, x, "every receipt", func() bool { return x.Len() == n+1 })
	after := nc.Stats()
	writes = written() - writes
	// The receipts' writes are publishes too, and the receipt index's
	// own subscription delivers each of them: not the intake's answers.
	pubs := (after.OutMsgs - before.OutMsgs - writes) / n
	answers := (after.InMsgs - before.InMsgs - writes) / n
	if pubs != 2 || answers != 2 {
		t.Errorf("per message: got %d publishes and %d answers besides the receipts; want 2 and 2", pubs, answers)
	}
	if writes == 0 || writes > n {
		t.Errorf("%d receipts written in %d messages; want 1 to %d", n, writes, n)
	}
	t.Logf("%d receipts in %d writes", n, writes)
}
