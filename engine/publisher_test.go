package engine

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openConn opens a store on the embedded server for the test and
// returns its connection handle.
func openConn(t *testing.T) *conn {
	t.Helper()
	store, err := Open(context.Background(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store.conn
}

// TestPublisherAnswers sends through the publisher to a real server and
// checks each kind of answer reaches its sender as nats.go's publisher
// gave it: where the message went, a duplicate, an expectation the server
// refused (with its error code), and no stream at all.
func TestPublisherAnswers(t *testing.T) {
	ctx := context.Background()
	c := openConn(t)
	if _, err := c.js.CreateStream(ctx, jetstream.StreamConfig{Name: "PUBTEST", Subjects: []string{"pubtest.>"}, Duplicates: time.Minute}); err != nil {
		t.Fatal(err)
	}
	msg := func(subject string) *nats.Msg { return &nats.Msg{Subject: subject, Data: []byte("x")} }

	ack, err := c.publishStored(ctx, msg("pubtest.a"), expectSubjectSeq(0), withMsgID("m1"))
	if err != nil || ack.Stream != "PUBTEST" || ack.Sequence != 1 || ack.Duplicate {
		t.Fatalf("first publish: %+v, %v; want PUBTEST seq 1", ack, err)
	}
	ack, err = c.publishStored(ctx, msg("pubtest.b"), withMsgID("m1"))
	if err != nil || ack.Sequence != 1 || !ack.Duplicate {
		t.Errorf("same message id: %+v, %v; want a duplicate of seq 1", ack, err)
	}
	_, err = c.publishStored(ctx, msg("pubtest.a"), expectSubjectSeq(0))
	var apiErr *jetstream.APIError
	if !isWrongLastSeq(err) || !errors.As(err, &apiErr) || apiErr.Code != 400 {
		t.Errorf("second message on pubtest.a expecting none: %v; want the server's wrong-last-sequence error", err)
	}
	if _, err := c.publishStored(ctx, msg("pubtest.c"), expectFilterSeq(0, "pubtest.>")); !isWrongLastSeq(err) {
		t.Errorf("expecting nothing on pubtest.>: %v; want wrong last sequence", err)
	}
	ack, err = c.publishStored(ctx, msg("pubtest.c"), expectFilterSeq(1, "pubtest.>"), expectSeq(1))
	if err != nil || ack.Sequence != 2 {
		t.Errorf("expecting seq 1: %+v, %v; want seq 2", ack, err)
	}

	w, err := c.pub.send(msg("nostream.here"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.result(ctx); !errors.Is(err, jetstream.ErrNoStreamResponse) {
		t.Errorf("no stream: %v; want %v", err, jetstream.ErrNoStreamResponse)
	}
	waitFor(t, func() bool { return c.pub.inFlight() == 0 })
}

// TestPublisherGivesRoomBack checks that a sender who stops waiting gives
// its slot back at once, and that a late answer to it is ignored: else a
// server that stops answering for a while would leave the publisher
// stalled after it answers again.
func TestPublisherGivesRoomBack(t *testing.T) {
	ctx := context.Background()
	c := openConn(t)
	// A subscriber that never answers stands for a stalled server.
	sub, err := c.nc.SubscribeSync("silent.>")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	w, err := c.pub.send(&nats.Msg{Subject: "silent.a", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := w.result(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered: %v; want the context's deadline", err)
	}
	if n := c.pub.inFlight(); n != 0 {
		t.Errorf("%d in flight after the sender gave up; want 0", n)
	}
	if len(c.pub.room) != 0 {
		t.Errorf("%d slots taken after the sender gave up; want 0", len(c.pub.room))
	}
	select {
	case <-c.pub.complete():
	default:
		t.Error("complete not closed with nothing in flight")
	}
	// Its late answer changes nothing.
	got, err := sub.NextMsg(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Respond([]byte(`{"stream":"X","seq":9}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if len(c.pub.room) != 0 || w.ack != nil {
		t.Errorf("late answer taken: room %d, ack %+v", len(c.pub.room), w.ack)
	}
}

// TestPublisherFailsWaitsWhenClosed: a connection lost with messages in
// flight fails their waits (their answers are lost with it) and tells
// publisher.failed of those nobody waits for.
func TestPublisherFailsWaitsWhenClosed(t *testing.T) {
	ctx := context.Background()
	c := openConn(t)
	nc, err := connect(c.cfg, c.ns, c.userKey)
	if err != nil {
		t.Fatal(err)
	}
	failed := make(chan error, 1)
	p, err := newPublisher(nc, func(_ *nats.Msg, err error) { failed <- err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nc.SubscribeSync("silent.>"); err != nil {
		t.Fatal(err)
	}
	// The subscriber is on another connection: the server must have its
	// interest before the publishes, or it answers them "no responders".
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	w, err := p.send(&nats.Msg{Subject: "silent.a", Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.forget(&nats.Msg{Subject: "silent.b", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := w.result(ctx); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("waiting at close: %v; want %v", err, nats.ErrConnectionClosed)
	}
	select {
	case err := <-failed:
		if !errors.Is(err, nats.ErrConnectionClosed) {
			t.Errorf("failed with %v; want %v", err, nats.ErrConnectionClosed)
		}
	case <-time.After(5 * time.Second):
		t.Error("the forgotten message's loss was not told")
	}
	if p.inFlight() != 0 || len(p.room) != 0 {
		t.Errorf("after close: %d in flight, %d slots; want 0", p.inFlight(), len(p.room))
	}
}

func TestParseAck(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *jetstream.PubAck
	}{
		{`{"stream":"EVENTS","seq":42}`, &jetstream.PubAck{Stream: "EVENTS", Sequence: 42}},
		{`{"stream":"KV_idem","seq":7,"duplicate":true}`, &jetstream.PubAck{Stream: "KV_idem", Sequence: 7, Duplicate: true}},
		{`{"stream":"EVENTS","domain":"hub","seq":18446744073709551615}`, &jetstream.PubAck{Stream: "EVENTS", Domain: "hub", Sequence: 1<<64 - 1}},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"EVENTS","seq":0}`, nil},
		{`{"stream":"EVENTS","seq":1,"batch":"b"}`, nil}, // declined: not what it knows
		{`{"stream":"EVENTS","seq":01}`, nil},
		{`{"stream":"EVENTS"}`, nil},
		{`{"stream":"a,b","seq":1}`, nil},
		{`{"stream":"EVENTS","seq":1,"duplicate":false}`, nil},
	} {
		got, ok := parseAck([]byte(tc.in))
		if (tc.want == nil) != !ok || (ok && *got != *tc.want) {
			t.Errorf("parseAck(%s) = %+v, %v; want %+v", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzParseAck holds the hand-written parser to encoding/json: whatever
// it accepts, it reads as encoding/json reads a PubAck.
func FuzzParseAck(f *testing.F) {
	for _, s := range []string{
		`{"stream":"EVENTS","seq":42}`, `{"stream":"KV_idem","seq":7,"duplicate":true}`,
		`{"stream":"E","domain":"d","seq":0}`, `{"error":{"code":503},"stream":"E","seq":1}`,
		`{"seq":1,"stream":"E"}`, `{"Stream":"E","seq":1}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseAck(b)
		if !ok {
			return
		}
		var want struct {
			Error *jetstream.APIError `json:"error,omitempty"`
			*jetstream.PubAck
		}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("parseAck took %q, which encoding/json refuses: %v", b, err)
		}
		if want.Error != nil || want.PubAck == nil || *want.PubAck != *got {
			t.Fatalf("parseAck(%q) = %+v; encoding/json reads %+v (error %v)", b, got, want.PubAck, want.Error)
		}
	})
}

// TestPublisherReadsKV reads bucket values by the publisher's Direct Get
// as KeyValue.Get reads them: a value, its update, a key never written
// and a deleted one, and a stream without Direct Get refused.
func TestPublisherReadsKV(t *testing.T) {
	ctx := context.Background()
	c := openConn(t)
	kv, err := c.bucket(ctx, "PUBTEST", "test", 1)
	if err != nil {
		t.Fatal(err)
	}
	var rev uint64
	get := func(key string) (string, error) {
		v, r, err := c.pub.kvValue(ctx, "PUBTEST", key)
		rev = r
		return string(v), err
	}
	if _, err := kv.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	want, err := kv.Put(ctx, "a", []byte("2"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := get("a"); v != "2" || rev != want || err != nil {
		t.Errorf("a = %q, revision %d, %v; want 2, revision %d", v, rev, err, want)
	}
	if _, err := get("never"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("never written: %v; want %v", err, jetstream.ErrKeyNotFound)
	}
	if err := kv.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := get("a"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("deleted: %v; want %v", err, jetstream.ErrKeyNotFound)
	}
	if _, err := c.pub.directGet(ctx, EventStream, "pathway.x"); err == nil {
		t.Error("Direct Get on the event stream, which does not allow it, answered")
	}
}

// TestPublisherDirectGetWaitsForResponders: a Direct Get that finds no
// responders (a stream of three replicas catching up or electing; here
// a stream that allows Direct Get only a moment after the read began) is
// asked again, and answers once the stream does; with none at all it
// gives up with nats.ErrNoResponders in a few seconds.
func TestPublisherDirectGetWaitsForResponders(t *testing.T) {
	ctx := context.Background()
	c := openConn(t)
	cfg := jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}}
	if _, err := c.js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.js.Publish(ctx, "late.x", []byte("here")); err != nil {
		t.Fatal(err)
	}
	type answer struct {
		m   *nats.Msg
		err error
	}
	got := make(chan answer, 1)
	go func() {
		m, err := c.pub.lastMsg(ctx, "LATE", "late.x")
		got <- answer{m, err}
	}()
	time.Sleep(3 * directRetryFirst)
	cfg.AllowDirect = true
	if _, err := c.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if a := <-got; a.err != nil || string(a.m.Data) != "here" {
		t.Errorf("a read begun before the stream answered Direct Gets: %v; want the message", a.err)
	}
	start := time.Now()
	if _, err := c.pub.lastMsg(ctx, "NEVER", "never.x"); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("a stream that never comes: %v; want %v", err, nats.ErrNoResponders)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("gave up after %v; want a few seconds", took)
	}
}
