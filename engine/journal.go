package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Journal is an append-only stream of the store's own beside the event
// log, for what an adapter records (the access log, the alerts): created
// with the store's replication on file storage, read back by subject.
// Get it from Store.Journal.
type Journal struct {
	*conn
	name   string
	stream jetstream.Stream
}

// JournalConfig describes a journal.
type JournalConfig struct {
	Name        string
	Description string
	Subjects    []string
	// MaxAge is how long entries are kept; 0 keeps them for ever.
	MaxAge time.Duration
	// Duplicates is the window in which a Record's MsgID is taken once;
	// 0 means the store's duplicate window.
	Duplicates time.Duration
	// Evidence forbids deleting entries or purging the journal.
	Evidence bool
	// Republish, if set, has the server publish every stored entry of
	// Source again on Destination (a subject transform), for plain NATS
	// subscribers: they see an entry once it is stored.
	Republish *Republish
}

// Republish is a journal's republication for plain subscribers.
type Republish struct{ Source, Destination string }

// Record is an entry to append.
type Record struct {
	Subject string
	Data    []byte
	Header  map[string]string
	// MsgID makes a second append of the same record within the
	// duplicate window a no-op (Appended.Duplicate).
	MsgID string
}

// Entry is a stored record.
type Entry struct {
	Seq     uint64
	Subject string
	Data    []byte
	Header  map[string]string
	Time    time.Time
}

// Journal creates (or updates) the journal cfg describes and returns it.
func (s *Store) Journal(ctx context.Context, cfg JournalConfig) (*Journal, error) {
	sc := jetstream.StreamConfig{
		Name: cfg.Name, Description: cfg.Description, Subjects: cfg.Subjects,
		Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld,
		MaxAge: cfg.MaxAge, Duplicates: cfg.Duplicates, Replicas: s.cfg.Replicas,
		AllowDirect: true, DenyDelete: cfg.Evidence, DenyPurge: cfg.Evidence,
	}
	if sc.Duplicates == 0 {
		sc.Duplicates = s.cfg.DuplicateWindow
	}
	if cfg.Republish != nil {
		sc.RePublish = &jetstream.RePublish{Source: cfg.Republish.Source, Destination: cfg.Republish.Destination}
	}
	st, err := createOrUpdateStream(ctx, s.js, sc)
	if err != nil {
		return nil, err
	}
	return &Journal{conn: s.conn, name: cfg.Name, stream: st}, nil
}

func (r Record) msg() *nats.Msg {
	m := nats.NewMsg(r.Subject)
	m.Data = r.Data
	for k, v := range r.Header {
		m.Header.Set(k, v)
	}
	return m
}

// AppendAll appends records together: sent at once, and waited for
// together. It returns once the server has stored every one; they are on
// disk once a Commit begun after that returns.
func (j *Journal) AppendAll(ctx context.Context, rs ...Record) error {
	sent := make([]*sending, 0, len(rs))
	for _, r := range rs {
		var opts []pubOpt
		if r.MsgID != "" {
			opts = append(opts, withMsgID(r.MsgID))
		}
		w, err := j.send(r.msg(), opts...)
		if err != nil {
			return fmt.Errorf("engine: journal %s: %w", j.name, err)
		}
		sent = append(sent, w)
	}
	for _, w := range sent {
		if _, err := w.wait(ctx); err != nil {
			return fmt.Errorf("engine: journal %s: %w", j.name, err)
		}
	}
	return nil
}

// Appended says where an appended record is.
type Appended struct {
	Seq uint64
	// Duplicate: a record of the same MsgID was appended before, and Seq
	// is its.
	Duplicate bool
}

// AppendAfter appends r if the last entry on the subjects of filter is
// still the one at seq (0: there is none), so that writers numbering
// their entries cannot take the same number. Otherwise it returns
// ErrConflict: read the last entry again (Last) and retry. It returns
// once the server has stored the record (on disk as AppendAll's).
func (j *Journal) AppendAfter(ctx context.Context, r Record, filter string, seq uint64) (Appended, error) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequenceForSubject(seq, filter)}
	if r.MsgID != "" {
		opts = append(opts, jetstream.WithMsgID(r.MsgID))
	}
	ack, err := j.js.PublishMsg(ctx, r.msg(), opts...)
	if isWrongLastSeq(err) {
		return Appended{}, fmt.Errorf("%w: journal %s: %v", ErrConflict, j.name, err)
	}
	if err != nil {
		return Appended{}, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	return Appended{Seq: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// LastSeq returns the sequence of the journal's last entry.
func (j *Journal) LastSeq(ctx context.Context) (uint64, error) {
	info, err := j.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	return info.State.LastSeq, nil
}

// Last returns the last entry on the subjects of filter; ok is false if
// there is none.
func (j *Journal) Last(ctx context.Context, filter string) (e Entry, ok bool, err error) {
	m, err := j.stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	return entryOf(m.Sequence, m.Subject, m.Data, m.Header, m.Time), true, nil
}

func entryOf(seq uint64, subject string, data []byte, h nats.Header, at time.Time) Entry {
	e := Entry{Seq: seq, Subject: subject, Data: data, Time: at}
	if len(h) > 0 {
		e.Header = make(map[string]string, len(h))
		for k := range h {
			e.Header[k] = h.Get(k)
		}
	}
	return e
}

// Query selects entries for Read: those on the subjects of Filter from
// sequence From, or from time Since when From is 0.
type Query struct {
	Filter string
	From   uint64
	Since  time.Time
	// Max bounds the entries returned; the server's batch limit bounds it
	// too, so read on from the last entry's sequence to see more.
	Max int
}

// Read returns entries in journal order, with one batch read from any
// replica (a Direct Get): for listings, not for decisions.
func (j *Journal) Read(ctx context.Context, q Query) ([]Entry, error) {
	req := struct {
		Seq       uint64     `json:"seq,omitempty"`
		NextFor   string     `json:"next_by_subj,omitempty"`
		Batch     int        `json:"batch,omitempty"`
		StartTime *time.Time `json:"start_time,omitempty"`
	}{Seq: q.From, NextFor: q.Filter, Batch: q.Max}
	if q.From == 0 {
		if q.Since.IsZero() {
			req.Seq = 1
		} else {
			req.StartTime = &q.Since
		}
	}
	body, _ := json.Marshal(req)
	inbox := j.nc.NewRespInbox()
	sub, err := j.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	defer sub.Unsubscribe()
	if err := j.nc.PublishRequest("$JS.API.DIRECT.GET."+j.name, inbox, body); err != nil {
		return nil, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []Entry
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("engine: journal %s: %w", j.name, err)
		}
		if status := m.Header.Get("Status"); len(m.Data) == 0 && status != "" {
			switch status {
			case "204", "404":
				return out, nil
			}
			return nil, fmt.Errorf("engine: journal %s: status %s %s", j.name, status, m.Header.Get("Description"))
		}
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("engine: journal %s: a reply without a sequence", j.name)
		}
		at, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
		out = append(out, entryOf(seq, m.Header.Get("Nats-Subject"), m.Data, nil, at))
	}
}

// Follow calls fn with every entry on the subjects of filters (all, if
// none) from sequence from on, as they are stored, until ctx ends or the
// returned stop is called. fn runs on one goroutine, in order.
func (j *Journal) Follow(ctx context.Context, filters []string, from uint64, fn func(Entry)) (stop func(), err error) {
	cons, err := j.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(from, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			return
		}
		fn(entryOf(md.Sequence.Stream, m.Subject(), m.Data(), m.Headers(), md.Timestamp))
	})
	if err != nil {
		return nil, fmt.Errorf("engine: journal %s: %w", j.name, err)
	}
	return cc.Stop, nil
}

// ConsumerConfig describes a durable consumer of a journal: entries on
// the subjects of Filters stored after it is added, each delivered until
// it is acknowledged, to one of the instances consuming it at a time.
type ConsumerConfig struct {
	Name        string
	Description string
	Filters     []string
	// MaxInFlight bounds the deliveries not yet acknowledged, across
	// instances.
	MaxInFlight int
	// AckWait is how long a delivery may take before it is delivered
	// again (to whichever instance asks).
	AckWait time.Duration
}

// AddConsumer adds a durable consumer that starts at the next entry.
func (j *Journal) AddConsumer(ctx context.Context, cfg ConsumerConfig) error {
	_, err := j.stream.CreateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: cfg.Name, Description: cfg.Description, FilterSubjects: cfg.Filters,
		DeliverPolicy: jetstream.DeliverNewPolicy, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: cfg.AckWait, MaxDeliver: -1, MaxAckPending: cfg.MaxInFlight, Replicas: j.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("engine: journal %s: consumer %s: %w", j.name, cfg.Name, err)
	}
	return nil
}

// RemoveConsumer removes a durable consumer and what it had yet to
// deliver; removing one that is not there is no error.
func (j *Journal) RemoveConsumer(ctx context.Context, name string) error {
	err := j.stream.DeleteConsumer(ctx, name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("engine: journal %s: remove consumer %s: %w", j.name, name, err)
	}
	return nil
}

// Delivery is an entry delivered by a durable consumer, to be answered
// once: Ack when it is done with, Nak or NakAfter to have it delivered
// again, Term to give it up.
type Delivery struct {
	Entry
	// Attempt counts the deliveries of this entry, from 1.
	Attempt uint64
	m       jetstream.Msg
}

// Ack acknowledges the delivery.
func (d *Delivery) Ack() { d.m.Ack() }

// Nak asks for the entry again at once.
func (d *Delivery) Nak() { d.m.Nak() }

// NakAfter asks for the entry again after delay.
func (d *Delivery) NakAfter(delay time.Duration) { d.m.NakWithDelay(delay) }

// Term gives the entry up: it is not delivered again.
func (d *Delivery) Term() { d.m.Term() }

// Consume calls fn with the deliveries of the durable consumer name, at
// most maxWaiting fetched ahead, until ctx ends. fn may answer a delivery
// later, from another goroutine. A consumer removed meanwhile ends the
// deliveries, not Consume.
func (j *Journal) Consume(ctx context.Context, name string, maxWaiting int, fn func(*Delivery)) error {
	cons, err := j.stream.Consumer(ctx, name)
	if err != nil {
		return fmt.Errorf("engine: journal %s: consumer %s: %w", j.name, name, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, err := m.Metadata()
		if err != nil {
			m.Term()
			return
		}
		fn(&Delivery{Entry: entryOf(md.Sequence.Stream, m.Subject(), m.Data(), m.Headers(), md.Timestamp), Attempt: md.NumDelivered, m: m})
	}, jetstream.PullMaxMessages(maxWaiting), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			j.log.Debug("journal consumer gone", "journal", j.name, "consumer", name)
		}
	}))
	if err != nil {
		return fmt.Errorf("engine: journal %s: consume %s: %w", j.name, name, err)
	}
	<-ctx.Done()
	cc.Stop()
	return nil
}
