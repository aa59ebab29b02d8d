package events_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stafet/stafet/events"
)

// ruleMeanings is the pathway rules table of docs/events.md: every
// RuleError.Rule that Decide returns, and what it means.
var ruleMeanings = map[string]string{
	"already-open":            "A pathway is opened once: PathwayOpened on an open pathway.",
	"not-party":               "An organisation that is not party to the pathway (events.Parties) joins it only by starting its own care: an admission to itself or a transfer to it (a handoff offered to it makes it a party). Anything else it sends (a death, a discharge, a leave, a cancellation, a merge, a transfer away) is refused (docs/security.md).",
	"closed":                  "Nothing but a Correction follows PathwayClosed.",
	"not-admitted":            "A transfer, leave, expected discharge, ready-for-discharge or discharge needs the patient in hospital.",
	"not-admitting-hospital":  "Only the hospital that holds the stay sends those events.",
	"already-on-leave":        "LeaveStarted while the patient is on leave.",
	"not-on-leave":            "LeaveEnded while the patient is not on leave.",
	"already-dead":            "The death is recorded once.",
	"patient-dead":            "No admission after the death is recorded.",
	"offer-id-unique":         "An offer id is used once on a pathway.",
	"already-holds":           "No offer to the organisation that already holds that responsibility.",
	"only-addressee-answers":  "Only the offer's addressee accepts or rejects it (both `by` and the acting organisation).",
	"one-holder":              "One organisation holds each kind of responsibility at a time: a third party's acceptance waits until the holder releases it.",
	"only-sender-withdraws":   "Only the offer's sender withdraws it (both `by` and the acting organisation).",
	"unknown-offer":           "An answer or withdrawal names an offer made on this pathway.",
	"offer-not-pending":       "An offer is answered or withdrawn once, while it is pending.",
	"only-holder-releases":    "Only the organisation that holds a responsibility releases it.",
	"document-kind-fixed":     "A document id keeps the kind it was first requested or sent as.",
	"unknown-document":        "An acknowledgement names a document requested or sent on this pathway.",
	"merge-into-this-patient": "PatientIdentityMerged's survivor is this pathway's patient.",
	"link-this-patient":       "PatientIdentityLinked names this pathway's patient, or an identity linked to it, on one side.",
	"already-linked":          "Two identities are linked on a pathway once (a Correction of the link undoes it).",
	"unknown-event":           "A Correction annuls an event of this pathway.",
	"correct-a-correction":    "A Correction is not annulled; append the annulled event again instead.",
	"correct-opening":         "PathwayOpened is not annulled; close the pathway instead.",
	"correct-deadline":        "DeadlineElapsed is not annulled: the deadline did pass, and the scheduler records it once.",
	"already-annulled":        "An event is annulled once.",
	"quarantine-by-operator":  "QuarantineResolved is the operator's decision (`stafet quarantine resolve`), never a command's.",
}

// ruleOrder is the order of the rules table: roughly the life of a pathway.
var ruleOrder = []string{
	"already-open", "not-party", "closed", "not-admitted", "not-admitting-hospital", "already-on-leave", "not-on-leave",
	"already-dead", "patient-dead", "offer-id-unique", "already-holds", "only-addressee-answers", "one-holder",
	"only-sender-withdraws", "unknown-offer", "offer-not-pending", "only-holder-releases", "document-kind-fixed",
	"unknown-document", "merge-into-this-patient", "link-this-patient", "already-linked", "unknown-event", "correct-a-correction", "correct-opening",
	"correct-deadline", "already-annulled", "quarantine-by-operator",
}

const docPath = "../docs/events.md"

// exampleJSON is the stored form of an example, indented for reading.
func exampleJSON(t *testing.T, c *events.Codec, e *events.Envelope) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, mustEncode(t, c, e), "", "  "); err != nil {
		t.Fatal(err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

// generated returns the generated blocks of docs/events.md by name.
func generated(t *testing.T) map[string]string {
	t.Helper()
	c := events.NewCodec()
	blocks := map[string]string{}
	for _, x := range examples(t) {
		blocks["example "+string(x.env.Type)] = "```json\n" + string(exampleJSON(t, c, &x.env)) + "```\n"
	}
	var rules strings.Builder
	rules.WriteString("| rule | meaning |\n|---|---|\n")
	for _, r := range ruleOrder {
		fmt.Fprintf(&rules, "| `%s` | %s |\n", r, ruleMeanings[r])
	}
	blocks["rules"] = rules.String()
	return blocks
}

var blockRE = regexp.MustCompile(`(?s)<!-- BEGIN (.+?) -->\n(.*?)<!-- END -->`)

// TestDocExamples checks that testdata/examples holds the stored form of
// every example and that docs/events.md quotes them and the rules table.
// With -update it rewrites both:
//
//	go test ./events -run TestDocExamples -update
func TestDocExamples(t *testing.T) {
	c := events.NewCodec()
	dir := filepath.Join("testdata", "examples")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, x := range examples(t) {
		name := filepath.Join(dir, string(x.env.Type)+".json")
		want := exampleJSON(t, c, &x.env)
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Errorf("%v (run with -update)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: stored form changed\ngot  %s\nwant %s\n(if intended, the old form needs an upcaster; then run with -update)", name, got, want)
		}
		// The stored examples decode, so docs never show a form the codec
		// rejects.
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(compact.Bytes()); err != nil {
			t.Errorf("%s: Decode: %v", name, err)
		}
	}

	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	blocks := generated(t)
	seen := map[string]bool{}
	out := blockRE.ReplaceAllStringFunc(string(doc), func(m string) string {
		sub := blockRE.FindStringSubmatch(m)
		name, body := sub[1], sub[2]
		want, ok := blocks[name]
		if !ok {
			t.Errorf("%s: unknown generated block %q", docPath, name)
			return m
		}
		seen[name] = true
		if body != want && !*update {
			t.Errorf("%s: block %q is stale; run go test ./events -run TestDocExamples -update", docPath, name)
		}
		return "<!-- BEGIN " + name + " -->\n" + want + "<!-- END -->"
	})
	for name := range blocks {
		if !seen[name] {
			t.Errorf("%s: no block %q; want <!-- BEGIN %s --> … <!-- END -->", docPath, name, name)
		}
	}
	if *update && out != string(doc) {
		if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, typ := range events.Types() {
		if !strings.Contains(string(doc), "### "+string(typ)) {
			t.Errorf("%s: no section ### %s", docPath, typ)
		}
	}
	if len(ruleOrder) != len(ruleMeanings) {
		t.Errorf("ruleOrder has %d rules, ruleMeanings %d; want the same", len(ruleOrder), len(ruleMeanings))
	}
}
