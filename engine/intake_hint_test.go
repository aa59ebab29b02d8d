package engine_test

import (
	"context"
	"testing"
)

// TestStaleHintIsCheckedBeforeARefusal moves an episode's link in the
// index behind the intake's back (as only an operator or a bug could):
// a message refused on the pathway the intake remembered for the episode
// is tried again on the pathway the index names.
func TestStaleHintIsCheckedBeforeARefusal(t *testing.T) {
	s, in := setup(t)
	ctx := context.Background()
	first, err := in.Receive(ctx, msg("m1", "0102030405|stay-1|admit"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Receive(ctx, msg("m2", "0102030405|stay-1|discharge")); err != nil {
		t.Fatal(err)
	}
	second, err := in.Receive(ctx, msg("m3", "2509479989|stay-2|admit"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Index().LinkEpisode(ctx, "stay-1", second.Pathway); err != nil {
		t.Fatal(err)
	}
	// A second discharge breaks the rules on the first pathway (the
	// patient is no longer admitted there), not on the one the index has.
	out, err := in.Receive(ctx, msg("m4", "0102030405|stay-1|discharge"))
	if err != nil {
		t.Fatalf("got %v; want the discharge appended to the pathway the index names", err)
	}
	if out.Pathway != second.Pathway || out.Pathway == first.Pathway {
		t.Errorf("appended to %s; want %s (the index's), not %s (the stale hint)", out.Pathway, second.Pathway, first.Pathway)
	}
}
