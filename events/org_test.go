package events

import (
	"strings"
	"testing"
)

// TestOrgIDWellFormed checks Validate's one-pass check against the
// check that names what is wrong: they agree on what is valid.
func TestOrgIDWellFormed(t *testing.T) {
	codes := []string{"", "0", "0751", "075", "07510", "1234567", strings.Repeat("1", 32), strings.Repeat("1", 33),
		"12a4", "abc", "12-4", "1:23", "12 4", "١٢٣٤", "0751\n", "-"}
	schemes := []string{SchemeSOR, SchemeKommune, SchemeYder, SchemeRegion, "SOR", "sorx", "", "kommune:", "x"}
	n := 0
	for _, scheme := range schemes {
		for _, code := range codes {
			for _, id := range []OrgID{OrgID(scheme + ":" + code), OrgID(scheme + code), OrgID(scheme + "::" + code)} {
				if got, want := id.wellFormed(), id.invalid() == nil; got != want {
					t.Errorf("%q: wellFormed %v, invalid() == nil %v", id, got, want)
				}
				if id.wellFormed() {
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no valid id among the cases")
	}
}
