package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	odder    = events.Kommune("0727")
	t0       = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

func openStore(t *testing.T, cfg engine.Config) *engine.Store {
	t.Helper()
	if cfg.DataDir == "" && cfg.URL == "" {
		cfg.DataDir = t.TempDir()
	}
	s, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func patient(t testing.TB, cpr string) events.PatientRef {
	t.Helper()
	ps, err := events.NewPseudonymizer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	ref, err := ps.Ref(cpr)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func cmd(pw uuid.UUID, actor events.OrgID, at time.Time, ps ...events.Payload) events.Command {
	return events.Command{Pathway: pw, Actor: events.Actor{Org: actor}, OccurredAt: at, Payloads: ps}
}

// admitted opens a pathway, admits the patient and offers home care.
func admitted(t *testing.T, s *engine.Store) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	pw := events.NewID()
	steps := []events.Command{
		cmd(pw, hospital, t0, &events.PathwayOpened{Patient: patient(t, "0102030405"), Cluster: "aarhus", Municipality: aarhus}),
		cmd(pw, hospital, t0, &events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}),
		cmd(pw, hospital, t0.Add(time.Hour), &events.HandoffOffered{Offer: "o1", From: hospital, To: aarhus, What: events.HomeCare, Deadline: t0.Add(5 * time.Hour)}),
	}
	for _, c := range steps {
		if _, err := s.Log().Execute(ctx, c); err != nil {
			t.Fatalf("execute %T: %v", c.Payloads[0], err)
		}
	}
	return pw
}

func TestExecuteAndLoad(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	pw := admitted(t, s)
	res, err := s.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(2*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus}))
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstSeq != 4 || res.LastSeq != 4 || res.Duplicate {
		t.Errorf("got result %+v; want seq 4, not duplicate", res)
	}
	history, err := s.Log().Load(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted, events.TypeHandoffOffered, events.TypeHandoffAccepted}
	if len(history) != len(wantTypes) {
		t.Fatalf("got %d events; want %d", len(history), len(wantTypes))
	}
	for i, e := range history {
		if e.Type != wantTypes[i] || e.Seq != uint64(i+1) || e.RecordedAt.IsZero() {
			t.Errorf("event %d: got %s seq %d recorded %v; want %s seq %d", i, e.Type, e.Seq, e.RecordedAt, wantTypes[i], i+1)
		}
	}
	if got := events.Fold(history).Holder(events.HomeCare); got != aarhus {
		t.Errorf("home care holder: got %q; want %q", got, aarhus)
	}
	other, err := s.Log().Load(ctx, events.NewID())
	if err != nil || len(other) != 0 {
		t.Errorf("unknown pathway: got %d events, %v; want none", len(other), err)
	}
}

func TestExecuteRejects(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	pw := admitted(t, s)
	tests := []struct {
		name string
		cmd  events.Command
		want error
	}{
		{"unknown pathway", cmd(events.NewID(), aarhus, t0, &events.PatientDied{}), events.ErrUnknownPathway},
		{"not the addressee", cmd(pw, odder, t0, &events.HandoffAccepted{Offer: "o1", By: odder}), events.ErrRule},
		{"bad field", cmd(pw, aarhus, t0, &events.HandoffAccepted{Offer: "", By: aarhus}), &events.ValidationError{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.Log().LastSeq(ctx)
			_, err := s.Log().Execute(ctx, tt.cmd)
			var ve *events.ValidationError
			switch want := tt.want.(type) {
			case *events.ValidationError:
				if !errors.As(err, &ve) {
					t.Errorf("got %v; want a *ValidationError", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("got %v; want %v", err, want)
				}
			}
			if after, _ := s.Log().LastSeq(ctx); after != before {
				t.Errorf("log grew from %d to %d; want nothing appended", before, after)
			}
		})
	}
}

// Two stores on one server stand for two stafetd instances.
func TestTwoWriters(t *testing.T) {
	a := openStore(t, engine.Config{ListenAddr: "127.0.0.1:0"})
	b := peer(t, a)
	ctx := context.Background()
	pw := admitted(t, a)

	t.Run("one wins the raw append", func(t *testing.T) {
		last, _ := a.Log().LastSeq(ctx)
		mk := func(by events.OrgID) []events.Envelope {
			return []events.Envelope{{ID: events.NewID(), Pathway: pw, OccurredAt: t0, Payload: &events.DischargeExpected{Hospital: hospital, Expected: t0.Add(48 * time.Hour)}, Actor: events.Actor{Org: by}}}
		}
		_, errA := a.Log().Append(ctx, "aarhus", last, mk(hospital))
		_, errB := b.Log().Append(ctx, "aarhus", last, mk(hospital))
		if errA != nil || !errors.Is(errB, engine.ErrConflict) {
			t.Errorf("got %v and %v; want success and ErrConflict", errA, errB)
		}
	})
	t.Run("the other decides again on fresh state", func(t *testing.T) {
		// b caches the pathway, a moves it on, b's next command meets a
		// conflict, reloads and decides on what a wrote.
		if _, err := b.Log().Execute(ctx, cmd(pw, hospital, t0, &events.DischargeExpected{Hospital: hospital, Expected: t0.Add(72 * time.Hour)})); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(2*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus})); err != nil {
			t.Fatal(err)
		}
		_, err := b.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(3*time.Hour), &events.HandoffRejected{Offer: "o1", By: aarhus, Reason: "no capacity"}))
		var re *events.RuleError
		if !errors.As(err, &re) || re.Rule != "offer-not-pending" {
			t.Errorf("got %v; want rule offer-not-pending", err)
		}
	})
	t.Run("concurrent commands all land", func(t *testing.T) {
		errs := make(chan error, 20)
		for i := range 20 {
			s := a
			if i%2 == 1 {
				s = b
			}
			go func() {
				_, err := s.Log().Execute(ctx, cmd(pw, hospital, t0, &events.DocumentSent{Document: fmt.Sprintf("d%d", i), Kind: events.CareCommunication, From: hospital, To: aarhus}))
				errs <- err
			}()
		}
		for range 20 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		h, _ := a.Log().Load(ctx, pw)
		docs := 0
		for _, e := range h {
			if e.Type == events.TypeDocumentSent {
				docs++
			}
		}
		if docs != 20 {
			t.Errorf("got %d documents; want 20", docs)
		}
	})
}

func TestIdempotency(t *testing.T) {
	dir := t.TempDir()
	cfg := engine.Config{DataDir: dir, DuplicateWindow: time.Second}
	s := openStore(t, cfg)
	ctx := context.Background()
	pw := admitted(t, s)
	sent := cmd(pw, hospital, t0, &events.DocumentSent{Document: "msg-1", Kind: events.DischargeLetter, From: hospital, To: events.OrgID("yder:012345")})
	sent.Source = events.Source{System: "hl7v2", Org: hospital, MessageID: "MSG00001"}
	first, err := s.Log().Execute(ctx, sent)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, s *engine.Store) {
		t.Helper()
		res, err := s.Log().Execute(ctx, sent)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Duplicate || res.FirstSeq != first.FirstSeq {
			t.Errorf("got %+v; want a duplicate of seq %d", res, first.FirstSeq)
		}
		if last, _ := s.Log().LastSeq(ctx); last != first.LastSeq {
			t.Errorf("log at %d; want %d (nothing new)", last, first.LastSeq)
		}
	}
	t.Run("within the window", func(t *testing.T) { check(t, s) })
	time.Sleep(2500 * time.Millisecond)
	t.Run("after the window", func(t *testing.T) { check(t, s) })
	s.Close()
	t.Run("after a restart", func(t *testing.T) { check(t, openStore(t, cfg)) })
}

func TestCryptoShredding(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	ref := patient(t, "2509479989")
	sealed, err := s.Vault().Seal(ctx, ref, events.Identity{CPR: "2509479989", Name: "Bruno Test Elmer"})
	if err != nil {
		t.Fatal(err)
	}
	pw := events.NewID()
	if _, err := s.Log().Execute(ctx, cmd(pw, hospital, t0, &events.PathwayOpened{Patient: ref, Identity: sealed, Cluster: "aarhus"})); err != nil {
		t.Fatal(err)
	}
	read := func() (events.Identity, error) {
		h, err := s.Log().Load(ctx, pw)
		if err != nil {
			t.Fatal(err)
		}
		return s.Vault().Open(ctx, ref, h[0].Payload.(*events.PathwayOpened).Identity)
	}
	if id, err := read(); err != nil || id.CPR != "2509479989" {
		t.Fatalf("before shredding: got %v, %v; want the CPR", id.CPR == "2509479989", err)
	}
	if err := s.Vault().Shred(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := read(); !errors.Is(err, events.ErrShredded) {
		t.Errorf("after shredding: got %v; want ErrShredded", err)
	}
	var n countProjection
	if _, err := s.Log().Replay(ctx, engine.ReplayOptions{}, &n); err != nil || n.events != 1 {
		t.Errorf("replay after shredding: got %d events, %v; want 1", n.events, err)
	}
}

type countProjection struct{ events int }

func (c *countProjection) Apply(events.Envelope) error { c.events++; return nil }

func TestReplay(t *testing.T) {
	s := openStore(t, engine.Config{Durability: engine.Bulk})
	ctx := context.Background()
	const pathways = 300
	for range pathways {
		admitted(t, s)
	}
	var all countProjection
	order := &orderProjection{}
	st, err := s.Log().Replay(ctx, engine.ReplayOptions{}, &all, order)
	if err != nil {
		t.Fatal(err)
	}
	if all.events != 3*pathways || st.Events != 3*pathways || st.Done != 3*pathways {
		t.Errorf("got %d events, stats %+v; want %d", all.events, st, 3*pathways)
	}
	if order.err != nil {
		t.Error(order.err)
	}
	var tail countProjection
	if _, err := s.Log().Replay(ctx, engine.ReplayOptions{From: 101, To: 200}, &tail); err != nil || tail.events != 100 {
		t.Errorf("partial replay: got %d, %v; want 100", tail.events, err)
	}
}

type orderProjection struct {
	last uint64
	err  error
}

func (o *orderProjection) Apply(e events.Envelope) error {
	if e.Seq != o.last+1 && o.err == nil {
		o.err = fmt.Errorf("got seq %d after %d; want %d", e.Seq, o.last, o.last+1)
	}
	o.last = e.Seq
	return nil
}

func TestAtomicMultiEventAppend(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	pw := admitted(t, s)
	three := func() []events.Envelope {
		var out []events.Envelope
		for i := range 3 {
			out = append(out, events.Envelope{ID: events.NewID(), Pathway: pw, OccurredAt: t0, Actor: events.Actor{Org: hospital},
				Payload: &events.DocumentSent{Document: fmt.Sprintf("b%d", i), Kind: events.CareCommunication, From: hospital, To: aarhus}})
		}
		return out
	}
	last, _ := s.Log().LastSeq(ctx)
	t.Run("a stale expectation writes none", func(t *testing.T) {
		if _, err := s.Log().Append(ctx, "aarhus", last-1, three()); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("got %v; want ErrConflict", err)
		}
		if now, _ := s.Log().LastSeq(ctx); now != last {
			t.Errorf("log at %d; want %d", now, last)
		}
	})
	t.Run("fresh expectation writes all", func(t *testing.T) {
		res, err := s.Log().Append(ctx, "aarhus", last, three())
		if err != nil {
			t.Fatal(err)
		}
		// The events of one command are one stored message: one sequence.
		if res.FirstSeq != last+1 || res.LastSeq != last+1 || res.Events[2].Seq != last+1 {
			t.Errorf("got seqs %d..%d; want all at %d", res.FirstSeq, res.LastSeq, last+1)
		}
		h, _ := s.Log().Load(ctx, pw)
		if n := len(h); h[n-1].Seq != last+1 || h[n-3].Seq != last+1 {
			t.Errorf("loaded: got the last three at %d, %d; want %d", h[n-3].Seq, h[n-1].Seq, last+1)
		}
	})
	t.Run("a command with a broken rule writes none", func(t *testing.T) {
		before, _ := s.Log().LastSeq(ctx)
		c := cmd(pw, hospital, t0,
			&events.DocumentSent{Document: "ok", Kind: events.CareCommunication, From: hospital, To: aarhus},
			&events.HandoffWithdrawn{Offer: "nope", By: hospital})
		if _, err := s.Log().Execute(ctx, c); !errors.Is(err, events.ErrRule) {
			t.Fatalf("got %v; want a rule error", err)
		}
		if now, _ := s.Log().LastSeq(ctx); now != before {
			t.Errorf("log at %d; want %d", now, before)
		}
	})
	t.Run("a multi-event command lands whole", func(t *testing.T) {
		c := cmd(pw, hospital, t0.Add(3*time.Hour),
			&events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: aarhus},
			&events.HandoffOffered{Offer: "o2", From: hospital, To: events.OrgID("yder:012345"), What: events.GPFollowUp})
		c.Source = events.Source{System: "test", Org: hospital, MessageID: "multi-1"}
		res, err := s.Log().Execute(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.Log().Execute(ctx, c)
		if err != nil || !again.Duplicate || again.FirstSeq != res.FirstSeq {
			t.Errorf("resend: got %+v, %v; want duplicate of %d", again, err, res.FirstSeq)
		}
		h, _ := s.Log().Load(ctx, pw)
		if n := len(h); h[n-2].Type != events.TypePatientDischarged || h[n-1].Type != events.TypeHandoffOffered {
			t.Errorf("got last types %s, %s", h[n-2].Type, h[n-1].Type)
		}
	})
}

// The state cache keeps pathways without their history; a Correction
// needs it, so Execute folds the history for one and the state after it
// is right.
func TestCorrectionAfterCachedState(t *testing.T) {
	s := openStore(t, engine.Config{StateCache: 2})
	ctx := context.Background()
	pw := admitted(t, s)
	acc, err := s.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(2*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(3*time.Hour), &events.Correction{Annuls: acc.Events[0].ID, Reason: "wrong team"})); err != nil {
		t.Fatalf("correction: %v", err)
	}
	// The offer is pending again: accepting it a second time is allowed.
	if _, err := s.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(4*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus})); err != nil {
		t.Fatalf("accept after the correction: %v", err)
	}
	// More pathways than the cache holds: the first is loaded again.
	for i := 0; i < 3; i++ {
		admitted(t, s)
	}
	_, err = s.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(5*time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus}))
	if !errors.Is(err, events.ErrRule) {
		t.Errorf("third acceptance: got %v; want a rule error", err)
	}
}
