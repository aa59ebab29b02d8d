package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// ResolvePathway finds the pathway an inbound message belongs to: the one
// its episode of care (the LPR3 stay id, HL7 PV1-19) is linked to, else
// the patient's open pathway, else a new pathway id reserved for the
// patient (isNew: the caller opens it). Concurrent callers for the same
// new patient get the same id: the reservation is an atomic create.
func (s *Store) ResolvePathway(ctx context.Context, patient events.PatientRef, episode string) (id uuid.UUID, isNew bool, err error) {
	if episode != "" {
		if id, ok, err := s.indexGet(ctx, episodeKey(episode)); err != nil || ok {
			return id, false, err
		}
	}
	id, ok, err := s.indexGet(ctx, patientKey(patient))
	if err != nil {
		return uuid.Nil, false, err
	}
	if !ok {
		id, isNew = events.NewID(), true
		if _, err := s.pathIdx.Create(ctx, patientKey(patient), id[:]); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				return uuid.Nil, false, fmt.Errorf("engine: pathway index: %w", err)
			}
			// Another writer reserved it first; a replica may not have its
			// entry yet, so read until it does.
			if id, err = s.indexGetSoon(ctx, patientKey(patient)); err != nil {
				return uuid.Nil, false, err
			}
			isNew = false
		}
	}
	if episode != "" {
		if err := s.LinkEpisode(ctx, episode, id); err != nil {
			return uuid.Nil, false, err
		}
	}
	return id, isNew, nil
}

// LinkEpisode links an episode of care to a pathway.
func (s *Store) LinkEpisode(ctx context.Context, episode string, pathway uuid.UUID) error {
	if _, err := s.pathIdx.Put(ctx, episodeKey(episode), pathway[:]); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// LinkDocument records which pathway a document (a MedCom message, a
// discharge letter) belongs to, so an acknowledgement — which names the
// document but not the patient — finds it.
func (s *Store) LinkDocument(ctx context.Context, document string, pathway uuid.UUID) error {
	if _, err := s.pathIdx.Put(ctx, documentKey(document), pathway[:]); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// DocumentPathway returns the pathway a document belongs to.
func (s *Store) DocumentPathway(ctx context.Context, document string) (uuid.UUID, bool, error) {
	return s.indexGet(ctx, documentKey(document))
}

// PatientPathway returns the patient's open pathway, if any.
func (s *Store) PatientPathway(ctx context.Context, patient events.PatientRef) (uuid.UUID, bool, error) {
	return s.indexGet(ctx, patientKey(patient))
}

// SetPatientPathway points a patient at a pathway (after a merge, the
// merged patient's messages go to the survivor's pathway).
func (s *Store) SetPatientPathway(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	if _, err := s.pathIdx.Put(ctx, patientKey(patient), pathway[:]); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// ReleasePatient forgets a patient's open pathway when it closes, so the
// patient's next admission opens a new one.
func (s *Store) ReleasePatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	e, err := s.pathIdx.Get(ctx, patientKey(patient))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	if uuid.UUID(e.Value()) != pathway {
		return nil
	}
	if err := s.pathIdx.Delete(ctx, patientKey(patient), jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// indexGetSoon reads a key that is known to exist: a KV read may be
// answered by a replica that has not applied the write yet.
func (s *Store) indexGetSoon(ctx context.Context, key string) (uuid.UUID, error) {
	for attempt := 0; ; attempt++ {
		id, ok, err := s.indexGet(ctx, key)
		if err != nil || ok {
			return id, err
		}
		if attempt == 50 {
			return uuid.Nil, fmt.Errorf("engine: pathway index %s: written by another instance but not readable after 5 s", key)
		}
		select {
		case <-ctx.Done():
			return uuid.Nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Store) indexGet(ctx context.Context, key string) (uuid.UUID, bool, error) {
	e, err := s.pathIdx.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("engine: pathway index: %w", err)
	}
	id, err := uuid.FromBytes(e.Value())
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("engine: pathway index %s: %w", key, err)
	}
	return id, true, nil
}

// The patient key is the pseudonym (no CPR); the episode key a hash.
func patientKey(p events.PatientRef) string { return "patient." + string(p) }
func episodeKey(e string) string            { return "episode." + shortHash(e) }
func documentKey(d string) string           { return "document." + shortHash(d) }

func sortBy[T any, K uint64 | int | string](xs []T, key func(T) K) {
	slices.SortFunc(xs, func(a, b T) int {
		ka, kb := key(a), key(b)
		switch {
		case ka < kb:
			return -1
		case ka > kb:
			return 1
		}
		return 0
	})
}
