package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// publisher sends messages to JetStream and hands each its acknowledgement.
// All share one wildcard reply subscription, as nats.go's asynchronous
// publisher does; unlike it, the acknowledgement is read by a parser of
// its own (nats.go decodes every one with encoding/json while holding the
// lock every publishing goroutine needs: a tenth of the append path's CPU
// went to its publish and acknowledgement), and a caller that stops
// waiting gives its slot back.
type publisher struct {
	nc     *nats.Conn
	prefix string // reply subjects are prefix + a number
	sub    *nats.Subscription
	status chan nats.Status
	// room bounds the messages awaiting their acknowledgement.
	room chan struct{}
	// failed hears of every publish nobody waits for that was refused or
	// lost with the connection (publisher.forget).
	failed func(m *nats.Msg, err error)

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]*pubWait
	idle    chan struct{} // closed once waiting is empty (publisher.complete)
}

// pubWait is one message awaiting its acknowledgement.
type pubWait struct {
	p    *publisher
	id   uint64
	msg  *nats.Msg
	done chan struct{} // closed when ack or err is set
	ack  *jetstream.PubAck
	err  error
	// forgotten: nobody waits; a failure goes to publisher.failed.
	forgotten bool
	// raw: the answer is a message (a Direct Get's), kept as it is in
	// reply rather than read as an acknowledgement.
	raw   bool
	reply *nats.Msg
}

// maxInFlight is how many messages may await their acknowledgement at
// once; a publish beyond it waits up to stallWait for room.
const (
	maxInFlight = 4096
	stallWait   = 30 * time.Second
)

// unanswered reports whether err means the server gave no answer (no
// stream took the subject yet, or none came in time): a message whose
// expectations let it land once is then sent again.
func unanswered(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrTimeout)
}

// errStalled is returned when a publish found no room for stallWait: the
// server has stopped acknowledging.
var errStalled = errors.New("engine: too many messages awaiting the server's acknowledgement")

func newPublisher(nc *nats.Conn, failed func(*nats.Msg, error)) (*publisher, error) {
	p := &publisher{
		nc: nc, prefix: nc.NewInbox() + ".", failed: failed,
		room: make(chan struct{}, maxInFlight), waiting: make(map[uint64]*pubWait),
	}
	sub, err := nc.Subscribe(p.prefix+"*", p.answered)
	if err != nil {
		return nil, fmt.Errorf("engine: acknowledgement subscription: %w", err)
	}
	// The subscription's own limits would drop acknowledgements under
	// load and leave their senders waiting; room bounds them instead.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	p.sub = sub
	p.status = nc.StatusChanged(nats.RECONNECTING, nats.CLOSED)
	go p.watch()
	return p, nil
}

// send publishes m and returns its wait; the acknowledgement comes later.
func (p *publisher) send(m *nats.Msg) (*pubWait, error) { return p.sendAs(m, false) }

func (p *publisher) sendAs(m *nats.Msg, raw bool) (*pubWait, error) {
	w, err := p.register(m, raw)
	if err != nil {
		return nil, err
	}
	pm := &nats.Msg{Subject: m.Subject, Reply: p.prefix + strconv.FormatUint(w.id, 10), Header: m.Header, Data: m.Data}
	if err := p.nc.PublishMsg(pm); err != nil {
		w.giveUp()
		return nil, err
	}
	return w, nil
}

// forget publishes m without anyone waiting for it: a refusal goes to
// publisher.failed.
func (p *publisher) forget(m *nats.Msg) error {
	w, err := p.send(m)
	if err != nil {
		return err
	}
	p.mu.Lock()
	waiting := p.waiting[w.id] == w
	w.forgotten = waiting
	p.mu.Unlock()
	if waiting {
		return nil
	}
	// Answered already, or being answered.
	<-w.done
	if w.err != nil {
		p.failed(m, w.err)
	}
	return nil
}

func (p *publisher) register(m *nats.Msg, raw bool) (*pubWait, error) {
	select {
	case p.room <- struct{}{}:
	default:
		t := time.NewTimer(stallWait)
		defer t.Stop()
		select {
		case p.room <- struct{}{}:
		case <-t.C:
			return nil, errStalled
		}
	}
	p.mu.Lock()
	p.next++
	w := &pubWait{p: p, id: p.next, msg: m, done: make(chan struct{}), raw: raw}
	p.waiting[w.id] = w
	p.mu.Unlock()
	return w, nil
}

// answered takes an answer off the reply subscription.
func (p *publisher) answered(m *nats.Msg) {
	id, err := strconv.ParseUint(m.Subject[len(p.prefix):], 10, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	w := p.take(id)
	var forgotten bool
	if w != nil {
		forgotten = w.forgotten
	}
	p.mu.Unlock()
	if w == nil {
		return
	}
	// Read outside the lock every sender needs; the sender reads the
	// answer only once done is closed.
	if w.raw {
		w.reply = m
	} else {
		w.ack, w.err = readAck(m)
	}
	close(w.done)
	if forgotten && w.err != nil {
		p.failed(w.msg, w.err)
	}
}

// take removes a wait from the map and gives its room back; nil if it is
// not there (answered, or given up). Called with mu held.
func (p *publisher) take(id uint64) *pubWait {
	w := p.waiting[id]
	if w == nil {
		return nil
	}
	delete(p.waiting, id)
	<-p.room
	if len(p.waiting) == 0 && p.idle != nil {
		close(p.idle)
		p.idle = nil
	}
	return w
}

// watch fails every wait when the connection is lost: their answers, if
// any, went to a subscription the server no longer has. Their senders
// decide whether to send again, as with nats.go's publisher.
func (p *publisher) watch() {
	for st := range p.status {
		err := nats.ErrDisconnected
		if st == nats.CLOSED {
			err = nats.ErrConnectionClosed
		}
		p.failAll(err)
		if st == nats.CLOSED {
			return
		}
	}
}

func (p *publisher) failAll(err error) {
	p.mu.Lock()
	var lost []*pubWait
	for id := range p.waiting {
		w := p.take(id)
		w.err = err
		close(w.done)
		if w.forgotten {
			lost = append(lost, w)
		}
	}
	p.mu.Unlock()
	for _, w := range lost {
		p.failed(w.msg, err)
	}
}

// complete returns a channel closed once nothing awaits an acknowledgement.
func (p *publisher) complete() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.waiting) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if p.idle == nil {
		p.idle = make(chan struct{})
	}
	return p.idle
}

// inFlight is how many messages await their acknowledgement (for tests).
func (p *publisher) inFlight() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.waiting)
}

// answer reports whether w has been answered, without waiting.
func (w *pubWait) answer() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// result waits at most attemptTimeout for w's answer. Given up, w's
// room is given back at once and a late answer is ignored.
func (w *pubWait) result(ctx context.Context) (*jetstream.PubAck, error) {
	// Usually answered already: the caller did its own work while the
	// message was on its way; no timer needed.
	if !w.answer() {
		t := time.NewTimer(attemptTimeout)
		defer t.Stop()
		select {
		case <-w.done:
		case <-ctx.Done():
			if w.giveUp() {
				return nil, ctx.Err()
			}
			<-w.done
		case <-t.C:
			if w.giveUp() {
				return nil, nats.ErrTimeout
			}
			<-w.done
		}
	}
	return w.ack, w.err
}

// giveUp stops waiting for w unless it has been answered meanwhile, and
// reports whether it stopped.
func (w *pubWait) giveUp() bool {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.take(w.id) != nil
}

// readAck reads a JetStream acknowledgement: an error from the server, or
// where the message was stored. A 503 status with no body means no stream
// took the subject (a cluster electing a leader, or none at all).
func readAck(m *nats.Msg) (*jetstream.PubAck, error) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		return nil, jetstream.ErrNoStreamResponse
	}
	if ack, ok := parseAck(m.Data); ok {
		return ack, nil
	}
	var resp struct {
		Error *jetstream.APIError `json:"error,omitempty"`
		*jetstream.PubAck
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return nil, jetstream.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	if resp.PubAck == nil || resp.Stream == "" {
		return nil, jetstream.ErrInvalidJSAck
	}
	return resp.PubAck, nil
}

// parseAck reads the common acknowledgement, a flat object of "stream",
// "seq" and perhaps "duplicate" and "domain", without encoding/json. It
// declines (ok false) anything else, an error above all, which readAck
// then reads with encoding/json; FuzzParseAck holds the two to the same
// answers.
func parseAck(b []byte) (ack *jetstream.PubAck, ok bool) {
	var a jetstream.PubAck
	var seen struct{ stream, seq bool }
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, false
	}
	rest := b[1 : len(b)-1]
	for len(rest) > 0 {
		key, val, more, ok := nextField(rest)
		if !ok {
			return nil, false
		}
		switch string(key) {
		case "stream":
			if seen.stream || !plainString(val) {
				return nil, false
			}
			a.Stream, seen.stream = string(val[1:len(val)-1]), true
		case "domain":
			if a.Domain != "" || !plainString(val) || len(val) == 2 {
				return nil, false
			}
			a.Domain = string(val[1 : len(val)-1])
		case "seq":
			n, err := strconv.ParseUint(string(val), 10, 64)
			if seen.seq || err != nil || (len(val) > 1 && val[0] == '0') {
				return nil, false
			}
			a.Sequence, seen.seq = n, true
		case "duplicate":
			if a.Duplicate || string(val) != "true" {
				return nil, false
			}
			a.Duplicate = true
		default:
			return nil, false
		}
		rest = more
	}
	if !seen.stream || !seen.seq || a.Stream == "" {
		return nil, false
	}
	return &a, true
}

// nextField splits `"key":value,rest` where value holds no comma, quote
// but its own, brace or bracket: anything richer is declined.
func nextField(b []byte) (key, val, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' {
		return nil, nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, nil, false
	}
	key, b = b[1:1+end], b[2+end:]
	if len(b) == 0 || b[0] != ':' {
		return nil, nil, nil, false
	}
	b = b[1:]
	comma := bytes.IndexByte(b, ',')
	if comma < 0 {
		val, rest = b, nil
	} else {
		val, rest = b[:comma], b[comma+1:]
		if len(rest) == 0 {
			return nil, nil, nil, false
		}
	}
	if len(val) == 0 || bytes.ContainsAny(val, "{}[]\\ \t\r\n") {
		return nil, nil, nil, false
	}
	return key, val, rest, true
}

// plainString reports whether v is a quoted string of printable ASCII
// without escapes or inner quotes: what stream names and domains are.
func plainString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for _, c := range v[1 : len(v)-1] {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// pubOpt sets an expectation in a message's header: the server stores
// the message only if it holds.
type pubOpt func(nats.Header)

func setOpts(m *nats.Msg, opts []pubOpt) {
	if len(opts) == 0 {
		return
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	for _, o := range opts {
		o(m.Header)
	}
}

// expectSubjectSeq: the last message on the message's own subject is at
// seq (0: there is none).
func expectSubjectSeq(seq uint64) pubOpt {
	return func(h nats.Header) { h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10)) }
}

// expectFilterSeq: the last message on the subjects of filter is at seq.
func expectFilterSeq(seq uint64, filter string) pubOpt {
	return func(h nats.Header) {
		h.Set(jetstream.ExpectedLastSubjSeqSubjHeader, filter)
		h.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(seq, 10))
	}
}

// expectSeq: the stream's last message is at seq.
func expectSeq(seq uint64) pubOpt {
	return func(h nats.Header) { h.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(seq, 10)) }
}

// withMsgID: the server drops a second message of the same id within the
// stream's duplicate window, acknowledging it as a duplicate.
func withMsgID(id string) pubOpt {
	return func(h nats.Header) { h.Set(jetstream.MsgIDHeader, id) }
}

// lastMsg reads the last message on subject in a stream that allows
// Direct Get, by a request on the publisher's reply subscription: no
// JSON on either side, and no request machinery of its own.
// jetstream.ErrMsgNotFound if there is none.
//
// No responders is asked again, briefly: on three replicas a stream can
// have none for a moment while its replicas catch up or elect a leader
// (the bench's cluster phase once failed a command on it).
func (p *publisher) lastMsg(ctx context.Context, stream, subject string) (*nats.Msg, error) {
	wait := directRetryFirst
	for attempt := 1; ; attempt++ {
		m, err := p.directGet(ctx, stream, subject)
		if !errors.Is(err, nats.ErrNoResponders) || attempt == directAttempts {
			return m, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, err
		}
		wait *= 2
	}
}

// A Direct Get without responders is tried directAttempts times in all,
// the waits between doubling from directRetryFirst: about 2.5 s, the
// length of a leader election.
const (
	directAttempts   = 9
	directRetryFirst = 10 * time.Millisecond
)

// directGet is one Direct Get of the last message on subject.
func (p *publisher) directGet(ctx context.Context, stream, subject string) (*nats.Msg, error) {
	w, err := p.sendAs(&nats.Msg{Subject: "$JS.API.DIRECT.GET." + stream + "." + subject}, true)
	if err != nil {
		return nil, err
	}
	if _, err := w.result(ctx); err != nil {
		return nil, err
	}
	m := w.reply
	if len(m.Data) == 0 {
		switch m.Header.Get("Status") {
		case "":
		case "404":
			return nil, jetstream.ErrMsgNotFound
		case "503":
			return nil, nats.ErrNoResponders
		default:
			return nil, fmt.Errorf("engine: direct get on %s: status %s %s", stream, m.Header.Get("Status"), m.Header.Get("Description"))
		}
	}
	return m, nil
}

// kvOperationHeader marks a bucket's delete and purge markers.
const kvOperationHeader = "KV-Operation"

// kvValue reads a key's value and revision from a bucket, as
// KeyValue.Get does: jetstream.ErrKeyNotFound if it has none or was
// deleted.
func (p *publisher) kvValue(ctx context.Context, bucket, key string) ([]byte, uint64, error) {
	m, err := p.lastMsg(ctx, "KV_"+bucket, "$KV."+bucket+"."+key)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	if m.Header.Get(kvOperationHeader) != "" || m.Header.Get(jetstream.MarkerReasonHeader) != "" {
		return nil, 0, jetstream.ErrKeyNotFound
	}
	rev, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("engine: direct get on %s: no sequence in the answer", bucket)
	}
	return m.Data, rev, nil
}
