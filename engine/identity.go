package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// The data keys, in the STAFET_KEYS stream, one subject each:
//
//	stafet.key.<patient pseudonym>   a patient's key: seals the identity and the raw messages naming the patient
//	stafet.key.raw                   seals raw messages that name no patient (or could not be read)
//	stafet.key.chain                 keys the MACs of the log's chain (chain.go)
//	stafet.key.svc-<name>            a service's own secrets (ServiceKey): the alert service's webhook secrets
//
// Every key is stored wrapped under a key-encryption key (keys.go), never
// in clear. Destroying a key erases its message with JetStream's secure
// erase, which overwrites the stored bytes with random ones (Vault.Shred):
// the key's bytes leave the disk, not only its name.
const (
	KeyStream   = "STAFET_KEYS"
	KeySubjects = "stafet.key.>"

	rawKeyName   = "raw"
	chainKeyName = "chain"
)

func keySubject(name string) string { return "stafet.key." + name }

// Vault keeps what identifies a patient out of the log: it turns CPR
// numbers into keyed pseudonyms, and seals the CPR number and name under
// a per-patient key kept wrapped in STAFET_KEYS, never in the log, so
// destroying the key (Shred) makes every sealed copy unreadable. Get it
// from Store.Vault.
type Vault struct {
	*conn
	keys   jetstream.Stream
	pseudo *events.Pseudonymizer
	ring   *keyring
	// rawKey seals raw messages that name no patient; chainKey keys the
	// chain's MACs. Both are read once, at open.
	rawKey, chainKey []byte
}

// setup creates the key stream, moves the keys of an earlier release's
// bucket into it, and reads the deployment's data keys, making them at
// first start. A KEK that does not unwrap them stops the start here.
func (s *Vault) setup(ctx context.Context) error {
	sc := jetstream.StreamConfig{
		Name: KeyStream, Description: "data keys, wrapped under the key-encryption key (secure erase = crypto-shred)",
		Subjects: []string{KeySubjects}, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		Duplicates: s.cfg.DuplicateWindow, DenyPurge: true,
		// Every inbound message naming a patient reads the patient's key
		// to seal the raw message. A Direct Get answers without the JSON
		// API on both sides (about a tenth of the intake's CPU went to
		// it), but any replica may answer one, so only a stream of one
		// replica allows it: there it is the leader's own read, and a
		// destroyed key is gone from it as soon as Shred returns.
		AllowDirect: s.cfg.Replicas == 1,
	}
	var err error
	if s.keys, err = createOrUpdateStream(ctx, s.js, sc); err != nil {
		return err
	}
	if err := s.migrateBucket(ctx); err != nil {
		return err
	}
	if s.rawKey, err = s.key(ctx, rawKeyName, true); err != nil {
		return fmt.Errorf("engine: the deployment's keys: %w", err)
	}
	if s.chainKey, err = s.key(ctx, chainKeyName, true); err != nil {
		return fmt.Errorf("engine: the deployment's keys: %w", err)
	}
	return nil
}

// ServiceKey returns the deployment's data key for a service's own
// secrets (the alert service seals webhook secrets with "webhooks"),
// making it at first use. Like every key it is stored wrapped under the
// KEK and moves with Rewrap; it is not derived from the pseudonym secret,
// which keys pseudonyms and nothing else. name is lower-case letters.
func (s *Vault) ServiceKey(ctx context.Context, name string) ([]byte, error) {
	if name == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz") != "" {
		return nil, fmt.Errorf("engine: service key %q: want lower-case letters", name)
	}
	return s.key(ctx, "svc-"+name, true)
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

// Shred destroys a patient's key: every sealed copy of the patient's CPR
// number and name, and every raw message sealed under the key, becomes
// unreadable, while the pathway history (which holds only the pseudonym)
// still replays. The key's stored bytes are overwritten, not only marked
// deleted. Erase (erase.go) does this and the rest of an erasure.
func (s *Vault) Shred(ctx context.Context, patient events.PatientRef) error {
	if err := patient.Validate(); err != nil {
		return err
	}
	return s.destroy(ctx, string(patient))
}

// destroy erases every stored version of a key.
func (s *Vault) destroy(ctx context.Context, name string) error {
	for {
		m, err := s.keys.GetLastMsgForSubject(ctx, keySubject(name))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("engine: shred: %w", err)
		}
		if err := s.keys.SecureDeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("engine: shred: %w", err)
		}
	}
	return s.Commit(ctx)
}

// patientKey returns the patient's key, made if asked and missing.
func (s *Vault) patientKey(ctx context.Context, patient events.PatientRef, create bool) ([]byte, error) {
	if err := patient.Validate(); err != nil {
		return nil, err
	}
	return s.keyOf(ctx, string(patient), create, true)
}

// sealingKey returns the key that seals a raw message naming the patient,
// made if missing. A key it makes is stored but not waited onto the
// disk: the raw message is stored after it, and the Commit that comes
// before the message is acknowledged syncs the key with it (a group
// commit syncs everything the server stored before it). One fsync for a
// new patient's message, not two in a row.
func (s *Vault) sealingKey(ctx context.Context, patient events.PatientRef) ([]byte, error) {
	if err := patient.Validate(); err != nil {
		return nil, err
	}
	return s.keyOf(ctx, string(patient), true, false)
}

// key returns the data key of a name, creating it if asked and missing
// and returning once it is on disk; a patient's missing key is
// events.ErrShredded.
func (s *Vault) key(ctx context.Context, name string, create bool) ([]byte, error) {
	return s.keyOf(ctx, name, create, true)
}

// keyOf is key; a key it makes is on disk when it returns if durable.
func (s *Vault) keyOf(ctx context.Context, name string, create, durable bool) ([]byte, error) {
	wrapped, err := s.wrappedKey(ctx, name)
	switch {
	case err == nil:
		k, _, err := s.ring.unwrap(ctx, name, wrapped)
		return k, err
	case errors.Is(err, jetstream.ErrMsgNotFound) && !create:
		return nil, events.ErrShredded
	case !errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, fmt.Errorf("engine: key: %w", err)
	}
	key, err := events.NewPatientKey()
	if err != nil {
		return nil, err
	}
	msg, err := s.keyMsg(name, key)
	if err != nil {
		return nil, err
	}
	publish := s.publishStored
	if durable {
		publish = s.publish
	}
	if _, err := publish(ctx, msg, expectSubjectSeq(0)); err != nil {
		if !isWrongLastSeq(err) {
			return nil, fmt.Errorf("engine: key: %w", err)
		}
		// Another writer made the key first; use theirs, once this node's
		// replica has it.
		for range 50 {
			k, err := s.key(ctx, name, false)
			if !errors.Is(err, events.ErrShredded) {
				return k, err
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil, errors.New("engine: key written by another instance but not readable after 5 s")
	}
	return key, nil
}

// wrappedKey reads a key as stored: by Direct Get where the key stream
// allows it (setup), else by the leader's answer to the JSON API.
func (s *Vault) wrappedKey(ctx context.Context, name string) ([]byte, error) {
	if s.keys.CachedInfo().Config.AllowDirect {
		m, err := s.pub.lastMsg(ctx, KeyStream, keySubject(name))
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	m, err := s.keys.GetLastMsgForSubject(ctx, keySubject(name))
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// keyMsg is the message that stores a key, wrapped.
func (s *Vault) keyMsg(name string, key []byte) (*nats.Msg, error) {
	wrapped, err := s.ring.wrap(name, key)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(keySubject(name))
	m.Data = wrapped
	return m, nil
}

// RewrapReport says what Rewrap did.
type RewrapReport struct {
	// KEK is the id of the key-encryption key every key is now wrapped
	// under.
	KEK string `json:"kek"`
	// Keys is how many keys the store holds; Rewrapped how many were
	// wrapped anew; Erased how many stale copies were erased.
	Keys      int `json:"keys"`
	Rewrapped int `json:"rewrapped"`
	Erased    int `json:"erased"`
}

// Rewrap reads the KEK source again and wraps every key that is wrapped
// under another KEK anew under the current one, erasing the old copy: the
// second step of a KEK rotation (AddKEK is the first; removing the old
// KEK from its file the last). It is safe to run again, and alongside
// appends on every instance: each key is replaced only if nobody changed
// it since it was read.
func (s *Vault) Rewrap(ctx context.Context) (RewrapReport, error) {
	var rep RewrapReport
	if err := s.ring.refresh(ctx); err != nil {
		return rep, err
	}
	rep.KEK = s.ring.Current()
	info, err := s.keys.Info(ctx)
	if err != nil {
		return rep, fmt.Errorf("engine: rewrap: %w", err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return rep, nil
	}
	cons, err := s.keys.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{KeySubjects}})
	if err != nil {
		return rep, fmt.Errorf("engine: rewrap: %w", err)
	}
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			return rep, fmt.Errorf("engine: rewrap: %w", err)
		}
		md, err := m.Metadata()
		if err != nil {
			return rep, fmt.Errorf("engine: rewrap: %w", err)
		}
		seq := md.Sequence.Stream
		if seq > last {
			break
		}
		rep.Keys++
		if err := s.rewrapOne(ctx, m.Subject(), seq, m.Data(), &rep); err != nil {
			return rep, err
		}
		if seq == last || md.NumPending == 0 {
			break
		}
	}
	return rep, s.Commit(ctx)
}

// rewrapOne wraps the key stored at seq anew, unless it is under the
// current KEK already, then erases the old copy; a copy that a newer one
// replaced (a rewrap that stopped halfway) is only erased.
func (s *Vault) rewrapOne(ctx context.Context, subject string, seq uint64, data []byte, rep *RewrapReport) error {
	name := strings.TrimPrefix(subject, "stafet.key.")
	if id, ok := wrappedKEK(data); ok && id == rep.KEK {
		return nil
	}
	key, _, err := s.ring.unwrap(ctx, name, data)
	if err != nil {
		return fmt.Errorf("engine: rewrap %s: %w", redactKeyName(name), err)
	}
	msg, err := s.keyMsg(name, key)
	if err != nil {
		return err
	}
	_, err = s.publishStored(ctx, msg, expectSubjectSeq(seq))
	switch {
	case err == nil:
		rep.Rewrapped++
	case isWrongLastSeq(err):
		rep.Erased++ // stale, or shredded meanwhile
	default:
		return fmt.Errorf("engine: rewrap: %w", err)
	}
	// The new copy is on disk before the old one goes.
	if err := s.Commit(ctx); err != nil {
		return err
	}
	if err := s.keys.SecureDeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("engine: rewrap: erase the old copy: %w", err)
	}
	return nil
}

// redactKeyName keeps patients' pseudonyms out of error texts: they are
// not identifying, but have no business in logs.
func redactKeyName(name string) string {
	if strings.HasPrefix(name, "p") && len(name) == 33 {
		return "a patient's key"
	}
	return "key " + name
}

// migrateBucket moves the patient keys of an earlier release, kept in
// clear in the stafet_patient_keys bucket, into STAFET_KEYS wrapped under
// the KEK, then deletes the bucket: its files, and the keys' clear bytes
// with them, leave the disk. Safe to run on every instance at once.
func (s *Vault) migrateBucket(ctx context.Context) error {
	kv, err := s.js.KeyValue(ctx, legacyKeyBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: legacy key bucket: %w", err)
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return fmt.Errorf("engine: legacy key bucket: %w", err)
	}
	n := 0
	if lister != nil {
		for k := range lister.Keys() {
			e, err := kv.Get(ctx, k)
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("engine: legacy key bucket: %w", err)
			}
			msg, err := s.keyMsg(k, e.Value())
			if err != nil {
				return err
			}
			if _, err := s.publishStored(ctx, msg, expectSubjectSeq(0)); err != nil && !isWrongLastSeq(err) {
				return fmt.Errorf("engine: legacy key bucket: %w", err)
			}
			n++
		}
	}
	if err := s.Commit(ctx); err != nil {
		return err
	}
	if err := s.js.DeleteKeyValue(ctx, legacyKeyBucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("engine: legacy key bucket: %w", err)
	}
	s.log.Info("patient keys moved from the legacy bucket, wrapped under the key-encryption key; the bucket is deleted",
		"keys", n, "kek", s.ring.Current())
	return nil
}

// legacyKeyBucket is where releases before the key stream kept patient
// keys, in clear.
const legacyKeyBucket = "stafet_patient_keys"
