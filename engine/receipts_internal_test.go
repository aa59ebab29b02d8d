package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestReceiptsBatched: receipts noted together are written in a few
// messages, not one each; the index reads those batches and the single
// receipts earlier releases wrote (and backfills still write) alike; and
// Close writes the receipts still waiting for their batch.
func TestReceiptsBatched(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	const n = 300
	for i := range n {
		s.inbox.note(Receipt{RawSeq: uint64(i + 1), System: "line", Sender: "PAS", ControlID: fmt.Sprint("c", i), Answer: AnswerAccepted})
	}
	// One receipt as earlier releases wrote every receipt: alone, a JSON
	// object, under its sender's subject.
	old, _ := json.Marshal(Receipt{RawSeq: n + 1, System: "line", Sender: "OLD", ControlID: "old", Answer: AnswerError, Code: "parse"})
	if err := s.nc.PublishMsg(&nats.Msg{Subject: receiptSubject("line", "OLD"), Data: old}); err != nil {
		t.Fatal(err)
	}
	// The last receipt waits for its batch's timer; Close writes it.
	s.inbox.note(Receipt{RawSeq: n + 2, System: "line", Sender: "PAS", ControlID: "last", Answer: AnswerAccepted})
	s.Close()

	s, err = Open(ctx, Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.inbox.receipts.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Msgs; got > n/10 {
		t.Errorf("%d receipts written in %d messages; want batches", n+2, got)
	}
	x := s.inbox.NewReceiptIndex()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-x.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("index not ready in 10 s")
	}
	if x.Len() != n+2 {
		t.Errorf("the index holds %d receipts; want %d", x.Len(), n+2)
	}
	if r, ok := x.Receipt(n + 1); !ok || r.Sender != "OLD" || r.Code != "parse" {
		t.Errorf("the single receipt: %+v, %v", r, ok)
	}
	if r, ok := x.Receipt(n + 2); !ok || r.ControlID != "last" || r.Backfilled {
		t.Errorf("the receipt Close wrote: %+v, %v; want it as noted, not made again", r, ok)
	}
	t.Logf("%d receipts in %d messages", n+2, info.State.Msgs)
}

func TestDecodeReceipts(t *testing.T) {
	for _, c := range []struct {
		name, data string
		want       []uint64
	}{
		{"one", `{"raw_seq":7,"answer":"AA"}`, []uint64{7}},
		{"a batch", `[{"raw_seq":7},{"raw_seq":9}]`, []uint64{7, 9}},
		{"a batch after white space", " \n[{\"raw_seq\":3}]", []uint64{3}},
		{"an empty batch", `[]`, nil},
		{"not JSON", `raw_seq=7`, nil},
		{"a broken batch", `[{"raw_seq":7},`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var got []uint64
			for _, r := range decodeReceipts([]byte(c.data)) {
				got = append(got, r.RawSeq)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("got %v; want %v", got, c.want)
			}
		})
	}
}

// TestReceiptsOverMaxPayload: a batch larger than the server takes is
// written in parts, every receipt stored.
func TestReceiptsOverMaxPayload(t *testing.T) {
	ctx := context.Background()
	s, _ := openLogged(ctx, t)
	long := strings.Repeat("x", 16<<10)
	var rs []Receipt
	for i := range 100 { // about 1.6 MB encoded, over the 1 MiB default
		rs = append(rs, Receipt{RawSeq: uint64(i + 1), System: "line", Sender: "PAS", ControlID: long, Answer: AnswerAccepted})
	}
	s.inbox.writeReceipts(rs)
	if n := s.inbox.ReceiptsUnwritten(); n != 0 {
		t.Fatalf("%d receipts unwritten; want none", n)
	}
	waitFor(t, func() bool {
		info, err := s.inbox.receipts.Info(ctx)
		return err == nil && info.State.Msgs >= 2 && info.State.Bytes > 1<<20
	})
}

// TestReceiptsUnwrittenSaid: receipts that could not be sent are counted
// and said in the health report, not only logged.
func TestReceiptsUnwrittenSaid(t *testing.T) {
	ctx := context.Background()
	s, _ := openLogged(ctx, t)
	m := s.NewMonitor(nil, MonitorOptions{})
	s.nc.Close()
	s.inbox.writeReceipts([]Receipt{{RawSeq: 1}, {RawSeq: 2}})
	if n := s.inbox.ReceiptsUnwritten(); n != 2 {
		t.Errorf("%d receipts counted unwritten; want 2", n)
	}
	said := false
	for _, r := range m.Health().Reasons {
		said = said || r.Code == ReasonReceiptsUnwritten
	}
	if !said {
		t.Errorf("health reasons %+v; want %s", m.Health().Reasons, ReasonReceiptsUnwritten)
	}
}
