package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stafet/stafet/events"
)

func TestNormalizeCPR(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means invalid
	}{
		{"MedCom test patient", "2509479989", "2509479989"},
		{"with dash", "250947-9989", "2509479989"},
		{"first of February", "0102030405", "0102030405"},
		{"29 February in a leap year", "2902961234", "2902961234"},
		{"29 February 2000", "2902001234", "2902001234"},
		{"31 December", "3112991234", "3112991234"},
		{"29 February in a common year", "2902971234", ""},
		{"31 April", "3104801234", ""},
		{"day 0", "0001801234", ""},
		{"month 0", "0100801234", ""},
		{"month 13", "0113801234", ""},
		{"day 32", "3201801234", ""},
		{"too short", "250947998", ""},
		{"too long", "25094799890", ""},
		{"dash in the wrong place", "25094-79989", ""},
		{"two dashes", "250947--9989", ""},
		{"plus instead of dash", "250947+9989", ""},
		{"letters", "25O9479989", ""},
		{"spaces", "250947 9989", ""},
		{"empty", "", ""},
		{"non-ASCII digits", "２５０９４７９９８９", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := events.NormalizeCPR(tt.in)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Errorf("got %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			var ve *events.ValidationError
			if !errors.As(err, &ve) || ve.Field != "cpr" {
				t.Errorf("got %q, %v; want a *ValidationError on cpr", got, err)
			}
			if tt.in != "" && strings.Contains(err.Error(), tt.in) {
				t.Errorf("error %q repeats the input; want the CPR kept out of errors", err)
			}
		})
	}
}

func TestPatientRefValidate(t *testing.T) {
	tests := []struct {
		name  string
		ref   events.PatientRef
		valid bool
	}{
		{"from a pseudonymizer", patient, true},
		{"empty", "", false},
		{"clear CPR", testCPR, false},
		{"31 hex digits", events.PatientRef("p" + strings.Repeat("a", 31)), false},
		{"33 hex digits", events.PatientRef("p" + strings.Repeat("a", 33)), false},
		{"wrong prefix", events.PatientRef("q" + strings.Repeat("a", 32)), false},
		{"not hex", events.PatientRef("p" + strings.Repeat("g", 32)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ref.Validate()
			if (err == nil) != tt.valid {
				t.Errorf("got %v; want valid=%t", err, tt.valid)
			}
		})
	}
}

func TestPseudonymizer(t *testing.T) {
	ps, err := events.NewPseudonymizer(testSecret)
	if err != nil {
		t.Fatalf("NewPseudonymizer: %v", err)
	}
	ref := func(t *testing.T, ps *events.Pseudonymizer, cpr string) events.PatientRef {
		t.Helper()
		r, err := ps.Ref(cpr)
		if err != nil {
			t.Fatalf("Ref: %v", err)
		}
		return r
	}
	t.Run("deterministic", func(t *testing.T) {
		a, b := ref(t, ps, testCPR), ref(t, ps, testCPR)
		if a != b {
			t.Errorf("got %s and %s; want the same pseudonym", a, b)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
		if strings.Contains(string(a), testCPR) {
			t.Errorf("pseudonym %s holds the CPR", a)
		}
	})
	t.Run("dash does not matter", func(t *testing.T) {
		if a, b := ref(t, ps, "2509479989"), ref(t, ps, "250947-9989"); a != b {
			t.Errorf("got %s and %s; want the same pseudonym", a, b)
		}
	})
	t.Run("differs by CPR", func(t *testing.T) {
		if a, b := ref(t, ps, testCPR), ref(t, ps, "0102030405"); a == b {
			t.Errorf("got %s for two CPRs; want different pseudonyms", a)
		}
	})
	t.Run("differs by secret", func(t *testing.T) {
		s2 := bytes.Clone(testSecret)
		s2[0] ^= 1
		ps2, err := events.NewPseudonymizer(s2)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := ref(t, ps, testCPR), ref(t, ps2, testCPR); a == b {
			t.Errorf("got %s under two secrets; want different pseudonyms", a)
		}
	})
	t.Run("secret is copied", func(t *testing.T) {
		s := bytes.Clone(testSecret)
		ps2, err := events.NewPseudonymizer(s)
		if err != nil {
			t.Fatal(err)
		}
		before := ref(t, ps2, testCPR)
		s[0] ^= 1
		if after := ref(t, ps2, testCPR); after != before {
			t.Errorf("got %s after changing the caller's slice; want %s", after, before)
		}
	})
	t.Run("short secret rejected", func(t *testing.T) {
		for _, n := range []int{0, 16, 31} {
			if _, err := events.NewPseudonymizer(make([]byte, n)); err == nil {
				t.Errorf("%d-byte secret: got nil; want an error", n)
			}
		}
	})
	t.Run("invalid CPR rejected", func(t *testing.T) {
		_, err := ps.Ref("3102471234")
		var ve *events.ValidationError
		if !errors.As(err, &ve) || ve.Field != "cpr" {
			t.Errorf("got %v; want a *ValidationError on cpr", err)
		}
	})
}

func TestSealOpen(t *testing.T) {
	id := events.Identity{CPR: testCPR, Name: testName}
	key, err := events.NewPatientKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := events.Seal(key, patient, id)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	t.Run("round trip", func(t *testing.T) {
		got, err := sealed.Open(key, patient)
		if err != nil || got != id {
			t.Errorf("got %v, %v; want the identity back", got.CPR == id.CPR, err)
		}
	})
	t.Run("round trip through JSON", func(t *testing.T) {
		b, err := json.Marshal(&events.PathwayOpened{Patient: patient, Identity: sealed, Cluster: "aarhus"})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(testCPR)) || bytes.Contains(b, []byte("Bruno")) {
			t.Fatalf("stored form %s holds the identity in clear", b)
		}
		var p events.PathwayOpened
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Identity.Open(key, patient); err != nil || got != id {
			t.Errorf("got match=%t, %v; want the identity back", got == id, err)
		}
	})
	t.Run("fresh nonce each time", func(t *testing.T) {
		again, err := events.Seal(key, patient, id)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again.Nonce, sealed.Nonce) || bytes.Equal(again.Ciphertext, sealed.Ciphertext) {
			t.Errorf("two seals gave the same nonce or ciphertext; want fresh ones")
		}
	})
	fails := []struct {
		name    string
		key     []byte
		patient events.PatientRef
		sealed  *events.SealedIdentity
	}{
		{"wrong key", testKey, patient, sealed},
		{"wrong patient", key, other, sealed},
		{"short key", key[:16], patient, sealed},
		{"no key (shredded)", nil, patient, sealed},
		{"tampered ciphertext", key, patient, func() *events.SealedIdentity {
			c := &events.SealedIdentity{Nonce: sealed.Nonce, Ciphertext: bytes.Clone(sealed.Ciphertext)}
			c.Ciphertext[0] ^= 1
			return c
		}()},
		{"bad nonce", key, patient, &events.SealedIdentity{Nonce: sealed.Nonce[:4], Ciphertext: sealed.Ciphertext}},
		{"empty", key, patient, &events.SealedIdentity{}},
	}
	for _, tt := range fails {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.sealed.Open(tt.key, tt.patient)
			if err == nil {
				t.Fatalf("got nil error; want Open to fail")
			}
			if got != (events.Identity{}) {
				t.Errorf("got a non-zero identity with the error; want the zero Identity")
			}
		})
	}
	t.Run("seal with a bad key", func(t *testing.T) {
		if _, err := events.Seal(key[:31], patient, id); err == nil {
			t.Errorf("got nil; want an error for a 31-byte key")
		}
	})
	t.Run("keys are fresh", func(t *testing.T) {
		k2, err := events.NewPatientKey()
		if err != nil || len(k2) != 32 || bytes.Equal(k2, key) {
			t.Errorf("got %d bytes, equal=%t, %v; want a fresh 32-byte key", len(k2), bytes.Equal(k2, key), err)
		}
	})
}

// The CPR number must never reach a log line or fmt output.
func TestIdentityRedacted(t *testing.T) {
	id := events.Identity{CPR: testCPR, Name: testName}
	secret := []string{testCPR, "Bruno", "250947"}
	check := func(t *testing.T, out string) {
		t.Helper()
		for _, s := range secret {
			if strings.Contains(out, s) {
				t.Errorf("output %q holds %q; want it redacted", out, s)
			}
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("output %q does not say redacted", out)
		}
	}
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler {
			return slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
		"text": func(b *bytes.Buffer) slog.Handler {
			return slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})
		},
	}
	logs := map[string]func(*slog.Logger){
		"attr":           func(l *slog.Logger) { l.Info("admitted", "identity", id) },
		"pointer":        func(l *slog.Logger) { l.Info("admitted", "identity", &id) },
		"slog.Any":       func(l *slog.Logger) { l.Warn("admitted", slog.Any("identity", id)) },
		"group":          func(l *slog.Logger) { l.Info("admitted", slog.Group("patient", slog.Any("identity", id))) },
		"With":           func(l *slog.Logger) { l.With("identity", id).Debug("admitted") },
		"WithGroup":      func(l *slog.Logger) { l.WithGroup("p").Error("admitted", "identity", id) },
		"LogAttrs":       func(l *slog.Logger) { l.LogAttrs(t.Context(), slog.LevelInfo, "admitted", slog.Any("identity", id)) },
		"as the message": func(l *slog.Logger) { l.Info(fmt.Sprint(id)) },
	}
	for hn, h := range handlers {
		for ln, log := range logs {
			t.Run("slog/"+hn+"/"+ln, func(t *testing.T) {
				var b bytes.Buffer
				log(slog.New(h(&b)))
				check(t, b.String())
			})
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%t", "%10.3v"} {
		t.Run("fmt/"+verb, func(t *testing.T) {
			check(t, fmt.Sprintf(verb, id))
			check(t, fmt.Sprintf(verb, &id))
		})
	}
	t.Run("fmt/exported field of a struct", func(t *testing.T) {
		check(t, fmt.Sprintf("%+v", struct{ Identity events.Identity }{id}))
		check(t, fmt.Sprintf("%v", []events.Identity{id}))
	})
	t.Run("fmt/error wrapping", func(t *testing.T) {
		check(t, fmt.Errorf("open %v: %w", id, errors.New("boom")).Error())
	})
}
