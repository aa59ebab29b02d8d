package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// The reconciliation after an import re-indexes every opening in the log
// and nothing else, whatever else a commit holds: an opening with its
// admission in one commit, later commits from source messages, and a
// commit whose text names the opening's type without opening anything
// (which reconcileIndex's look for the name must decode to tell).
func TestReconcileIndexesEveryOpening(t *testing.T) {
	ctx := context.Background()
	s, ref := openLog(t, Config{})
	hospital := events.OrgID("sor:6620000000001")
	at := time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
	command := func(pw uuid.UUID, id string, ps ...events.Payload) events.Command {
		return events.Command{Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: at, Payloads: ps,
			Source: events.Source{System: "hl7v2", Org: hospital, MessageID: id}}
	}
	opened := map[string]uint64{} // source key → the opening's sequence
	var others []string           // source keys of commits that open nothing
	for i := range 6 {
		pw := events.NewID()
		open := command(pw, fmt.Sprintf("A01-%d", i), &events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"})
		if i%2 == 0 { // the opening and the admission in one commit
			open.Payloads = append(open.Payloads, &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient})
		} else {
			res, err := s.Execute(ctx, open)
			if err != nil {
				t.Fatal(err)
			}
			opened[open.Source.Key()] = res.FirstSeq
			open = command(pw, fmt.Sprintf("A02-%d", i), &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient})
			others = append(others, open.Source.Key())
		}
		res, err := s.Execute(ctx, open)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			opened[open.Source.Key()] = res.FirstSeq
		}
		doc := command(pw, fmt.Sprintf("MDM-%d", i), &events.DocumentSent{Document: string(events.TypePathwayOpened), Kind: events.DischargeLetter, From: hospital, To: "yder:012345"})
		if _, err := s.Execute(ctx, doc); err != nil {
			t.Fatal(err)
		}
		others = append(others, doc.Source.Key())
	}
	// An opening written to the event subjects by someone other than
	// stafetd (no chain header): every reader quarantines it, and the
	// index must not take it, or the genuine message would be dropped as
	// its duplicate.
	forged := command(events.NewID(), "A01-forged", &events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"})
	others = append(others, forged.Source.Key())
	evs := []events.Envelope{{ID: events.NewID(), Pathway: forged.Pathway, Type: events.TypePathwayOpened, Schema: 1, OccurredAt: at, RecordedAt: at,
		Source: forged.Source, Actor: forged.Actor, Payload: forged.Payloads[0]}}
	data, err := s.codec.EncodeCommit(evs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(ctx, Subject("aarhus", forged.Pathway), data); err != nil {
		t.Fatal(err)
	}
	forgetIndex(t, s)

	if err := s.reconcileIndex(ctx); err != nil {
		t.Fatal(err)
	}
	for key, seq := range opened {
		got, found, err := s.lookupDuplicate(ctx, key)
		if err != nil || !found || got.FirstSeq != seq {
			t.Errorf("opening %s after reconciling: got %+v, %v, %v; want seq %d", key, got, found, err, seq)
		}
	}
	for _, key := range others {
		if got, found, err := s.lookupDuplicate(ctx, key); err != nil || found {
			t.Errorf("commit %s, which opens nothing or was not stored by stafetd, is in the index: %+v, %v", key, got, err)
		}
	}
}

// forgetIndex empties the idempotency index, watermark and all, as an
// import that died before its index writes landed leaves it.
func forgetIndex(t *testing.T, s *Log) {
	t.Helper()
	ctx := context.Background()
	select {
	case <-s.pub.complete():
	case <-time.After(10 * time.Second):
		t.Fatal("index writes not acknowledged in 10s")
	}
	kv, err := s.js.Stream(ctx, "KV_"+IdemBucket)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx); err != nil {
		t.Fatal(err)
	}
}
