package engine_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/natstest"
)

func TestRawStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, engine.Config{DataDir: dir})
	ctx := context.Background()
	body := []byte("MSH|^~\\&|PAS|SOR6620000000001|||20261102080000||ADT^A01|MSG00001|P|2.5\rPID|||0102030405^^^^CPR")
	m := engine.RawMessage{System: "hl7v2", Sender: "PAS^SOR6620000000001", ControlID: "MSG00001", Body: body}
	first, err := s.Inbox().Store(ctx, m)
	if err != nil || first.Duplicate {
		t.Fatalf("got %+v, %v; want a new raw message", first, err)
	}
	again, err := s.Inbox().Store(ctx, m)
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Errorf("resend: got %+v, %v; want duplicate of %d", again, err, first.Seq)
	}
	got, err := s.Inbox().Message(ctx, first.Seq)
	if err != nil || !bytes.Equal(got.Body, body) || got.ControlID != "MSG00001" {
		t.Errorf("read back: got %q, %v", got.Body, err)
	}
	// The body is sealed at rest: the CPR number is not in the stored bytes.
	st, _ := natstest.JetStream(t, s.NATS().Conn()).Stream(ctx, engine.RawStream)
	sm, err := st.GetMsg(ctx, first.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sm.Data, []byte("0102030405")) || bytes.Contains([]byte(sm.Subject), []byte("MSG00001")) {
		t.Errorf("raw message stored in clear: subject %s", sm.Subject)
	}
	s.Close()
	s2 := openStore(t, engine.Config{DataDir: dir})
	if again, err := s2.Inbox().Store(ctx, m); err != nil || !again.Duplicate {
		t.Errorf("resend after restart: got %+v, %v; want duplicate", again, err)
	}
}

func TestDeadLetters(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	for _, seq := range []uint64{7, 3} {
		if err := s.Inbox().PutDeadLetter(ctx, engine.DeadLetter{RawSeq: seq, System: "hl7v2", Code: "unknown-organisation", Field: "MSH-4", Reason: "no such SOR code"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Inbox().PutDeadLetter(ctx, engine.DeadLetter{RawSeq: 7, System: "hl7v2", Code: "unknown-organisation", Reason: "still unknown"})
	list, err := s.Inbox().DeadLetters(ctx)
	if err != nil || len(list) != 2 || list[0].RawSeq != 3 || list[1].Retries != 1 {
		t.Fatalf("got %+v, %v; want seqs 3, 7 with 7 retried once", list, err)
	}
	if err := s.Inbox().ResolveDeadLetter(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Inbox().DeadLetter(ctx, 3); !errors.Is(err, engine.ErrNoDeadLetter) {
		t.Errorf("after resolving: got %v; want ErrNoDeadLetter", err)
	}
}

func TestResolvePathway(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	ref := patient(t, "0102030405")
	// Ten messages for a new patient at once reserve one pathway.
	ids := make([]uuid.UUID, 10)
	news := make([]bool, 10)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Index().Resolve(ctx, ref, "stay-1")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], news[i] = r.Pathway, r.New
		}()
	}
	wg.Wait()
	created := 0
	for i := range ids {
		if ids[i] != ids[0] {
			t.Errorf("got pathways %s and %s; want one", ids[i], ids[0])
		}
		if news[i] {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d callers were told to open the pathway; want 1", created)
	}
	other := patient(t, "2509479989")
	if r, err := s.Index().Resolve(ctx, other, "stay-1"); err != nil || r.Pathway != ids[0] || r.New {
		t.Errorf("by episode: got %+v, %v; want %s, not new", r, err, ids[0])
	}
	if err := s.Index().ReleasePatient(ctx, ref, ids[0]); err != nil {
		t.Fatal(err)
	}
	r, err := s.Index().Resolve(ctx, ref, "")
	if err != nil || r.Pathway == ids[0] || !r.New || r.Previous != ids[0] {
		t.Errorf("after release: got %+v, %v; want a new pathway following %s", r, err, ids[0])
	}
	if again, err := s.Index().Resolve(ctx, ref, ""); err != nil || again.Pathway != r.Pathway || again.New {
		t.Errorf("next message: got %+v, %v; want the new pathway %s", again, err, r.Pathway)
	}
}
