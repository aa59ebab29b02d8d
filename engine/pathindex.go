package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// PathwayIndex finds the pathway an inbound message belongs to, in the
// stafet_pathway_index bucket: a patient's open pathway by pseudonym, and
// the pathway an episode of care or a document is linked to. Get it from
// Store.Index.
type PathwayIndex struct {
	*conn
	kv    jetstream.KeyValue
	vault *Vault
}

// Resolve finds the pathway an inbound message belongs to: the one
// its episode of care (the LPR3 stay id, HL7 PV1-19) is linked to, else
// the patient's open pathway, else a new pathway id reserved for the
// patient (isNew: the caller opens it). Concurrent callers for the same
// new patient get the same id: the reservation is an atomic create.
//
// It is Episode, Reserve and LinkEpisode in a row; a caller
// that wants to overlap their round trips with its own work calls them
// itself.
func (s *PathwayIndex) Resolve(ctx context.Context, patient events.PatientRef, episode string) (id uuid.UUID, isNew bool, err error) {
	if episode != "" {
		if id, ok, err := s.Episode(ctx, episode); err != nil || ok {
			return id, false, err
		}
	}
	r, err := s.Reserve(ctx, patient)
	if err != nil {
		return uuid.Nil, false, err
	}
	if episode != "" {
		if err := s.LinkEpisode(ctx, episode, r.Pathway); err != nil {
			return uuid.Nil, false, err
		}
	}
	return r.Pathway, r.New, nil
}

// Episode returns the pathway an episode of care is linked to.
func (s *PathwayIndex) Episode(ctx context.Context, episode string) (uuid.UUID, bool, error) {
	return s.indexGet(ctx, episodeKey(episode))
}

// Reservation is a patient's pathway as Reserve found or reserved it.
type Reservation struct {
	// Pathway is the patient's open pathway, or the id reserved for a new
	// one.
	Pathway uuid.UUID
	// New is true when this call reserved the pathway: the caller opens it
	// (a PathwayOpened first).
	New bool

	vault   *Vault
	patient events.PatientRef
	// key is the patient key created alongside the reservation, in case
	// the patient had none; keyMsg carries it to the key bucket.
	key    []byte
	keyMsg *sending
}

// Reserve returns the patient's open pathway, or reserves a new
// pathway id for the patient. Concurrent callers for the same new patient
// get the same id: the reservation is an atomic create, the arbiter
// between instances.
//
// A reservation and a lookup are one write, created if the patient has no
// entry and read back otherwise, and the patient's encryption key is
// created in the same round trip, in case the patient is new and the
// caller seals an identity (Reservation.SealIdentity): one round trip for
// a new patient where a lookup, a create, and a key's lookup and create
// took four.
func (s *PathwayIndex) Reserve(ctx context.Context, patient events.PatientRef) (*Reservation, error) {
	if err := patient.Validate(); err != nil {
		return nil, err
	}
	proposed := events.NewID()
	reserve, err := s.send(kvMsg(PathwayIndexKV, patientKey(patient), proposed[:]), jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		return nil, fmt.Errorf("engine: pathway index: %w", err)
	}
	r := &Reservation{vault: s.vault, patient: patient}
	if r.key, err = events.NewPatientKey(); err != nil {
		return nil, err
	}
	if r.keyMsg, err = s.send(kvMsg(KeyBucket, string(patient), r.key), jetstream.WithExpectLastSequencePerSubject(0)); err != nil {
		return nil, fmt.Errorf("engine: patient key: %w", err)
	}
	_, err = reserve.wait(ctx)
	switch {
	case err == nil:
		r.Pathway, r.New = proposed, true
		return r, nil
	case !isWrongLastSeq(err):
		return nil, fmt.Errorf("engine: pathway index: %w", err)
	}
	// The patient has a pathway, reserved by another writer or by our own
	// first attempt whose answer was lost (the id tells which); or had one
	// that was released, which leaves a delete marker.
	id, ok, err := s.indexGet(ctx, patientKey(patient))
	if err != nil {
		return nil, err
	}
	if ok {
		r.Pathway, r.New = id, id == proposed
		return r, nil
	}
	// Released, or reserved by another instance and not yet on the replica
	// that answered: the KV create tells the two apart.
	if _, err := s.kv.Create(ctx, patientKey(patient), proposed[:]); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("engine: pathway index: %w", err)
		}
		// Another writer reserved it first; a replica may not have its
		// entry yet, so read until it does.
		if r.Pathway, err = s.indexGetSoon(ctx, patientKey(patient)); err != nil {
			return nil, err
		}
		return r, nil
	}
	r.Pathway, r.New = proposed, true
	return r, nil
}

// SealIdentity encrypts the patient's identity under the patient's key
// (Vault.Seal), using the key Reserve created when the patient had none.
func (r *Reservation) SealIdentity(ctx context.Context, id events.Identity) (*events.SealedIdentity, error) {
	if r.keyMsg != nil {
		_, err := r.keyMsg.wait(ctx)
		if err == nil {
			return events.Seal(r.key, r.patient, id)
		}
		if !isWrongLastSeq(err) {
			return nil, fmt.Errorf("engine: patient key: %w", err)
		}
		// The patient has a key (perhaps ours, from a first attempt whose
		// answer was lost): the stored one is the one to use.
	}
	return r.vault.Seal(ctx, r.patient, id)
}

// LinkEpisode links an episode of care to a pathway.
func (s *PathwayIndex) LinkEpisode(ctx context.Context, episode string, pathway uuid.UUID) error {
	w, err := s.SendEpisodeLink(episode, pathway)
	if err != nil {
		return err
	}
	if err := w.Wait(ctx); err != nil {
		return err
	}
	return s.Commit(ctx)
}

// SendEpisodeLink starts linking an episode of care to a pathway; the link
// is stored once IndexWrite.Wait returns without error.
func (s *PathwayIndex) SendEpisodeLink(episode string, pathway uuid.UUID) (*IndexWrite, error) {
	return s.sendIndex(episodeKey(episode), pathway)
}

// LinkDocument records which pathway a document (a MedCom message, a
// discharge letter) belongs to, so an acknowledgement — which names the
// document but not the patient — finds it.
func (s *PathwayIndex) LinkDocument(ctx context.Context, document string, pathway uuid.UUID) error {
	w, err := s.SendDocumentLink(document, pathway)
	if err != nil {
		return err
	}
	if err := w.Wait(ctx); err != nil {
		return err
	}
	return s.Commit(ctx)
}

// SendDocumentLink starts LinkDocument; the link is stored once
// IndexWrite.Wait returns without error.
func (s *PathwayIndex) SendDocumentLink(document string, pathway uuid.UUID) (*IndexWrite, error) {
	return s.sendIndex(documentKey(document), pathway)
}

// IndexWrite is a pathway-index write on its way to the store. A caller
// that sends several waits for them together, paying one round trip
// instead of one each.
type IndexWrite struct{ w *sending }

// Wait returns once the server has stored the write; it is on disk once
// a Commit begun after that returns (LinkEpisode and LinkDocument
// wait for one).
func (w *IndexWrite) Wait(ctx context.Context) error {
	if _, err := w.w.wait(ctx); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

func (s *PathwayIndex) sendIndex(key string, pathway uuid.UUID) (*IndexWrite, error) {
	w, err := s.send(kvMsg(PathwayIndexKV, key, pathway[:]))
	if err != nil {
		return nil, fmt.Errorf("engine: pathway index: %w", err)
	}
	return &IndexWrite{w: w}, nil
}

// kvMsg is a put of a KV bucket's key as a plain message, so it can be
// sent asynchronously and with an expected sequence.
func kvMsg(bucket, key string, value []byte) *nats.Msg {
	m := nats.NewMsg("$KV." + bucket + "." + key)
	m.Data = value
	return m
}

// Document returns the pathway a document belongs to.
func (s *PathwayIndex) Document(ctx context.Context, document string) (uuid.UUID, bool, error) {
	return s.indexGet(ctx, documentKey(document))
}

// Patient returns the patient's open pathway, if any.
func (s *PathwayIndex) Patient(ctx context.Context, patient events.PatientRef) (uuid.UUID, bool, error) {
	return s.indexGet(ctx, patientKey(patient))
}

// SetPatient points a patient at a pathway (after a merge, the merged
// patient's messages go to the survivor's pathway).
func (s *PathwayIndex) SetPatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	if _, err := s.kv.Put(ctx, patientKey(patient), pathway[:]); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// ReleasePatient forgets a patient's open pathway when it closes, so the
// patient's next admission opens a new one.
func (s *PathwayIndex) ReleasePatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	e, err := s.kv.Get(ctx, patientKey(patient))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	if uuid.UUID(e.Value()) != pathway {
		return nil
	}
	if err := s.kv.Delete(ctx, patientKey(patient), jetstream.LastRevision(e.Revision())); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// indexGetSoon reads a key that is known to exist: a KV read may be
// answered by a replica that has not applied the write yet.
func (s *PathwayIndex) indexGetSoon(ctx context.Context, key string) (uuid.UUID, error) {
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

func (s *PathwayIndex) indexGet(ctx context.Context, key string) (uuid.UUID, bool, error) {
	e, err := s.kv.Get(ctx, key)
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
