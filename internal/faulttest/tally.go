package faulttest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Tally counts what the log holds by source message.
type Tally struct {
	Events int
	ByType map[events.Type]int
	// seqs are the distinct log positions of each source key's events:
	// one for a message appended once.
	seqs map[string][]uint64
	// hl7 maps an HL7 control id to its source key.
	HL7 map[string]string
}

// Apply counts one event.
func (c *Tally) Apply(e events.Envelope) error {
	c.Events++
	c.ByType[e.Type]++
	k := e.Source.Key()
	if k == "" {
		return nil
	}
	if s := c.seqs[k]; len(s) == 0 || s[len(s)-1] != e.Seq {
		c.seqs[k] = append(s, e.Seq)
	}
	if e.Source.System == hl7v2.System {
		c.HL7[e.Source.MessageID] = k
	}
	return nil
}

// ReadLog replays the whole log through store.
func ReadLog(ctx context.Context, t *testing.T, store *engine.Store) *Tally {
	t.Helper()
	c := &Tally{ByType: map[events.Type]int{}, seqs: map[string][]uint64{}, HL7: map[string]string{}}
	if _, err := store.Log().Replay(ctx, engine.ReplayOptions{}, c); err != nil {
		t.Fatal(err)
	}
	return c
}

// Duplicated lists the source keys stored in more than one message.
func (c *Tally) Duplicated() []string {
	var out []string
	for k, s := range c.seqs {
		if len(s) > 1 {
			out = append(out, fmt.Sprintf("%s at %v", k, s))
		}
	}
	slices.Sort(out)
	return out
}

// Check compares the Ledger with the log: every acknowledged message
// must be there, once; no message may be there twice. It returns how many
// sent messages were found.
func (c *Tally) Check(t *testing.T, l *Ledger) (found int) {
	t.Helper()
	var missing []string
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.Sent {
		k, ok := c.HL7[id]
		if ok {
			found++
		}
		if _, acked := l.Acked[id]; acked && !ok {
			missing = append(missing, id)
		}
		if ok && len(c.seqs[k]) > 1 {
			t.Errorf("message %s: stored %d times (seqs %v); want once", id, len(c.seqs[k]), c.seqs[k])
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%d acknowledged messages missing from the log, e.g. %v", len(missing), missing[:min(len(missing), 10)])
	}
	byReason := map[string][]string{}
	for id, why := range l.Rejected {
		byReason[why] = append(byReason[why], id)
	}
	for why, ids := range byReason {
		slices.Sort(ids)
		t.Errorf("%d messages answered %q, e.g. %v; want AA (the load keeps every pathway rule)%s", len(ids), why, ids[:min(len(ids), 5)], diagnosis(why))
	}
	if dups := c.Duplicated(); len(dups) > 0 {
		t.Errorf("%d source messages stored more than once, e.g. %v", len(dups), dups[:min(len(dups), 10)])
	}
	return found
}

// CheckOffers checks that the policies implied one offer per discharge
// acknowledged (every stay ends discharged home with municipal services),
// however many instances share the work; it returns the number of offers.
func (c *Tally) CheckOffers(t *testing.T, l *Ledger) int {
	t.Helper()
	discharges := 0
	for id := range l.Acked {
		if strings.HasSuffix(id, "-4") {
			discharges++
		}
	}
	if got := c.ByType[events.TypeHandoffOffered]; got != discharges {
		t.Errorf("got %d implied offers of home care; want %d, one per discharge acknowledged", got, discharges)
	}
	return discharges
}

// diagnosis explains the rejections whose cause is known.
func diagnosis(why string) string {
	if strings.Contains(why, "pathway: missing") {
		return ". Cause: the engine's pathway resolution returned uuid.Nil as the patient's pathway. Two instances raced to reserve a new patient's " +
			"pathway; the loser's Create of the index entry failed with ErrKeyExists, and its re-read of the winner's entry — a KV Get, " +
			"which is a Direct Get that a replica may answer before it has applied the create — found nothing, and the not-found was " +
			"returned as an existing pathway with a nil id, so the message became a dead letter (engine/pathindex.go)"
	}
	return ""
}

// Settle waits until the work the load set off is done — the log stops
// growing, the shared policies consumer has handled every event, and every
// host has applied all of it — and returns the last sequence.
func Settle(ctx context.Context, t *testing.T, store *engine.Store, hosts ...*engine.Host) uint64 {
	t.Helper()
	var last uint64
	var pending string
	stableSince := time.Now()
	for {
		seq, err := store.Log().LastSeq(ctx)
		if err == nil && seq != last {
			last, stableSince = seq, time.Now()
		}
		done := err == nil
		for _, h := range hosts {
			done = done && h.Applied() == last
		}
		if done {
			pending, done = ReactorDone(ctx, store, "stafet-policies", last)
		}
		if done && time.Since(stableSince) > time.Second {
			return last
		}
		select {
		case <-ctx.Done():
			applied := []uint64{}
			for _, h := range hosts {
				applied = append(applied, h.Applied())
			}
			t.Fatalf("log did not Settle: last seq %d, hosts applied %v, %s", last, applied, pending)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ReactorDone reports whether a durable reactor has handled every
// event of the log (last: the log's end, for the message), and how far it
// is.
func ReactorDone(ctx context.Context, store *engine.Store, name string, last uint64) (string, bool) {
	pending, err := store.Reactors().Pending(ctx, name)
	if err != nil {
		return fmt.Sprintf("reactor %s: %v", name, err), false
	}
	return fmt.Sprintf("reactor %s: %d of the log's %d messages not yet handled", name, pending, last), pending == 0
}
