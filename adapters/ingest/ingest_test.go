package ingest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

var (
	hospital = events.SOR("6620000000001")
	aarhus   = events.Kommune("0751")
	t0       = time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC)
)

// lineTranslator reads a tiny test format, "CPR|EPISODE|VERB[|ARG]", so the
// tests exercise the ingest's own steps; the real translators have their
// own golden tests.
func lineTranslator(body []byte) (*events.Translation, error) {
	f := strings.Split(string(body), "|")
	if len(f) < 3 {
		return nil, &events.MessageError{Code: "parse", Reason: "want CPR|EPISODE|VERB", Rejected: true}
	}
	tr := &events.Translation{
		Patient: events.Identity{CPR: f[0], Name: "Test Testesen"}, Episode: f[1], Hospital: hospital, Municipality: aarhus,
		Source: events.Source{System: "line", Org: hospital}, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
	}
	switch f[2] {
	case "admit":
		tr.Payloads = []events.Payload{&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient, Notified: aarhus}}
	case "discharge":
		tr.Payloads = []events.Payload{&events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: aarhus}}
	case "cancel-admit":
		tr.Cancels = &events.Cancel{Type: events.TypePatientAdmitted, Reason: "A11"}
	case "noop":
		// An update Stafet does not follow: nothing to append.
	case "merge":
		tr.MergedPatient = &events.Identity{CPR: f[3]}
	default:
		return nil, &events.MessageError{Code: "unknown-trigger", Field: "VERB", Reason: "unknown verb " + f[2]}
	}
	return tr, nil
}

func setup(t *testing.T) (*engine.Store, *ingest.Ingest) {
	t.Helper()
	s, err := engine.Open(context.Background(), engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, ingest.New(s, dir, map[string]ingest.Translator{"line": lineTranslator}, nil)
}

func msg(id, body string) engine.RawMessage {
	return engine.RawMessage{System: "line", Sender: "PAS", ControlID: id, Body: []byte(body)}
}

func types(t *testing.T, s *engine.Store, out ingest.Outcome) []events.Type {
	t.Helper()
	h, err := s.Log().Load(context.Background(), out.Pathway)
	if err != nil {
		t.Fatal(err)
	}
	var ts []events.Type
	for _, e := range h {
		ts = append(ts, e.Type)
	}
	return ts
}

func TestReceiveOpensAndDeduplicates(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	out, err := in.Receive(ctx, msg("m1", "0102030405|stay-1|admit"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := in.Receive(ctx, msg("m1", "0102030405|stay-1|admit"))
	if err != nil || !again.Result.Duplicate || again.RawSeq != out.RawSeq {
		t.Errorf("resend: got %+v, %v; want a duplicate", again.Result, err)
	}
	got := types(t, s, out)
	if len(got) != 2 || got[0] != events.TypePathwayOpened || got[1] != events.TypePatientAdmitted {
		t.Errorf("got %v; want [PathwayOpened PatientAdmitted]", got)
	}
	h, _ := s.Log().Load(ctx, out.Pathway)
	opened := h[0].Payload.(*events.PathwayOpened)
	if opened.Cluster != "aarhus" || opened.Identity == nil {
		t.Errorf("opened in cluster %q, identity sealed %v; want aarhus, sealed", opened.Cluster, opened.Identity != nil)
	}
	if opened.AgeBand != events.AgeOldest {
		t.Errorf("age band %q; want %q (CPR 0102030405: born 1903)", opened.AgeBand, events.AgeOldest)
	}
	id, err := s.Vault().Open(ctx, opened.Patient, opened.Identity)
	if err != nil || id.CPR != "0102030405" {
		t.Errorf("sealed identity: %v", err)
	}
	next, err := in.Receive(ctx, msg("m2", "0102030405|stay-1|discharge"))
	if err != nil || next.Pathway != out.Pathway {
		t.Errorf("second message: got pathway %s, %v; want %s", next.Pathway, err, out.Pathway)
	}
}

func TestDeadLetterAndReplay(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	t.Run("untranslatable, replayed with a corrected body", func(t *testing.T) {
		_, err := in.Receive(ctx, msg("bad-1", "0102030405|stay-9|admitt"))
		var ie *ingest.Error
		if !errors.As(err, &ie) || ie.DeadLetter.Code != "unknown-trigger" || ie.DeadLetter.Field != "VERB" {
			t.Fatalf("got %v; want a dead letter unknown-trigger at VERB", err)
		}
		list, _ := s.Inbox().DeadLetters(ctx)
		if len(list) != 1 {
			t.Fatalf("got %d dead letters; want 1", len(list))
		}
		if _, err := in.Replay(ctx, ie.DeadLetter.RawSeq, []byte("0102030405|stay-9|admit")); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.Inbox().DeadLetters(ctx); len(list) != 0 {
			t.Errorf("got %d dead letters after replay; want 0", len(list))
		}
	})
	t.Run("out of order, replayed after the admission", func(t *testing.T) {
		_, err := in.Receive(ctx, msg("d-1", "2509479989|stay-2|discharge"))
		var ie *ingest.Error
		if !errors.As(err, &ie) || ie.DeadLetter.Code != "rule:not-admitted" {
			t.Fatalf("got %v; want dead letter rule:not-admitted", err)
		}
		if _, err := in.Receive(ctx, msg("a-1", "2509479989|stay-2|admit")); err != nil {
			t.Fatal(err)
		}
		out, err := in.Replay(ctx, ie.DeadLetter.RawSeq, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := types(t, s, out); got[len(got)-1] != events.TypePatientDischarged {
			t.Errorf("got %v; want the discharge last", got)
		}
		if _, err := s.Inbox().DeadLetter(ctx, ie.DeadLetter.RawSeq); !errors.Is(err, engine.ErrNoDeadLetter) {
			t.Errorf("dead letter still there: %v", err)
		}
	})
}

func TestCancelAndMerge(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	out, _ := in.Receive(ctx, msg("c1", "0102030405|stay-1|admit"))
	if _, err := in.Receive(ctx, msg("c2", "0102030405|stay-1|cancel-admit")); err != nil {
		t.Fatal(err)
	}
	h, _ := s.Log().Load(ctx, out.Pathway)
	if p := events.Fold(h); p.Admitted() {
		t.Errorf("still admitted after A11; want the admission annulled")
	}
	other, _ := in.Receive(ctx, msg("c3", "2509479989|stay-7|admit"))
	merged, err := in.Receive(ctx, msg("c4", "0102030405|stay-1|merge|2509479989"))
	if err != nil {
		t.Fatal(err)
	}
	got := types(t, s, merged)
	if got[len(got)-1] != events.TypePatientIdentityMerged {
		t.Errorf("got %v; want a merge last", got)
	}
	// The merged patient's next message goes to the survivor's pathway.
	next, _ := in.Receive(ctx, msg("c5", "2509479989||discharge"))
	if next.Pathway != out.Pathway || next.Pathway == other.Pathway {
		t.Errorf("after merge: got pathway %s; want the survivor's %s", next.Pathway, out.Pathway)
	}
}

func TestMessageThatMeansNothing(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	out, err := in.Receive(ctx, msg("n1", "0102030405|stay-1|noop"))
	if err != nil {
		t.Fatalf("got %v; want it stored raw and accepted", err)
	}
	if _, err := s.Inbox().Message(ctx, out.RawSeq); err != nil {
		t.Errorf("raw message: %v", err)
	}
	if list, _ := s.Inbox().DeadLetters(ctx); len(list) != 0 {
		t.Errorf("got %d dead letters; want none", len(list))
	}
	if last, _ := s.Log().LastSeq(ctx); last != 0 {
		t.Errorf("log at %d; want nothing appended", last)
	}
}
