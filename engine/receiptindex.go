package engine

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// ReceiptIndex is the message browser's index: every receipt of
// STAFET_RECEIPTS, in memory, the latest per raw message, and counters
// per channel and sender. It is a projection of the receipts, rebuilt by
// reading them at start (small messages, nothing to decrypt), and
// followed live. Get one from Inbox.NewReceiptIndex and Run it.
type ReceiptIndex struct {
	inbox *Inbox

	mu      sync.RWMutex
	entries []Receipt // by raw sequence
	senders map[senderKey]*SenderCounts
	strs    map[string]string // interned channels, senders, codes, fields
	ready   chan struct{}
	readyOn sync.Once
}

type senderKey struct{ system, sender string }

// SenderCounts are the counters of one sender on one channel: the
// channel view an integrator expects.
type SenderCounts struct {
	System string `json:"channel"`
	Sender string `json:"sender"`
	// Org is the organisation the sender's messages translate to, when
	// one has.
	Org events.OrgID `json:"org,omitempty"`
	// Received counts the messages stored (a resend is not counted
	// again); Answers counts every answer given, by code (AA, AE, AR), a
	// resend's and a replay's too; Dead counts the messages that are dead
	// letters now.
	Received int            `json:"received"`
	Answers  map[string]int `json:"answers"`
	Dead     int            `json:"dead_letters"`
	LastSeen time.Time      `json:"last_seen"`
}

// NewReceiptIndex returns an empty index of the inbox's receipts.
func (s *Inbox) NewReceiptIndex() *ReceiptIndex {
	return &ReceiptIndex{inbox: s, senders: map[senderKey]*SenderCounts{}, strs: map[string]string{}, ready: make(chan struct{})}
}

// Unwritten is how many receipts this instance could not write
// (Inbox.ReceiptsUnwritten).
func (x *ReceiptIndex) Unwritten() int64 { return x.inbox.ReceiptsUnwritten() }

// Ready is closed once the index holds every receipt written before Run
// started, and has made the missing ones (reconcile).
func (x *ReceiptIndex) Ready() <-chan struct{} { return x.ready }

// reconcileWindow is how many raw messages before the last one that has
// a receipt are checked for one at start: receipts are written without
// waiting, so those of the last moments before a crash may be missing.
const reconcileWindow = 10000

// Run reads the receipts into the index and follows them until ctx ends.
// Once it has caught up, it makes the receipts of stored messages that
// have none: every message of a store written before receipts existed,
// and those of the last moments before a crash. A failure to read (a
// cluster electing a leader) is retried where it stopped; the intake
// never waits for the index.
func (x *ReceiptIndex) Run(ctx context.Context) error {
	var next uint64 = 1 // the stream sequence to read next
	var target uint64   // the stream's end when Run started; 0 once reached
	err := x.inbox.retry(ctx, "receipts: the stream's end not read; retrying", "info", func() error {
		info, err := x.inbox.receipts.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs > 0 {
			target = info.State.LastSeq
		}
		return nil
	})
	if err != nil {
		return nil // ctx ended
	}
	if target == 0 {
		x.caughtUp(ctx)
	}
	// follow returns only on an error or at ctx's end; retry goes on
	// from where it stopped.
	x.inbox.retry(ctx, "receipts: reading stopped; going on where it stopped", "follow", func() error {
		return x.follow(ctx, &next, &target)
	})
	return nil
}

// follow reads receipts from *next with an ordered consumer until an
// error or ctx's end.
func (x *ReceiptIndex) follow(ctx context.Context, next, target *uint64) error {
	cons, err := x.inbox.receipts.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: *next,
	})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		for m := range batch.Messages() {
			for _, r := range decodeReceipts(m.Data()) {
				if r.RawSeq != 0 {
					x.add(r)
				}
			}
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			*next = meta.Sequence.Stream + 1
			if *target != 0 && meta.Sequence.Stream >= *target {
				*target = 0
				x.caughtUp(ctx)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
	}
	return nil
}

// caughtUp reconciles once and says the index is ready.
func (x *ReceiptIndex) caughtUp(ctx context.Context) {
	x.readyOn.Do(func() {
		if err := x.reconcile(ctx); err != nil && ctx.Err() == nil {
			x.inbox.log.Warn("receipts: could not make the missing ones; the message browser lacks them until the next start", "err", err)
		}
		close(x.ready)
	})
}

// reconcile writes the receipts of stored messages that have none, from
// the raw messages (decrypted here, once) and their dead letters.
func (x *ReceiptIndex) reconcile(ctx context.Context) error {
	last, err := x.inbox.rawLastSeq(ctx)
	if err != nil || last == 0 {
		return err
	}
	x.mu.RLock()
	var from uint64 = 1
	if n := len(x.entries); n > 0 && x.entries[n-1].RawSeq > reconcileWindow {
		from = x.entries[n-1].RawSeq - reconcileWindow
	}
	missing := []uint64{}
	for seq := from; seq <= last; seq++ {
		if _, ok := x.find(seq); !ok {
			missing = append(missing, seq)
		}
	}
	x.mu.RUnlock()
	made := 0
	for _, seq := range missing {
		r, err := x.inbox.backfill(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // gone with the raw store's retention, or never written
		}
		if err != nil {
			return err
		}
		x.add(r)
		x.inbox.note(r)
		made++
	}
	if made > 0 {
		x.inbox.log.Info("receipts made from stored messages", "count", made)
	}
	return nil
}

// find returns the position of a raw message's receipt; the caller holds
// the lock.
func (x *ReceiptIndex) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(x.entries, seq, func(r Receipt, seq uint64) int { return cmp.Compare(r.RawSeq, seq) })
}

func (x *ReceiptIndex) intern(s string) string {
	if v, ok := x.strs[s]; ok {
		return v
	}
	x.strs[s] = s
	return s
}

// add takes in one receipt: a new message, or a later answer to one (a
// resend, a replay), which keeps the message's first arrival.
func (x *ReceiptIndex) add(r Receipt) {
	x.mu.Lock()
	defer x.mu.Unlock()
	r.System, r.Sender, r.Code, r.Field = x.intern(r.System), x.intern(r.Sender), x.intern(r.Code), x.intern(r.Field)
	k := senderKey{r.System, r.Sender}
	c := x.senders[k]
	if c == nil {
		c = &SenderCounts{System: r.System, Sender: r.Sender, Answers: map[string]int{}}
		x.senders[k] = c
	}
	if !r.Backfilled {
		c.Answers[r.Answer]++
	}
	if r.Org != "" {
		c.Org = r.Org
	}
	i, found := x.find(r.RawSeq)
	if !found {
		c.Received++
		if r.ReceivedAt.After(c.LastSeen) {
			c.LastSeen = r.ReceivedAt
		}
		if r.Dead() {
			c.Dead++
		}
		x.entries = slices.Insert(x.entries, i, r)
		return
	}
	old := &x.entries[i]
	if r.Backfilled && !old.Backfilled {
		return // the intake's own receipt says more
	}
	if old.Dead() {
		c.Dead--
	}
	if r.Dead() {
		c.Dead++
	}
	r.ReceivedAt, r.ControlID, r.Replaces = old.ReceivedAt, old.ControlID, cmp.Or(old.Replaces, r.Replaces)
	r.Org, r.Episode = cmp.Or(r.Org, old.Org), cmp.Or(r.Episode, old.Episode)
	if r.Pathway == uuid.Nil {
		r.Pathway = old.Pathway
	}
	*old = r
}

// ReceiptQuery narrows a search of the receipts; the zero value finds
// every message, newest first.
type ReceiptQuery struct {
	// System is the channel; Sender the sender as the message names it,
	// or part of it, in any case.
	System, Sender string
	// ControlID is the control id, or its beginning.
	ControlID string
	// From and To bound when the message came (To not included).
	From, To time.Time
	// Code is the dead letter's code; Answer the answer's (AA, AE, AR).
	Code, Answer string
	// Dead keeps the messages that are dead letters now.
	Dead bool
	// Episode is an episode of care, in clear: it is hashed here.
	Episode string
	Pathway uuid.UUID
	// Org keeps the messages of one sending organisation: those that
	// translated to it, and those of senders whose messages do.
	Org events.OrgID
	// Before continues a search: raw sequences below it.
	Before uint64
	// Limit is the most to return; 0 means 100.
	Limit int
}

// Search returns the receipts that match, newest first, and whether there
// are more.
func (x *ReceiptIndex) Search(q ReceiptQuery) ([]Receipt, bool) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	episode := EpisodeHash(q.Episode)
	sender := strings.ToLower(q.Sender)
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []Receipt
	i := len(x.entries)
	if q.Before != 0 {
		i, _ = x.find(q.Before)
	}
	for i--; i >= 0; i-- {
		r := &x.entries[i]
		switch {
		case q.System != "" && r.System != q.System,
			sender != "" && !strings.Contains(strings.ToLower(r.Sender), sender),
			q.ControlID != "" && !strings.HasPrefix(r.ControlID, q.ControlID),
			!q.From.IsZero() && r.ReceivedAt.Before(q.From),
			!q.To.IsZero() && !r.ReceivedAt.Before(q.To),
			q.Code != "" && r.Code != q.Code,
			q.Answer != "" && r.Answer != q.Answer,
			q.Dead && !r.Dead(),
			episode != "" && r.Episode != episode,
			q.Pathway != uuid.Nil && r.Pathway != q.Pathway,
			q.Org != "" && !x.sentBy(r, q.Org):
			continue
		}
		if len(out) == q.Limit {
			return out, true
		}
		out = append(out, *r)
	}
	return out, false
}

// sentBy reports whether org sent a message: it translated to org, or its
// sender's messages do (a message that failed to translate names no
// organisation itself). The caller holds the lock.
func (x *ReceiptIndex) sentBy(r *Receipt, org events.OrgID) bool {
	if r.Org != "" {
		return r.Org == org
	}
	c := x.senders[senderKey{r.System, r.Sender}]
	return c != nil && c.Org == org
}

// Receipt returns the receipt of one raw message.
func (x *ReceiptIndex) Receipt(seq uint64) (Receipt, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.find(seq)
	if !ok {
		return Receipt{}, false
	}
	return x.entries[i], true
}

// SentBy reports whether org sent the raw message seq (as Search's Org).
func (x *ReceiptIndex) SentBy(seq uint64, org events.OrgID) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.find(seq)
	return ok && x.sentBy(&x.entries[i], org)
}

// Senders returns the counters of every channel and sender, or of one
// organisation's senders: by channel, then by the last message first.
func (x *ReceiptIndex) Senders(org events.OrgID) []SenderCounts {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := []SenderCounts{}
	for _, c := range x.senders {
		if org != "" && c.Org != org {
			continue
		}
		v := *c
		v.Answers = make(map[string]int, len(c.Answers))
		for k, n := range c.Answers {
			v.Answers[k] = n
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b SenderCounts) int {
		return cmp.Or(cmp.Compare(a.System, b.System), b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Sender, b.Sender))
	})
	return out
}

// Len is the number of messages the index holds.
func (x *ReceiptIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.entries)
}
