package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// Erasure says what Erase did. It names no one: pseudonyms, pathway ids
// and sequence numbers only.
type Erasure struct {
	// Patients are the pseudonyms whose keys were destroyed: the one
	// asked for and those the same person had on the pathways found
	// (readmissions, joined identities).
	Patients []events.PatientRef `json:"patients"`
	// Pathways are the pathways whose sealed identities became
	// unreadable; their histories are unchanged.
	Pathways []uuid.UUID `json:"pathways"`
	// Raw are the raw messages erased outright: those naming the patient
	// that were not sealed under a patient key (an earlier release's, or
	// one that could not be translated). Those sealed under the patient's
	// key are unreadable with it.
	Raw []uint64 `json:"raw_erased"`
	// DeadLetters are the dead letters removed: their raw messages named
	// the patient.
	DeadLetters []uint64 `json:"dead_letters_erased"`
}

// maxErasePathways bounds the pathways one erasure follows.
const maxErasePathways = 10000

// Erase erases a patient (docs/security.md#erasure). It finds the
// patient's pathways — the one the pathway index names, the ones it
// follows as readmissions, and those joined to them — and every raw
// message and dead letter that names the patient; erases outright, with
// JetStream's secure erase, the raw messages not sealed under a patient's
// key; removes the dead letters; and destroys the keys of every pseudonym
// the person has on those pathways, so that every sealed identity and
// every raw message sealed under them becomes unreadable. The log itself
// is not touched: its histories hold pseudonyms only, and replay to the
// same owners, gaps and figures.
//
// id, if known, is the identity the caller erases by (the CPR number the
// patient gave); the identities sealed on the pathways are read too,
// before their keys go, to recognise the messages that name the patient.
// Erasing a patient Stafet never saw, or erased before, finds nothing and
// is not an error.
func (s *Store) Erase(ctx context.Context, patient events.PatientRef, id events.Identity) (Erasure, error) {
	var out Erasure
	if err := patient.Validate(); err != nil {
		return out, err
	}
	found, err := s.patientPathways(ctx, patient)
	if err != nil {
		return out, err
	}
	out.Patients, out.Pathways = found.patients, found.pathways
	ids := found.identities
	if id.Known() {
		ids = append(ids, id)
	}
	names := namesOf(ids)
	if out.Raw, err = s.eraseRaw(ctx, found.raw, out.Patients); err != nil {
		return out, err
	}
	legacy, err := s.eraseLegacyRaw(ctx, names)
	if err != nil {
		return out, err
	}
	out.Raw = append(out.Raw, legacy...)
	dead, raw, err := s.eraseDeadLetters(ctx, out.Patients, names)
	out.DeadLetters, out.Raw = dead, append(out.Raw, raw...)
	if err != nil {
		return out, err
	}
	for _, p := range out.Patients {
		if err := s.vault.Shred(ctx, p); err != nil {
			return out, err
		}
	}
	s.log.Info("patient erased", "patients", len(out.Patients), "pathways", len(out.Pathways), "raw_erased", len(out.Raw), "dead_letters_erased", len(out.DeadLetters))
	return out, nil
}

// found is what an erasure finds before it erases anything.
type found struct {
	patients   []events.PatientRef
	pathways   []uuid.UUID
	identities []events.Identity
	// raw are the raw messages the pathways' events came from.
	raw map[uint64]bool
}

// patientPathways finds the patient's pathways, the person's other
// pseudonyms on them, their sealed identities (opened while the keys
// last) and the raw messages their events came from.
func (s *Store) patientPathways(ctx context.Context, patient events.PatientRef) (found, error) {
	f := found{patients: []events.PatientRef{patient}, raw: map[uint64]bool{}}
	e, err := s.index.patientEntry(ctx, patient)
	if err != nil || !e.found {
		return f, err
	}
	queue, seen := []uuid.UUID{e.pathway}, map[uuid.UUID]bool{e.pathway: true}
	follow := func(id uuid.UUID) {
		if id != uuid.Nil && !seen[id] && len(seen) < maxErasePathways {
			seen[id] = true
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		pw := queue[0]
		queue = queue[1:]
		history, err := s.eventLog.Load(ctx, pw)
		if err != nil {
			return f, err
		}
		if len(history) == 0 {
			continue
		}
		f.pathways = append(f.pathways, pw)
		for _, ev := range history {
			for _, ref := range []string{ev.Correlation, ev.Causation} {
				if seq, ok := rawSeqOf(ref); ok {
					f.raw[seq] = true
				}
			}
			switch p := ev.Payload.(type) {
			case *events.PathwayOpened:
				f.addPatient(p.Patient)
				follow(p.Previous)
				if p.Identity != nil {
					if id, err := s.vault.Open(ctx, p.Patient, p.Identity); err == nil {
						f.identities = append(f.identities, id)
					}
				}
			case *events.PatientIdentityLinked:
				f.addPatient(p.Patient)
				f.addPatient(p.Other)
				follow(p.Joined)
			}
		}
	}
	return f, nil
}

func (f *found) addPatient(p events.PatientRef) {
	for _, q := range f.patients {
		if q == p {
			return
		}
	}
	if p.Validate() == nil {
		f.patients = append(f.patients, p)
	}
}

// rawSeqOf reads a raw message reference (rawRef).
func rawSeqOf(ref string) (uint64, bool) {
	s, ok := strings.CutPrefix(ref, "raw/")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// namesOf returns the forms in which a message may name the patients:
// CPR numbers with and without the hyphen, replacement numbers.
func namesOf(ids []events.Identity) [][]byte {
	var out [][]byte
	for _, id := range ids {
		if cpr, err := events.NormalizeCPR(id.CPR); err == nil {
			out = append(out, []byte(cpr), []byte(cpr[:6]+"-"+cpr[6:]))
		}
		if n := id.Replacement.Number; len(n) >= 6 {
			out = append(out, []byte(n))
		}
	}
	return out
}

func names(body []byte, forms [][]byte) bool {
	for _, f := range forms {
		if bytes.Contains(body, f) {
			return true
		}
	}
	return false
}

// eraseRaw erases the raw messages the patient's events came from that
// are not sealed under one of the patient's keys, and those they
// corrected (RawMessage.Replaces).
func (s *Store) eraseRaw(ctx context.Context, seqs map[uint64]bool, patients []events.PatientRef) ([]uint64, error) {
	var erased []uint64
	for len(seqs) > 0 {
		var seq uint64
		for seq = range seqs {
			break
		}
		delete(seqs, seq)
		sm, err := s.inbox.raw.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return erased, fmt.Errorf("engine: erase: %w", err)
		}
		m, err := s.inbox.openRaw(ctx, sm.Header, sm.Data)
		if err == nil && m.Replaces != 0 {
			seqs[m.Replaces] = true
		}
		if sealedFor(sm.Header, patients) {
			continue // unreadable once the key goes
		}
		if err := s.eraseRawMsg(ctx, seq); err != nil {
			return erased, err
		}
		erased = append(erased, seq)
	}
	return erased, nil
}

func sealedFor(h nats.Header, patients []events.PatientRef) bool {
	name := headerValue(h, HeaderKey)
	for _, p := range patients {
		if name == string(p) {
			return true
		}
	}
	return false
}

func (s *Store) eraseRawMsg(ctx context.Context, seq uint64) error {
	if err := s.inbox.raw.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("engine: erase raw message %d: %w", seq, err)
	}
	return nil
}

// eraseLegacyRaw erases the raw messages of an earlier release (sealed
// under the pseudonym secret's key, with no Stafet-Key header) that name
// the patient. They come first in the raw stream, so the first message
// with the header ends them.
func (s *Store) eraseLegacyRaw(ctx context.Context, forms [][]byte) ([]uint64, error) {
	if len(forms) == 0 {
		return nil, nil
	}
	info, err := s.inbox.raw.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("engine: erase: %w", err)
	}
	var erased []uint64
	if info.State.Msgs == 0 {
		return nil, nil
	}
	err = scanStream(ctx, s.inbox.raw, RawSubjects, info.State.FirstSeq, info.State.LastSeq, func(seq uint64, _ string, h nats.Header, data []byte) error {
		if headerValue(h, HeaderKey) != "" {
			return errStopScan
		}
		m, err := s.inbox.openRaw(ctx, h, data)
		if err != nil || !names(m.Body, forms) {
			return nil
		}
		erased = append(erased, seq)
		return s.eraseRawMsg(ctx, seq)
	})
	if errors.Is(err, errStopScan) {
		err = nil
	}
	return erased, err
}

// eraseDeadLetters removes the dead letters whose raw messages name the
// patient: sealed under one of the patient's keys, or naming the patient
// in their body (then the raw message is erased too).
func (s *Store) eraseDeadLetters(ctx context.Context, patients []events.PatientRef, forms [][]byte) (erased, raw []uint64, err error) {
	dls, err := s.inbox.DeadLetters(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range dls {
		sm, err := s.inbox.raw.GetMsg(ctx, d.RawSeq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return erased, raw, fmt.Errorf("engine: erase: %w", err)
		}
		if !sealedFor(sm.Header, patients) {
			m, err := s.inbox.openRaw(ctx, sm.Header, sm.Data)
			if err != nil || !names(m.Body, forms) {
				continue
			}
			if err := s.eraseRawMsg(ctx, d.RawSeq); err != nil {
				return erased, raw, err
			}
			raw = append(raw, d.RawSeq)
		}
		if err := s.inbox.dead.Purge(ctx, strconv.FormatUint(d.RawSeq, 10)); err != nil {
			return erased, raw, fmt.Errorf("engine: erase dead letter: %w", err)
		}
		erased = append(erased, d.RawSeq)
	}
	return erased, raw, nil
}
