package events

import (
	"strings"
)

// OrgID identifies an organisation as "scheme:code":
//
//	sor:1234567       a hospital, department or clinic by its SOR code
//	kommune:0751      a municipality by its 4-digit code
//	yder:012345       a general practice by its ydernummer
//	region:1082       a region by its code
//
// OrgIDs carry no personal data and are safe in NATS subjects and metric
// labels.
type OrgID string

// Org schemes.
const (
	SchemeSOR     = "sor"
	SchemeKommune = "kommune"
	SchemeYder    = "yder"
	SchemeRegion  = "region"
)

// Scheme returns the part before the colon.
func (id OrgID) Scheme() string {
	s, _, _ := strings.Cut(string(id), ":")
	return s
}

// Code returns the part after the colon.
func (id OrgID) Code() string {
	_, c, _ := strings.Cut(string(id), ":")
	return c
}

// Token returns the id as a single NATS subject token.
func (id OrgID) Token() string { return strings.ReplaceAll(string(id), ":", "-") }

// Validate checks the id's shape; it does not look it up.
func (id OrgID) Validate() error {
	if id.wellFormed() {
		return nil
	}
	return id.invalid()
}

// wellFormed reports in one pass whether the id is valid: replay
// validates every id of every event it reads, nearly always valid.
func (id OrgID) wellFormed() bool {
	s := string(id)
	switch {
	case strings.HasPrefix(s, SchemeSOR+":"):
		return len(s)-len(SchemeSOR+":") <= 32 && digits(s[len(SchemeSOR+":"):])
	case strings.HasPrefix(s, SchemeKommune+":"):
		return len(s) == len(SchemeKommune+":0000") && digits(s[len(SchemeKommune+":"):])
	case strings.HasPrefix(s, SchemeYder+":"):
		return len(s)-len(SchemeYder+":") <= 32 && digits(s[len(SchemeYder+":"):])
	case strings.HasPrefix(s, SchemeRegion+":"):
		return len(s) == len(SchemeRegion+":0000") && digits(s[len(SchemeRegion+":"):])
	}
	return false
}

// invalid returns why the id is not valid, or nil if it is.
func (id OrgID) invalid() error {
	scheme, code, ok := strings.Cut(string(id), ":")
	if !ok {
		return &ValidationError{Reason: "want scheme:code, e.g. kommune:0751 or sor:1234567"}
	}
	if code == "" || len(code) > 32 {
		return &ValidationError{Reason: "code must be 1 to 32 characters"}
	}
	for _, r := range code {
		if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return &ValidationError{Reason: "code may hold only letters, digits and '-'"}
		}
	}
	switch scheme {
	case SchemeSOR, SchemeYder:
		if !digits(code) {
			return &ValidationError{Reason: scheme + " code must be digits"}
		}
	case SchemeKommune, SchemeRegion:
		if len(code) != 4 || !digits(code) {
			return &ValidationError{Reason: scheme + " code must be 4 digits"}
		}
	default:
		return &ValidationError{Reason: "unknown scheme " + quote(scheme) + " (want sor, kommune, yder or region)"}
	}
	return nil
}

// Kommune returns the OrgID of a municipality by its 4-digit code.
func Kommune(code string) OrgID { return OrgID(SchemeKommune + ":" + code) }

// SOR returns the OrgID of a SOR-registered unit.
func SOR(code string) OrgID { return OrgID(SchemeSOR + ":" + code) }

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return "\"" + s + "\""
}

// slug checks a cluster id: lowercase letters, digits and '-'; it is used
// as a NATS subject token.
func slug(field, v string) error {
	if v == "" {
		return &ValidationError{Field: field, Reason: "missing"}
	}
	if len(v) > 64 {
		return &ValidationError{Field: field, Reason: "longer than 64 bytes"}
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return &ValidationError{Field: field, Reason: "may hold only a-z, 0-9 and '-'"}
		}
	}
	return nil
}

// ValidateClusterID checks that id can name a cluster: lowercase a-z, 0-9
// and '-', as it is used as a NATS subject token.
func ValidateClusterID(id string) error { return slug("cluster", id) }
