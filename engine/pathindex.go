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

// The patient entries of the index, patient.<pseudonym>, hold the
// patient's pathway id (16 bytes), followed by closedMark once the pathway
// closed. Closing a pathway marks its entry (Log.Execute, with the close's
// commit), and a reservation takes a marked entry as free: it replaces it
// with a new pathway and names the closed one as the new one's previous
// pathway. Entries written before the mark existed are plain ids; a
// closed pathway behind one is found when a message meets the rule
// "closed" on it (Intake), which marks it then.
const closedMark = 'c'

// Resolve finds the pathway an inbound message belongs to: the one
// its episode of care (the LPR3 stay id, HL7 PV1-19) is linked to, else
// the patient's open pathway, else a new pathway id reserved for the
// patient (Reservation.New: the caller opens it). Concurrent callers for
// the same new patient get the same id: the reservation is an atomic
// create.
//
// It is Episode, Reserve and LinkEpisode in a row.
func (s *PathwayIndex) Resolve(ctx context.Context, patient events.PatientRef, episode string) (*Reservation, error) {
	if episode != "" {
		if id, ok, err := s.Episode(ctx, episode); err != nil || ok {
			return &Reservation{Pathway: id, byEpisode: true, vault: s.vault, patient: patient}, err
		}
	}
	r, err := s.Reserve(ctx, patient)
	if err != nil {
		return nil, err
	}
	if episode != "" {
		if err := s.LinkEpisode(ctx, episode, r.Pathway); err != nil {
			return nil, err
		}
	}
	return r, nil
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
	// Previous is, for a new pathway, the patient's closed pathway it
	// follows (PathwayOpened.previous): a readmission.
	Previous uuid.UUID

	// byEpisode: Resolve found the pathway by the episode of care.
	byEpisode bool

	vault   *Vault
	patient events.PatientRef
}

// Reserve returns the patient's open pathway, or reserves a new
// pathway id for the patient. Concurrent callers for the same new patient
// get the same id: the reservation is an atomic create, the arbiter
// between instances.
//
// A reservation and a lookup are one write, created if the patient has no
// entry and read back otherwise: one round trip for a new patient where a
// lookup and a create took two.
func (s *PathwayIndex) Reserve(ctx context.Context, patient events.PatientRef) (*Reservation, error) {
	if err := patient.Validate(); err != nil {
		return nil, err
	}
	proposed := events.NewID()
	reserve, err := s.send(kvMsg(PathwayIndexKV, patientKey(patient), proposed[:]), expectSubjectSeq(0))
	if err != nil {
		return nil, fmt.Errorf("engine: pathway index: %w", err)
	}
	r := &Reservation{vault: s.vault, patient: patient}
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
	// that closed, which a new one replaces; or had one that was deleted
	// (an entry of an older release), which leaves a delete marker.
	for attempt := 0; ; attempt++ {
		e, err := s.patientEntry(ctx, patient)
		if err != nil {
			return nil, err
		}
		switch {
		case e.found && !e.closed:
			r.Pathway, r.New = e.pathway, e.pathway == proposed
			return r, nil
		case e.found && attempt < maxAttempts:
			// Replaced only if nobody changed the entry since it was read;
			// else read it again.
			if _, err := s.kv.Update(ctx, patientKey(patient), proposed[:], e.revision); err == nil {
				r.Pathway, r.New, r.Previous = proposed, true, e.pathway
				return r, nil
			} else if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				return nil, fmt.Errorf("engine: pathway index: %w", err)
			}
			continue
		case e.found:
			return nil, fmt.Errorf("engine: pathway index: the patient's closed pathway %s kept changing under %d attempts to replace it", e.pathway, maxAttempts)
		}
		break
	}
	// Deleted, or reserved by another instance and not yet on the replica
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
// (Vault.Seal).
func (r *Reservation) SealIdentity(ctx context.Context, id events.Identity) (*events.SealedIdentity, error) {
	return r.vault.Seal(ctx, r.patient, id)
}

// LinkEpisode links an episode of care to a pathway.
func (s *PathwayIndex) LinkEpisode(ctx context.Context, episode string, pathway uuid.UUID) error {
	w, err := s.sendEpisodeLink(episode, pathway)
	if err != nil {
		return err
	}
	if err := w.Wait(ctx); err != nil {
		return err
	}
	return s.Commit(ctx)
}

// sendEpisodeLink starts linking an episode of care to a pathway; the link
// is stored once indexWrite.Wait returns without error.
func (s *PathwayIndex) sendEpisodeLink(episode string, pathway uuid.UUID) (*indexWrite, error) {
	return s.sendIndex(episodeKey(episode), pathway)
}

// sendDocumentLink starts recording which pathway a document (a MedCom
// message, a discharge letter) belongs to, so an acknowledgement — which
// names the document but not the patient — finds it; the link is stored
// once indexWrite.Wait returns without error.
func (s *PathwayIndex) sendDocumentLink(document string, pathway uuid.UUID) (*indexWrite, error) {
	return s.sendIndex(documentKey(document), pathway)
}

// indexWrite is a pathway-index write on its way to the store. A caller
// that sends several waits for them together, paying one round trip
// instead of one each.
type indexWrite struct{ w *sending }

// Wait returns once the server has stored the write; it is on disk once
// a Commit begun after that returns (LinkEpisode and LinkDocument
// wait for one).
func (w *indexWrite) Wait(ctx context.Context) error {
	if _, err := w.w.wait(ctx); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

func (s *PathwayIndex) sendIndex(key string, pathway uuid.UUID) (*indexWrite, error) {
	w, err := s.send(kvMsg(PathwayIndexKV, key, pathway[:]))
	if err != nil {
		return nil, fmt.Errorf("engine: pathway index: %w", err)
	}
	return &indexWrite{w: w}, nil
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

// Patient returns the patient's last pathway, if any, open or closed.
func (s *PathwayIndex) Patient(ctx context.Context, patient events.PatientRef) (uuid.UUID, bool, error) {
	e, err := s.patientEntry(ctx, patient)
	return e.pathway, e.found, err
}

// patientEntry is a patient's entry in the index.
type patientEntry struct {
	pathway  uuid.UUID
	closed   bool
	found    bool
	revision uint64
}

func (s *PathwayIndex) patientEntry(ctx context.Context, patient events.PatientRef) (patientEntry, error) {
	v, rev, err := s.pub.kvValue(ctx, PathwayIndexKV, patientKey(patient))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return patientEntry{}, nil
	}
	if err != nil {
		return patientEntry{}, fmt.Errorf("engine: pathway index: %w", err)
	}
	closed := len(v) == 17 && v[16] == closedMark
	if closed {
		v = v[:16]
	}
	id, err := uuid.FromBytes(v)
	if err != nil {
		return patientEntry{}, fmt.Errorf("engine: pathway index %s: %w", patientKey(patient), err)
	}
	return patientEntry{pathway: id, closed: closed, found: true, revision: rev}, nil
}

// SetPatient points a patient at a pathway (after a merge, the merged
// patient's messages go to the survivor's pathway).
func (s *PathwayIndex) SetPatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	if _, err := s.kv.Put(ctx, patientKey(patient), pathway[:]); err != nil {
		return fmt.Errorf("engine: pathway index: %w", err)
	}
	return nil
}

// movePatient points the patient's entry at to (uuid.Nil: removes it) if
// it names from; an entry naming another pathway is left alone.
func (s *PathwayIndex) movePatient(ctx context.Context, patient events.PatientRef, from, to uuid.UUID) error {
	for range maxAttempts {
		e, err := s.patientEntry(ctx, patient)
		if err != nil || !e.found || e.pathway != from {
			return err
		}
		if to == uuid.Nil {
			err = s.kv.Delete(ctx, patientKey(patient), jetstream.LastRevision(e.revision))
		} else {
			_, err = s.kv.Update(ctx, patientKey(patient), to[:], e.revision)
		}
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !isWrongLastSeq(err) {
			return fmt.Errorf("engine: pathway index: %w", err)
		}
	}
	return fmt.Errorf("engine: pathway index: the patient's entry kept changing")
}

// ReleasePatient marks the patient's entry closed if it still names the
// pathway, so the patient's next message opens a new pathway that
// follows this one (Reservation.Previous). Log.Execute calls it when a
// pathway closes; it returns once the server has stored the mark (on disk
// with the next Commit).
func (s *PathwayIndex) ReleasePatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID) error {
	return s.markPatient(ctx, patient, pathway, true)
}

// markPatient sets or clears the closed mark of the patient's entry if it
// names the pathway; an entry naming another pathway is left alone.
func (s *PathwayIndex) markPatient(ctx context.Context, patient events.PatientRef, pathway uuid.UUID, closed bool) error {
	for range maxAttempts {
		e, err := s.patientEntry(ctx, patient)
		if err != nil || !e.found || e.pathway != pathway || e.closed == closed {
			return err
		}
		v := pathway[:]
		if closed {
			v = append(v[:16:16], closedMark)
		}
		_, err = s.kv.Update(ctx, patientKey(patient), v, e.revision)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return fmt.Errorf("engine: pathway index: %w", err)
		}
	}
	return fmt.Errorf("engine: pathway index: the patient's entry kept changing")
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
	v, _, err := s.pub.kvValue(ctx, PathwayIndexKV, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("engine: pathway index: %w", err)
	}
	id, err := uuid.FromBytes(v)
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
