package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Idempotency beyond JetStream's duplicate window.
//
// A resent message meets its original in the pathway's own history
// (events.Pathway.SourceSeq), for as long as the log lasts. What the
// history cannot catch is a resent message that opens a pathway: it would
// open a second one. So every append that opens a pathway from a source
// message also records the message's key → first sequence in the
// stafet_idem bucket, and Execute consults it before opening. The record is published asynchronously (it must not
// cost a second fsync per event); if the process dies before it lands, the
// duplicate window still protects the message, and Open re-indexes every
// event written in the last two windows before it serves, so the index
// never misses one.

// idemKey is the bucket key of a source key: it hides the sender's ids and
// is safe as a KV key.
func idemKey(sourceKey string) string {
	sum := sha256.Sum256([]byte(sourceKey))
	return hex.EncodeToString(sum[:16])
}

func (s *Log) index(ctx context.Context, sourceKey string, firstSeq uint64) {
	if sourceKey == "" {
		return
	}
	s.indexKey(idemKey(sourceKey), firstSeq)
}

func (s *Log) indexKey(key string, firstSeq uint64) {
	m := &nats.Msg{Subject: "$KV." + IdemBucket + "." + key, Data: []byte(strconv.FormatUint(firstSeq, 10))}
	if err := s.pub.forget(m); err != nil {
		// Not even sent (the publisher stalled, the connection closed):
		// counted and retried like a write the server refused.
		s.indexWriteFailed(m, err)
	}
}

// indexWriteFailed hears of every index write that could not be sent,
// or that the server refused or lost with the connection (the
// publisher's failed callback: index writes are its only writes nobody
// waits for). Appends and raw writes wait for their own acknowledgements
// and handle their errors; an index write's failure would otherwise go
// unseen — and a resend of its message after the duplicate window would
// be appended a second time. It is retried until it is stored, and said
// meanwhile.
func (s *Log) indexWriteFailed(m *nats.Msg, err error) {
	s.stats.IndexWriteFailures.Add(1)
	s.indexPending.Add(1)
	// Not on the caller's goroutine: it is the publisher's
	// acknowledgement handler.
	go s.retryIndex(m.Subject, m.Data, err)
}

// retryIndex writes an index entry until it is stored or the store
// closes, backing off to every 30 s.
func (s *Log) retryIndex(subject string, data []byte, err error) {
	defer s.indexPending.Add(-1)
	// The subject holds a hash of the source key, the data a sequence:
	// neither identifies anyone.
	s.log.Error("idempotency index write failed; retrying until it is stored (a resend after the duplicate window could otherwise be appended twice)", "err", err, "seq", string(data))
	wait := time.Second
	for {
		select {
		case <-s.closing:
			s.log.Error("idempotency index write not stored before the store closed; the next start re-indexes the last two duplicate windows of log time", "seq", string(data))
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = s.js.Publish(ctx, subject, data)
		cancel()
		if err == nil {
			s.log.Info("idempotency index write stored on retry", "seq", string(data))
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// IndexWritesPending is how many idempotency index writes the server
// refused and are being retried (indexWriteFailed).
func (s *Log) IndexWritesPending() int64 { return s.indexPending.Load() }

// lookupDuplicate reports whether a source key was appended before.
func (s *Log) lookupDuplicate(ctx context.Context, sourceKey string) (Result, bool, error) {
	v, _, err := s.pub.kvValue(ctx, IdemBucket, idemKey(sourceKey))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("engine: idempotency index: %w", err)
	}
	seq, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil {
		return Result{}, false, fmt.Errorf("engine: idempotency index: bad value %q", v)
	}
	return Result{FirstSeq: seq, LastSeq: seq, Duplicate: true}, true, nil
}

// indexedThroughKey holds a sequence through which every opening is in
// the index: written by the embedded server's only writer after a
// reconciliation and on a clean stop, so that a restart after a bulk
// import need not re-read the import's last minutes of log time.
const indexedThroughKey = "indexed-through"

// reconcileIndex re-indexes the events of the last two duplicate windows
// of log time, closing the gap an asynchronous index write leaves when the
// process dies right after an append. After a clean stop of the embedded
// server there is no gap, and nothing to read.
func (s *Log) reconcileIndex(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("engine: reconcile index: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	if s.indexedThrough(ctx) >= info.State.LastSeq {
		s.log.Debug("idempotency index up to date", "seq", info.State.LastSeq)
		return nil
	}
	start := info.State.LastTime.Add(-2 * s.cfg.DuplicateWindow)
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return fmt.Errorf("engine: reconcile index: %w", err)
	}
	n := 0
	seen := make(map[string]bool)
	c := s.chainers.get()
	defer s.chainers.put(c)
	for seq := uint64(0); seq < info.State.LastSeq; {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return fmt.Errorf("engine: reconcile index: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			md, _ := m.Metadata()
			seq = md.Sequence.Stream
			k := s.openingKey(m.Data())
			if k == "" || seen[k] {
				continue
			}
			// An opening stafetd did not store (forged on the event
			// subjects) must not enter the index: a genuine message with
			// its source key would be dropped as its duplicate. Every
			// reader quarantines it; here it is only left out.
			if err := c.check(seq, s.chainFrom, m.Subject(), stampOf(m.Headers()), m.Data()); err != nil {
				s.log.Warn("reconcile index: an opening that fails the chain check is not indexed", "seq", seq, "err", err)
				continue
			}
			seen[k] = true
			s.indexKey(idemKey(k), seq)
			n++
		}
		if batch.Error() != nil || got == 0 {
			break
		}
	}
	select {
	case <-s.pub.complete():
	case <-time.After(30 * time.Second):
		return errors.New("engine: reconcile index: index writes did not complete in 30s")
	}
	s.log.Debug("idempotency index reconciled", "events", n)
	s.setIndexedThrough(ctx, info.State.LastSeq)
	return nil
}

// openingName is how every stored commit that opens a pathway spells the
// opening's type: the encoders write type names as they are (ASCII
// letters, nothing to escape), and a type's name never changes. It begins
// at the name, not at its opening quote, for the search's sake: a search
// runs from each occurrence of the first byte, and JSON is full of quotes.
var openingName = []byte(string(events.TypePathwayOpened) + `"`)

// openingKey returns the source key of a stored commit that opens a
// pathway from a source message, or "". Most commits open nothing, and
// one without the opening's type name anywhere in it cannot: looking for
// the name spares decoding the others: decoding every commit was most of
// the CPU the reconciliation spent on its own goroutine.
func (s *Log) openingKey(data []byte) string {
	if !bytes.Contains(data, openingName) {
		return ""
	}
	evs, err := s.codec.DecodeCommit(data)
	if err != nil || evs[0].Type != events.TypePathwayOpened {
		return ""
	}
	return evs[0].Source.Key()
}

// indexedThrough reads the sequence through which the index is known to
// be complete; 0 if unknown. Only the embedded server, whose one writer is
// this store, keeps one: on a cluster another instance may have an index
// write in flight.
func (s *Log) indexedThrough(ctx context.Context) uint64 {
	if s.cfg.URL != "" {
		return 0
	}
	e, err := s.idem.Get(ctx, indexedThroughKey)
	if err != nil {
		return 0
	}
	seq, _ := strconv.ParseUint(string(e.Value()), 10, 64)
	return seq
}

func (s *Log) setIndexedThrough(ctx context.Context, seq uint64) {
	if s.cfg.URL != "" || seq == 0 {
		return
	}
	if _, err := s.idem.Put(ctx, indexedThroughKey, []byte(strconv.FormatUint(seq, 10))); err != nil {
		s.log.Warn("idempotency index watermark not written; the next start re-reads the last minutes of log", "err", err)
	}
}

// markIndexedOnStop records, on a clean stop, that every opening this
// store appended is in the index: no append is in flight and every index
// write has been acknowledged.
func (s *Log) markIndexedOnStop(ctx context.Context) {
	// Every append through seq has either sent its index write (waited
	// for below) or is still appending (then give up): read seq first.
	seq := s.storedSeq.Load()
	if s.cfg.URL != "" || seq == 0 || s.appending.Load() != 0 {
		return
	}
	select {
	case <-s.pub.complete():
	case <-time.After(5 * time.Second):
		return
	}
	// Complete means acknowledged or failed: a failed write is retried,
	// and while one is, the index is not whole.
	if s.indexPending.Load() != 0 {
		s.log.Warn("idempotency index writes still being retried at stop; the next start re-indexes the last two duplicate windows of log time")
		return
	}
	if seq > s.indexedThrough(ctx) {
		s.setIndexedThrough(ctx, seq)
	}
}
