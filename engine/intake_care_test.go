package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestCareRuleAtTheIntake: the intake holds every inbound message to the
// care relationship rule. A non-party's death, discharge or cancellation
// is a dead letter rule:not-party and appends nothing; its admission joins
// the pathway and is in the access log under every party before it; a
// join of two identities needs a sender in the patient's care on one of
// them.
func TestCareRuleAtTheIntake(t *testing.T) {
	ctx := context.Background()
	s, in := setup(t)
	other := "by=sor:6620000000009"
	held := receive(t, in, "c1", realCPR+"|stay-1|admit")

	for _, c := range []struct{ name, body string }{
		{"a death", realCPR + "||die|" + other},
		{"a discharge", realCPR + "||discharge|" + other},
		{"a cancellation", realCPR + "||cancel-admit|" + other},
	} {
		t.Run(c.name+" from a non-party is a dead letter", func(t *testing.T) {
			before := types(t, s, held)
			_, err := in.Receive(ctx, msg("x-"+c.name, c.body))
			var dl *engine.DeadLetterError
			if !errors.As(err, &dl) || dl.DeadLetter.Code != "rule:"+events.RuleNotParty {
				t.Fatalf("got %v; want a dead letter rule:%s", err, events.RuleNotParty)
			}
			if after := types(t, s, held); len(after) != len(before) {
				t.Errorf("the pathway went from %d to %d events; want nothing appended", len(before), len(after))
			}
		})
	}
	t.Run("an admission from a non-party joins, recorded under every party", func(t *testing.T) {
		out := receive(t, in, "c2", realCPR+"|stay-2|admit|"+other)
		if out.Pathway != held.Pathway {
			t.Fatalf("pathway %s; want the patient's %s", out.Pathway, held.Pathway)
		}
		if got := types(t, s, out); got[len(got)-1] != events.TypePatientTransferred {
			t.Errorf("events %v; want the admission elsewhere taken as a transfer", got)
		}
		parties := joinsRecorded(t, s, held.Pathway, "sor:6620000000009")
		if !slices.Equal(parties, []events.OrgID{aarhus, hospital}) {
			t.Errorf("join recorded under %v; want %v", parties, []events.OrgID{aarhus, hospital})
		}
	})
	t.Run("a join of identities by a sender in the care of neither is refused", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "h1", replacement+"|stay-r|admit")
		c := receive(t, in, "h2", realCPR+"|stay-c|admit")
		_, err := in.Receive(ctx, msg("h3", realCPR+"||merge|"+replacement+"|by=sor:6620000000009"))
		var dl *engine.DeadLetterError
		if !errors.As(err, &dl) || dl.DeadLetter.Code != "rule:"+events.RuleNotParty {
			t.Fatalf("got %v; want a dead letter rule:%s", err, events.RuleNotParty)
		}
		for _, pw := range []uuid.UUID{r.Pathway, c.Pathway} {
			if l := lastLink(t, s, pw); l != nil {
				t.Errorf("pathway %s got a link %+v; want none", pw, l)
			}
		}
	})
	t.Run("a join of identities by the hospital caring for one joins the other", func(t *testing.T) {
		s, in := setup(t)
		r := receive(t, in, "g1", replacement+"|stay-r|admit|"+other)
		c := receive(t, in, "g2", realCPR+"|stay-c|admit")
		receive(t, in, "g3", realCPR+"||merge|"+replacement+"|"+other)
		if l := lastLink(t, s, c.Pathway); l == nil || l.Joined != r.Pathway {
			t.Fatalf("link on the CPR number's pathway %+v; want one naming %s", l, r.Pathway)
		}
		if parties := joinsRecorded(t, s, c.Pathway, "sor:6620000000009"); len(parties) == 0 {
			t.Error("no join in the access log; want it under the CPR pathway's parties")
		}
	})
}

// joinsRecorded returns the parties under which the access log records a
// join of pathway by reader.
func joinsRecorded(t *testing.T, s *engine.Store, pathway uuid.UUID, reader string) []events.OrgID {
	t.Helper()
	b, err := s.Access().Batch(context.Background(), engine.AccessQuery{Filter: engine.AccessSubjects, Batch: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.OrgID
	for _, r := range b.Records {
		if r.Record.Pathway == pathway && r.Record.Reader == reader && r.Record.Allowed && len(r.Record.What) > 5 && r.Record.What[:5] == "join/" {
			out = append(out, r.Party)
		}
	}
	slices.Sort(out)
	return out
}
