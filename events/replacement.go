package events

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Replacement CPR issuers (erstatningspersonnummer), as DK Core names them
// (hl7dk/dk-core, DkCoreXeCprIdentifier and DkCoreDeCprIdentifier): the
// national eCPR service (X-eCPR), and the regions' own numbers (D-eCPR),
// under 1.2.208.176.1.6.1.3 or one of its per-region branches.
const (
	ReplacementNational = "1.2.208.176.1.6.1.1"
	ReplacementRegional = "1.2.208.176.1.6.1.3"
)

// ReplacementCPR is a replacement CPR number and the OID of its issuer. A
// number is unique only within its issuer, so the two together name the
// patient.
type ReplacementCPR struct {
	Issuer string `json:"issuer"`
	Number string `json:"number"`
}

// LogValue redacts the number from log lines: it names a patient.
func (ReplacementCPR) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Format redacts the number under every fmt verb.
func (ReplacementCPR) Format(f fmt.State, _ rune) { io.WriteString(f, "[redacted]") }

// IsZero reports an absent replacement number.
func (r ReplacementCPR) IsZero() bool { return r == ReplacementCPR{} }

// IsReplacementIssuer reports whether oid (with or without "urn:oid:")
// names an issuer of replacement CPR numbers: the national one, the
// regional root, or a branch of the regional root.
func IsReplacementIssuer(oid string) bool {
	oid = strings.TrimPrefix(oid, "urn:oid:")
	if oid == ReplacementNational || oid == ReplacementRegional {
		return true
	}
	branch, ok := strings.CutPrefix(oid, ReplacementRegional+".")
	return ok && digits(branch)
}

// NormalizeReplacement checks a replacement CPR number and its issuer and
// returns them in canonical form: the issuer's bare OID, the number in
// upper case. The number is DDMMYY (a date), a digit, two letters and a
// digit, as DK Core's x-ecpr and d-ecpr invariants have it; the digit
// after the date (1 or 7 for the national service, 0, 5 or 6 for the
// regions) is not held to its issuer, so a number a system files under
// the wrong one is still the same patient's.
func NormalizeReplacement(issuer, number string) (ReplacementCPR, error) {
	issuer = strings.TrimPrefix(strings.TrimSpace(issuer), "urn:oid:")
	if !IsReplacementIssuer(issuer) {
		return ReplacementCPR{}, &ValidationError{Field: "replacement.issuer", Reason: "not an issuer of replacement CPR numbers (1.2.208.176.1.6.1.1, 1.2.208.176.1.6.1.3[.n])"}
	}
	n := strings.ToUpper(strings.TrimSpace(number))
	if len(n) != 10 || !digits(n[:7]) || !upper(n[7:9]) || !digits(n[9:]) {
		return ReplacementCPR{}, &ValidationError{Field: "replacement.number", Reason: "want DDMMYY, a digit, two letters and a digit"}
	}
	if _, err := NormalizeCPR(n[:6] + "0000"); err != nil {
		return ReplacementCPR{}, &ValidationError{Field: "replacement.number", Reason: "first six characters are not a date (DDMMYY)"}
	}
	return ReplacementCPR{Issuer: issuer, Number: n}, nil
}

func upper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}
