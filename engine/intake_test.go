package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// lineTranslator reads a tiny test format, "CPR|EPISODE|VERB[|ARG]", so the
// tests exercise the intake's own steps; the real translators have their
// own golden tests.
func lineTranslator(m engine.RawMessage) (*events.Translation, error) {
	f := strings.Split(string(m.Body), "|")
	if len(f) < 3 {
		return nil, &events.MessageError{Code: "parse", Reason: "want CPR|EPISODE|VERB", Rejected: true}
	}
	// A last field "by=ORG" names the sending hospital; by default
	// hospital.
	hospital := hospital
	if by, ok := strings.CutPrefix(f[len(f)-1], "by="); ok {
		hospital, f = events.OrgID(by), f[:len(f)-1]
	}
	tr := &events.Translation{
		Patient: identity(f[0]), Episode: f[1], Hospital: hospital, Municipality: aarhus,
		Source: events.Source{System: "line", Org: hospital}, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
	}
	switch f[2] {
	case "admit":
		tr.Payloads = []events.Payload{&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient, Notified: aarhus}}
	case "discharge":
		tr.Payloads = []events.Payload{&events.PatientDischarged{Hospital: hospital, Destination: events.DestHomeWithServices, To: aarhus}}
	case "die":
		tr.Payloads = []events.Payload{&events.PatientDied{Place: hospital}}
	case "cancel-admit":
		tr.Cancels = &events.Cancel{Type: events.TypePatientAdmitted, Reason: "A11"}
	case "close":
		tr.Payloads = []events.Payload{&events.PathwayClosed{Reason: "completed"}}
	case "noop":
		// An update Stafet does not follow: nothing to append.
	case "merge", "unlink":
		other := identity(f[3])
		tr.MergedPatient, tr.MergeReason, tr.Unlink = &other, "test "+f[2], f[2] == "unlink"
	case "note-both":
		// A document naming the patient by both numbers, as a MedCom
		// Patient may.
		tr.Payloads = []events.Payload{&events.DocumentSent{Document: "doc-" + f[3], Kind: events.CareCommunication, From: hospital, To: aarhus}}
		other := identity(f[3])
		tr.MergedPatient = &other
	default:
		return nil, &events.MessageError{Code: "unknown-trigger", Field: "VERB", Reason: "unknown verb " + f[2]}
	}
	return tr, nil
}

// identity reads a patient: a CPR number, or "R:" and a national
// replacement number.
func identity(s string) events.Identity {
	if n, ok := strings.CutPrefix(s, "R:"); ok {
		return events.Identity{Replacement: events.ReplacementCPR{Issuer: events.ReplacementNational, Number: n}, Name: "Ukendt"}
	}
	return events.Identity{CPR: s, Name: "Test Testesen"}
}

// lineIntake runs the intake with the line translator.
type lineIntake struct{ *engine.Intake }

func (in lineIntake) Receive(ctx context.Context, m engine.RawMessage) (engine.Outcome, error) {
	return in.Intake.Receive(ctx, m, lineTranslator)
}

func (in lineIntake) Replay(ctx context.Context, seq uint64, body []byte) (engine.Outcome, error) {
	return in.Intake.Replay(ctx, seq, body, lineTranslator)
}

func setup(t *testing.T) (*engine.Store, lineIntake) {
	t.Helper()
	s := openStore(t, engine.Config{})
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, lineIntake{s.NewIntake(dir, nil)}
}

func msg(id, body string) engine.RawMessage {
	return engine.RawMessage{System: "line", Sender: "PAS", ControlID: id, Body: []byte(body)}
}

func types(t *testing.T, s *engine.Store, out engine.Outcome) []events.Type {
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
		var ie *engine.DeadLetterError
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
		var ie *engine.DeadLetterError
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
	if got[len(got)-1] != events.TypePatientIdentityLinked {
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

// opening returns the PathwayOpened of an outcome's pathway.
func opening(t *testing.T, s *engine.Store, out engine.Outcome) *events.PathwayOpened {
	t.Helper()
	h, err := s.Log().Load(context.Background(), out.Pathway)
	if err != nil || len(h) == 0 {
		t.Fatalf("load %s: %d events, %v", out.Pathway, len(h), err)
	}
	return h[0].Payload.(*events.PathwayOpened)
}

// TestReadmission follows a patient admitted, discharged and closed, then
// admitted again: the closed pathway released the patient, and the new
// admission opens a second pathway that names the first.
func TestReadmission(t *testing.T) {
	ctx := context.Background()
	receive := func(t *testing.T, in lineIntake, id, body string) engine.Outcome {
		t.Helper()
		out, err := in.Receive(ctx, msg(id, body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		return out
	}
	closedStay := func(t *testing.T, in lineIntake) engine.Outcome {
		t.Helper()
		first := receive(t, in, "r1", "0102030405|stay-1|admit")
		receive(t, in, "r2", "0102030405|stay-1|discharge")
		receive(t, in, "r3", "0102030405|stay-1|close")
		return first
	}
	t.Run("a new episode after the close opens a pathway that follows the first", func(t *testing.T) {
		s, in := setup(t)
		first := closedStay(t, in)
		again := receive(t, in, "r4", "0102030405|stay-2|admit")
		if again.Pathway == first.Pathway {
			t.Fatalf("readmission appended to the closed pathway %s; want a new one", first.Pathway)
		}
		if got := opening(t, s, again).Previous; got != first.Pathway {
			t.Errorf("previous: got %s; want %s", got, first.Pathway)
		}
		if got := types(t, s, again); len(got) != 2 || got[1] != events.TypePatientAdmitted {
			t.Errorf("got %v; want [PathwayOpened PatientAdmitted]", got)
		}
		next := receive(t, in, "r5", "0102030405||discharge")
		if next.Pathway != again.Pathway {
			t.Errorf("the patient's next message went to %s; want the new pathway %s", next.Pathway, again.Pathway)
		}
		if got := opening(t, s, first).Previous; got != uuid.Nil {
			t.Errorf("the first pathway names a previous one, %s; want none", got)
		}
	})
	t.Run("a message of the closed stay's episode is refused", func(t *testing.T) {
		_, in := setup(t)
		closedStay(t, in)
		_, err := in.Receive(ctx, msg("r6", "0102030405|stay-1|admit"))
		var de *engine.DeadLetterError
		if !errors.As(err, &de) || de.DeadLetter.Code != "rule:closed" {
			t.Errorf("got %v; want a dead letter rule:closed", err)
		}
	})
	t.Run("an entry closed before the mark existed is marked by the readmission", func(t *testing.T) {
		s, in := setup(t)
		first := closedStay(t, in)
		// As the index held a closed pathway before closing marked it.
		ref := opening(t, s, first).Patient
		if err := s.Index().SetPatient(ctx, ref, first.Pathway); err != nil {
			t.Fatal(err)
		}
		again := receive(t, in, "r7", "0102030405|stay-3|admit")
		if again.Pathway == first.Pathway || opening(t, s, again).Previous != first.Pathway {
			t.Errorf("got pathway %s following %s; want a new one following %s", again.Pathway, opening(t, s, again).Previous, first.Pathway)
		}
	})
	t.Run("an admission while the pathway is open joins it", func(t *testing.T) {
		_, in := setup(t)
		first := receive(t, in, "o1", "0102030405|stay-1|admit")
		receive(t, in, "o2", "0102030405|stay-1|discharge")
		again := receive(t, in, "o3", "0102030405|stay-2|admit")
		if again.Pathway != first.Pathway {
			t.Errorf("got pathway %s; want the open one %s", again.Pathway, first.Pathway)
		}
	})
	t.Run("a close annulled takes the patient back", func(t *testing.T) {
		s, in := setup(t)
		first := closedStay(t, in)
		h, _ := s.Log().Load(ctx, first.Pathway)
		closing := h[len(h)-1]
		if closing.Type != events.TypePathwayClosed {
			t.Fatalf("last event %s; want PathwayClosed", closing.Type)
		}
		if _, err := s.Log().Execute(ctx, events.Command{
			Pathway: first.Pathway, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
			Payloads: []events.Payload{&events.Correction{Annuls: closing.ID, Reason: "closed by mistake"}},
		}); err != nil {
			t.Fatal(err)
		}
		again := receive(t, in, "r8", "0102030405|stay-4|admit")
		if again.Pathway != first.Pathway {
			t.Errorf("got pathway %s; want the reopened one %s", again.Pathway, first.Pathway)
		}
	})
}

// TestNewPatientCommitsOnce: in safe mode a new patient's first message
// waits for one group commit, as a known patient's does. The patient's
// key, made to seal the raw message, is synced by the commit before the
// message is acknowledged; waiting for a sync of its own first doubled
// the fsync latency of every new patient's message.
func TestNewPatientCommitsOnce(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	for i, body := range []string{"0102030405|stay-1|admit", "0102030405|stay-1|discharge"} {
		before := s.CommitWaits()
		if _, err := in.Receive(ctx, msg(fmt.Sprintf("c%d", i), body)); err != nil {
			t.Fatal(err)
		}
		if got := s.CommitWaits() - before; got != 1 {
			t.Errorf("message %d (%s) waited for %d commits; want 1", i, body, got)
		}
	}
}
