package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Vault keeps what identifies a patient out of the log: it turns CPR
// numbers into keyed pseudonyms, and seals the CPR number and name under
// a per-patient key kept in the stafet_patient_keys bucket, never in the
// log, so deleting the key (Shred) makes every sealed copy unreadable.
// Get it from Store.Vault.
type Vault struct {
	*conn
	keys   jetstream.KeyValue
	pseudo *events.Pseudonymizer
}

// Ref returns the patient's pseudonym for a CPR number, or an error if
// it is not one.
func (s *Vault) Ref(cpr string) (events.PatientRef, error) { return s.pseudo.Ref(cpr) }

// Patient returns the pseudonym of the patient an identity names: of its
// CPR number, else of its replacement CPR number, in a namespace of its
// own (events.Pseudonymizer.Patient).
func (s *Vault) Patient(id events.Identity) (events.PatientRef, error) { return s.pseudo.Patient(id) }

// Seal encrypts a patient's identity under the patient's own key,
// creating the key on first use.
func (s *Vault) Seal(ctx context.Context, patient events.PatientRef, id events.Identity) (*events.SealedIdentity, error) {
	key, err := s.patientKey(ctx, patient, true)
	if err != nil {
		return nil, err
	}
	return events.Seal(key, patient, id)
}

// Open decrypts a sealed identity. After Shred it returns
// events.ErrShredded.
func (s *Vault) Open(ctx context.Context, patient events.PatientRef, sealed *events.SealedIdentity) (events.Identity, error) {
	key, err := s.patientKey(ctx, patient, false)
	if err != nil {
		return events.Identity{}, err
	}
	return sealed.Open(key, patient)
}

// Shred deletes a patient's key and its history from the bucket: every
// sealed copy of the patient's CPR number and name becomes unreadable,
// while the pathway history (which holds only the pseudonym) still
// replays.
func (s *Vault) Shred(ctx context.Context, patient events.PatientRef) error {
	if err := s.keys.Purge(ctx, string(patient)); err != nil {
		return fmt.Errorf("engine: shred patient: %w", err)
	}
	return nil
}

func (s *Vault) patientKey(ctx context.Context, patient events.PatientRef, create bool) ([]byte, error) {
	if err := patient.Validate(); err != nil {
		return nil, err
	}
	e, err := s.keys.Get(ctx, string(patient))
	switch {
	case err == nil:
		return e.Value(), nil
	case errors.Is(err, jetstream.ErrKeyNotFound) && !create:
		return nil, events.ErrShredded
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, fmt.Errorf("engine: patient key: %w", err)
	}
	key, err := events.NewPatientKey()
	if err != nil {
		return nil, err
	}
	if _, err := s.keys.Create(ctx, string(patient), key); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			// Another writer made the key first; use theirs, once this
			// node's replica has it.
			for range 50 {
				k, err := s.patientKey(ctx, patient, false)
				if !errors.Is(err, events.ErrShredded) {
					return k, err
				}
				time.Sleep(100 * time.Millisecond)
			}
			return nil, fmt.Errorf("engine: patient key written by another instance but not readable after 5 s")
		}
		return nil, fmt.Errorf("engine: patient key: %w", err)
	}
	return key, nil
}
