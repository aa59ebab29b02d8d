package engine_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

const (
	replacement = "R:0703921VJ4"
	realCPR     = "2509479989"
)

// lastLink returns the pathway's last PatientIdentityLinked, or nil.
func lastLink(t *testing.T, s *engine.Store, pw uuid.UUID) *events.PatientIdentityLinked {
	t.Helper()
	h, err := s.Log().Load(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(h) - 1; i >= 0; i-- {
		if l, ok := h[i].Payload.(*events.PatientIdentityLinked); ok {
			return l
		}
	}
	return nil
}

func receive(t *testing.T, in lineIntake, id, body string) engine.Outcome {
	t.Helper()
	out, err := in.Receive(context.Background(), msg(id, body))
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return out
}

// TestJoin: a replacement CPR number linked to a CPR number (HL7 A47)
// joins the two identities' pathways by an event on each, and the patient
// index finds the surviving pathway by either; a resend is appended once;
// an unlink (A37) undoes it.
func TestJoin(t *testing.T) {
	ctx := context.Background()
	t.Run("only the replacement number has a pathway: it becomes the patient's", func(t *testing.T) {
		s, in := setup(t)
		stay := receive(t, in, "j1", replacement+"|stay-r|admit")
		link := receive(t, in, "j2", realCPR+"||merge|"+replacement)
		if link.Pathway != stay.Pathway {
			t.Fatalf("joined on %s; want the replacement's pathway %s", link.Pathway, stay.Pathway)
		}
		if l := lastLink(t, s, stay.Pathway); l == nil || l.Joined != uuid.Nil {
			t.Errorf("link %+v; want one naming no other pathway", l)
		}
		next := receive(t, in, "j3", realCPR+"||discharge")
		if next.Pathway != stay.Pathway || types(t, s, next)[len(types(t, s, next))-1] != events.TypePatientDischarged {
			t.Errorf("the CPR number's discharge went to %s; want the stay's pathway %s", next.Pathway, stay.Pathway)
		}
	})
	t.Run("both have pathways: each records the join, naming the other", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "k1", replacement+"|stay-r|admit")
		c := receive(t, in, "k2", realCPR+"|stay-c|admit")
		link := receive(t, in, "k3", realCPR+"||merge|"+replacement)
		if link.Pathway != c.Pathway {
			t.Errorf("survivor %s; want the CPR number's pathway %s", link.Pathway, c.Pathway)
		}
		if l := lastLink(t, s, c.Pathway); l == nil || l.Joined != r.Pathway {
			t.Errorf("on the CPR number's pathway: %+v; want a link naming %s", l, r.Pathway)
		}
		if l := lastLink(t, s, r.Pathway); l == nil || l.Joined != c.Pathway {
			t.Errorf("on the replacement's pathway: %+v; want a link naming %s", l, c.Pathway)
		}
		before, _ := s.Log().LastSeq(ctx)
		if again := receive(t, in, "k3", realCPR+"||merge|"+replacement); again.Pathway != c.Pathway {
			t.Errorf("resend: pathway %s", again.Pathway)
		}
		if after, _ := s.Log().LastSeq(ctx); after != before {
			t.Errorf("the resend appended (%d → %d); want nothing", before, after)
		}
		if again := receive(t, in, "k3b", realCPR+"||merge|"+replacement); again.Pathway != c.Pathway {
			t.Errorf("the same join from another message: pathway %s", again.Pathway)
		}
		if after, _ := s.Log().LastSeq(ctx); after != before {
			t.Errorf("the same join again appended (%d → %d); want nothing", before, after)
		}
		if next := receive(t, in, "k4", replacement+"||noop"); next.Pathway != uuid.Nil {
			t.Errorf("a message that means nothing got pathway %s", next.Pathway)
		}
		ref, _ := s.Vault().Patient(identity(replacement))
		if pw, _, _ := s.Index().Patient(ctx, ref); pw != c.Pathway {
			t.Errorf("the replacement number finds %s; want the survivor %s", pw, c.Pathway)
		}

		unlink := receive(t, in, "k5", realCPR+"||unlink|"+replacement)
		if unlink.Pathway == uuid.Nil {
			t.Fatal("the unlink appended nothing")
		}
		for _, pw := range []uuid.UUID{c.Pathway, r.Pathway} {
			h, _ := s.Log().Load(ctx, pw)
			if _, linked := events.Fold(h).Linked(ref); pw == c.Pathway && linked {
				t.Errorf("pathway %s still links the replacement number", pw)
			}
			if got := h[len(h)-1].Type; got != events.TypeCorrection {
				t.Errorf("pathway %s ends with %s; want the Correction of its link", pw, got)
			}
		}
		if pw, _, _ := s.Index().Patient(ctx, ref); pw != r.Pathway {
			t.Errorf("after the unlink the replacement number finds %s; want its own pathway %s", pw, r.Pathway)
		}
	})
	t.Run("an operator's Correction of the link undoes it as A37 does", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "o1", replacement+"|stay-r|admit")
		c := receive(t, in, "o2", realCPR+"|stay-c|admit")
		receive(t, in, "o3", realCPR+"||merge|"+replacement)
		h, _ := s.Log().Load(ctx, c.Pathway)
		if h[len(h)-1].Type != events.TypePatientIdentityLinked {
			t.Fatalf("last event %s; want the link", h[len(h)-1].Type)
		}
		if _, err := s.Log().Execute(ctx, events.Command{
			Pathway: c.Pathway, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
			Payloads: []events.Payload{&events.Correction{Annuls: h[len(h)-1].ID, Reason: "linked in error"}},
		}); err != nil {
			t.Fatal(err)
		}
		if next := receive(t, in, "o4", replacement+"||discharge"); next.Pathway != r.Pathway {
			t.Errorf("the replacement number's discharge went to %s; want its own pathway %s", next.Pathway, r.Pathway)
		}
		if next := receive(t, in, "o5", realCPR+"||discharge"); next.Pathway != c.Pathway {
			t.Errorf("the CPR number's discharge went to %s; want its own pathway %s", next.Pathway, c.Pathway)
		}
	})
	t.Run("an operator's Correction of a link to no other pathway: the identity starts afresh", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "p1", replacement+"|stay-r|admit")
		receive(t, in, "p2", realCPR+"||merge|"+replacement)
		h, _ := s.Log().Load(ctx, r.Pathway)
		if _, err := s.Log().Execute(ctx, events.Command{
			Pathway: r.Pathway, Actor: events.Actor{Org: hospital}, OccurredAt: t0,
			Payloads: []events.Payload{&events.Correction{Annuls: h[len(h)-1].ID, Reason: "linked in error"}},
		}); err != nil {
			t.Fatal(err)
		}
		next := receive(t, in, "p3", realCPR+"|stay-c|admit")
		if next.Pathway == r.Pathway {
			t.Fatalf("the CPR number still goes to the replacement's pathway")
		}
		h, _ = s.Log().Load(ctx, next.Pathway)
		if o, _ := h[0].Payload.(*events.PathwayOpened); o == nil || o.Previous != uuid.Nil {
			t.Errorf("opened %+v; want a pathway of its own, no readmission", o)
		}
	})
	t.Run("the joined pathway closes: either number's next message opens the readmission", func(t *testing.T) {
		s, in := setup(t)
		stay := receive(t, in, "z1", replacement+"|stay-r|admit")
		receive(t, in, "z2", realCPR+"||merge|"+replacement)
		receive(t, in, "z3", realCPR+"||close")
		for _, who := range []string{replacement, realCPR} {
			next := receive(t, in, "z4"+who, who+"|stay-"+who+"|admit")
			if next.Pathway == stay.Pathway {
				t.Fatalf("%s: went to the closed pathway", who)
			}
			h, _ := s.Log().Load(ctx, next.Pathway)
			o, _ := h[0].Payload.(*events.PathwayOpened)
			if o == nil || o.Previous != stay.Pathway {
				t.Errorf("%s: opened %+v; want a readmission following %s", who, o, stay.Pathway)
			}
		}
	})
	t.Run("a closed pathway does not join", func(t *testing.T) {
		s, in := setup(t)
		receive(t, in, "y1", replacement+"|stay-r|admit")
		closed := receive(t, in, "y2", replacement+"||close")
		out := receive(t, in, "y3", realCPR+"||merge|"+replacement)
		if out.Pathway != uuid.Nil || lastLink(t, s, closed.Pathway) != nil {
			t.Errorf("joined on %s; want nothing joined", out.Pathway)
		}
	})
	t.Run("neither has a pathway: nothing to join", func(t *testing.T) {
		s, in := setup(t)
		out := receive(t, in, "n1", realCPR+"||merge|"+replacement)
		if out.Pathway != uuid.Nil {
			t.Errorf("got pathway %s; want none opened", out.Pathway)
		}
		if seq, _ := s.Log().LastSeq(ctx); seq != 0 {
			t.Errorf("the log holds %d events; want none", seq)
		}
	})
	t.Run("a document naming both numbers lands and joins", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "d1", replacement+"|stay-r|admit")
		doc := receive(t, in, "d2", realCPR+"||note-both|"+replacement)
		got := types(t, s, doc)
		if !slices.Contains(got, events.TypeDocumentSent) || !slices.Contains(got, events.TypePatientIdentityLinked) {
			t.Errorf("got %v; want the document and the join on one pathway", got)
		}
		if l := lastLink(t, s, r.Pathway); l == nil || l.Joined != doc.Pathway {
			t.Errorf("the replacement's pathway: %+v; want a link naming %s", l, doc.Pathway)
		}
	})
}
