package events

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// PatientRef is a keyed pseudonym of a patient's CPR number: "p" followed
// by 32 hex digits of HMAC-SHA256(deployment secret, CPR). It lets Stafet
// find a patient's pathways without storing the CPR in clear; without the
// secret it cannot be turned back into a CPR number.
type PatientRef string

// Validate checks the pseudonym's shape.
func (p PatientRef) Validate() error {
	if len(p) != 33 || p[0] != 'p' {
		return &ValidationError{Reason: "want a patient pseudonym (p + 32 hex digits)"}
	}
	if _, err := hex.DecodeString(string(p[1:])); err != nil {
		return &ValidationError{Reason: "want a patient pseudonym (p + 32 hex digits)"}
	}
	return nil
}

// Pseudonymizer turns CPR numbers into PatientRefs with a deployment
// secret.
type Pseudonymizer struct {
	secret []byte
}

// NewPseudonymizer returns a Pseudonymizer keyed with secret, which must be
// at least 32 bytes: the CPR space is small (about 4·10^9 valid numbers),
// so only the secret keeps a pseudonym from being brute-forced.
func NewPseudonymizer(secret []byte) (*Pseudonymizer, error) {
	if len(secret) < 32 {
		return nil, errors.New("events: pseudonym secret must be at least 32 bytes")
	}
	return &Pseudonymizer{secret: append([]byte(nil), secret...)}, nil
}

// Ref returns the pseudonym of a CPR number, after checking its shape.
func (p *Pseudonymizer) Ref(cpr string) (PatientRef, error) {
	cpr, err := NormalizeCPR(cpr)
	if err != nil {
		return "", err
	}
	return p.ref(cpr), nil
}

// Patient returns the pseudonym of the patient an identity names: of its
// CPR number, else of its replacement number. A replacement number is
// pseudonymised in a namespace of its own, with its issuer: the HMAC
// input is "ecpr:<issuer OID>:<number>", which no CPR number (ten digits)
// can equal, and two issuers' equal numbers stay two patients.
func (p *Pseudonymizer) Patient(id Identity) (PatientRef, error) {
	if id.CPR != "" || id.Replacement.IsZero() {
		return p.Ref(id.CPR)
	}
	r, err := NormalizeReplacement(id.Replacement.Issuer, id.Replacement.Number)
	if err != nil {
		return "", err
	}
	return p.ref("ecpr:" + r.Issuer + ":" + r.Number), nil
}

// Fingerprint names the secret without revealing it (an HMAC under it
// of a text no CPR or replacement number can be): a log records the
// fingerprint of the secret it was written with, so that a start with
// another secret, which would give every patient a second pseudonym, is
// refused.
func (p *Pseudonymizer) Fingerprint() string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("stafet pseudonym secret fingerprint"))
	return "fp" + hex.EncodeToString(m.Sum(nil)[:16])
}

func (p *Pseudonymizer) ref(key string) PatientRef {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(key))
	return PatientRef("p" + hex.EncodeToString(m.Sum(nil)[:16]))
}

// NormalizeCPR accepts "DDMMYYXXXX" or "DDMMYY-XXXX" and returns the ten
// digits. It checks that the first six digits are a date; it does not
// check modulus 11, which CPR numbers since 2007 need not satisfy.
func NormalizeCPR(cpr string) (string, error) {
	if len(cpr) == 11 && cpr[6] == '-' {
		cpr = cpr[:6] + cpr[7:]
	}
	if len(cpr) != 10 || !digits(cpr) {
		return "", &ValidationError{Field: "cpr", Reason: "want 10 digits"}
	}
	day := int(cpr[0]-'0')*10 + int(cpr[1]-'0')
	month := int(cpr[2]-'0')*10 + int(cpr[3]-'0')
	year := 2000 + int(cpr[4]-'0')*10 + int(cpr[5]-'0')
	d := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	if month < 1 || month > 12 || day < 1 || d.Day() != day {
		return "", &ValidationError{Field: "cpr", Reason: "first six digits are not a date (DDMMYY)"}
	}
	return cpr, nil
}

// Identity is the personal data of a patient: health data under GDPR art. 9.
// It is never stored in clear; it is sealed with the patient's own key.
//
// A patient is named by a CPR number or, for a patient who has none, by a
// replacement CPR number (Replacement); Pseudonymizer.Patient makes the
// pseudonym of either.
type Identity struct {
	CPR  string `json:"cpr,omitempty"`
	Name string `json:"name,omitempty"`
	// Replacement is the patient's replacement CPR number
	// (erstatningspersonnummer), set when the message names the patient by
	// one and by no CPR number: foreigners, newborns not yet registered,
	// the unidentified.
	Replacement ReplacementCPR `json:"replacement,omitzero"`
}

// Known reports whether the identity names a patient, by a CPR number or
// a replacement number.
func (id Identity) Known() bool { return id.CPR != "" || !id.Replacement.IsZero() }

// LogValue redacts the identity from log lines.
func (Identity) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String redacts the identity from fmt output.
func (Identity) String() string { return "[redacted]" }

// GoString redacts the identity from %#v output.
func (Identity) GoString() string { return "events.Identity{[redacted]}" }

// Format redacts the identity under every fmt verb; String alone leaves
// verbs such as %d and %t printing the fields.
func (id Identity) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, id.GoString())
		return
	}
	io.WriteString(f, "[redacted]")
}

// SealedIdentity is an Identity encrypted with AES-256-GCM under the
// patient's own key. The key lives outside the log (engine keeps it in a
// KV bucket); deleting it makes the identity unreadable while the pathway
// history still replays (crypto-shredding).
type SealedIdentity struct {
	Nonce      []byte `json:"nonce"`
	Ciphertext []byte `json:"ciphertext"`
}

// ErrShredded is returned when a patient's key no longer exists.
var ErrShredded = errors.New("events: patient key deleted (crypto-shredded)")

// NewPatientKey returns a fresh 256-bit key.
func NewPatientKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("events: patient key: %w", err)
	}
	return k, nil
}

// Seal encrypts id under key, bound to the patient pseudonym so a sealed
// identity cannot be moved to another patient.
func Seal(key []byte, patient PatientRef, id Identity) (*SealedIdentity, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	plain, err := json.Marshal(id)
	if err != nil {
		return nil, fmt.Errorf("events: seal: %w", err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("events: seal: %w", err)
	}
	return &SealedIdentity{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, plain, []byte(patient))}, nil
}

// Open decrypts a sealed identity with the patient's key.
func (s *SealedIdentity) Open(key []byte, patient PatientRef) (Identity, error) {
	var id Identity
	gcm, err := newGCM(key)
	if err != nil {
		return id, err
	}
	if len(s.Nonce) != gcm.NonceSize() {
		return id, errors.New("events: open identity: bad nonce")
	}
	plain, err := gcm.Open(nil, s.Nonce, s.Ciphertext, []byte(patient))
	if err != nil {
		return id, fmt.Errorf("events: open identity: %w", err)
	}
	if err := json.Unmarshal(plain, &id); err != nil {
		return id, fmt.Errorf("events: open identity: %w", err)
	}
	return id, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("events: patient key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return cipher.NewGCM(block)
}
