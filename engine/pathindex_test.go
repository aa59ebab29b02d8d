package engine_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestReservePathwaySeals checks that whoever is told to open a patient's
// pathway seals the identity under the key the store keeps, whether the
// reservation created that key, found one, or raced another caller.
func TestReservePathwaySeals(t *testing.T) {
	ctx := context.Background()
	id := events.Identity{CPR: "0102030405", Name: "Test Testesen"}
	tests := []struct {
		name    string
		callers int
		// before prepares the patient: a key made earlier, a released
		// pathway.
		before func(t *testing.T, s *engine.Store, ref events.PatientRef)
	}{
		{name: "new patient", callers: 1},
		{name: "new patient, racing callers", callers: 8},
		{name: "patient with a key", callers: 1, before: func(t *testing.T, s *engine.Store, ref events.PatientRef) {
			if _, err := s.Vault().Seal(ctx, ref, id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "released pathway", callers: 3, before: func(t *testing.T, s *engine.Store, ref events.PatientRef) {
			r, err := s.Index().Reserve(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Index().ReleasePatient(ctx, ref, r.Pathway); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, engine.Config{})
			ref := patient(t, id.CPR)
			if tt.before != nil {
				tt.before(t, s, ref)
			}
			got := make([]*engine.Reservation, tt.callers)
			sealed := make([]*events.SealedIdentity, tt.callers)
			var wg sync.WaitGroup
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := s.Index().Reserve(ctx, ref)
					if err != nil {
						t.Error(err)
						return
					}
					got[i] = r
					if sealed[i], err = r.SealIdentity(ctx, id); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			created := 0
			for i, r := range got {
				if r.Pathway != got[0].Pathway {
					t.Errorf("caller %d: got pathway %s; want %s, the same for all", i, r.Pathway, got[0].Pathway)
				}
				if r.New {
					created++
				}
				if back, err := s.Vault().Open(ctx, ref, sealed[i]); err != nil || back != id {
					t.Errorf("caller %d: identity sealed under another key than the stored one: %v", i, err)
				}
			}
			if created != 1 {
				t.Errorf("%d callers were told to open the pathway; want 1", created)
			}
			again, err := s.Index().Reserve(ctx, ref)
			if err != nil || again.New || again.Pathway != got[0].Pathway {
				t.Errorf("later: got %+v, %v; want the reserved pathway %s, not new", again, err, got[0].Pathway)
			}
		})
	}
}

func TestReservePathwayRejectsABadPseudonym(t *testing.T) {
	s := openStore(t, engine.Config{})
	if _, err := s.Index().Reserve(context.Background(), "p.>"); err == nil {
		t.Error("got no error; want the pseudonym refused before it reaches a subject")
	}
}

// TestSendRaw sends the same message from several goroutines at once:
// one stores it, the others are told it is a duplicate of that copy.
func TestSendRaw(t *testing.T) {
	s := openStore(t, engine.Config{})
	ctx := context.Background()
	m := engine.RawMessage{System: "hl7v2", Sender: "PAS^AUH", ControlID: "C1", Body: []byte("MSH|^~\\&|PAS|AUH")}
	const n = 6
	got := make([]engine.StoredRaw, n)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := s.Inbox().Send(ctx, m)
			if err != nil {
				t.Error(err)
				return
			}
			if got[i], err = p.Wait(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	first := 0
	for i := range got {
		if got[i].Seq != got[0].Seq {
			t.Errorf("copy %d at %d; want every copy to point at %d", i, got[i].Seq, got[0].Seq)
		}
		if !got[i].Duplicate {
			first++
		}
	}
	if first != 1 {
		t.Errorf("%d copies stored as new; want 1", first)
	}
	if _, err := s.Inbox().Send(ctx, engine.RawMessage{System: "hl7v2"}); err == nil {
		t.Error("no control id: got no error")
	}
}
