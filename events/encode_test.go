package events_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// foreignPayload is a payload type of another package: Encode hands it
// to encoding/json.
type foreignPayload struct {
	Note string    `json:"note,omitempty"`
	At   time.Time `json:"at"`
	N    float64   `json:"n"`
}

func (*foreignPayload) Type() events.Type { return "Foreign" }
func (*foreignPayload) Validate() error   { return nil }

// awkward are strings encoding/json escapes, or nearly does.
var awkward = []string{
	"", "plain", `a "quoted" \ back\slash`, "<script>&amp;</script>", "tab\tnew\nline\rcr\bbs\fff",
	"\x00\x01\x1f\x7f", "æøå ÆØÅ Ærø", "line\u2028para\u2029end", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80 surrogate",
	"\xc0\x80 overlong", "\uFFFD replacement", "emoji 🏥", strings.Repeat("x", 600),
}

// encodeCases returns every example, each again with every optional part
// and with none, simulator-like payloads (the bench workload's shapes,
// non-UTC and sub-second times) and payloads of awkward strings.
func encodeCases(t testing.TB) []events.Envelope {
	t.Helper()
	var out []events.Envelope
	for _, x := range examples(t) {
		out = append(out, x.env)
		full := x.env
		full.Source = events.Source{System: "hl7v2", Org: auh, MessageID: "MSG<1>"}
		full.Actor = events.Actor{Org: aarhus, Role: "visitator"}
		full.Correlation, full.Causation = "sim/17", "01957f2a-6c00-7000-8000-000000000001"
		bare := x.env
		bare.RecordedAt, bare.Source, bare.Actor, bare.Correlation, bare.Causation = time.Time{}, events.Source{}, events.Actor{}, "", ""
		out = append(out, full, bare)
	}
	cet := time.FixedZone("CET", 3600)
	at := time.Date(2025, 11, 3, 14, 7, 12, 123456789, cet)
	sim := func(n int, src events.Source, actor events.OrgID, p events.Payload) events.Envelope {
		return events.Envelope{
			ID: uuid.MustParse(fmt.Sprintf("0196a1b2-c3d4-7e5f-8a9b-%012x", n)), Pathway: pathway1,
			OccurredAt: at.Add(time.Duration(n) * time.Minute), RecordedAt: time.Now(),
			Source: src, Actor: events.Actor{Org: actor}, Correlation: fmt.Sprintf("sim/%d", n), Payload: p,
		}
	}
	oid := "offer/0196a1b2-c3d4-7e5f-8a9b-000000000001"
	out = append(out,
		sim(1, events.Source{System: "medcom", Org: auh, MessageID: "STIN-42"}, auh, &events.PathwayOpened{
			Patient: patient, Identity: &events.SealedIdentity{Nonce: []byte{}, Ciphertext: []byte{0xff, 0, 1}},
			Cluster: "aarhus", Municipality: aarhus, GP: gp, Episode: "ep-1",
		}),
		sim(2, events.Source{System: "medcom", Org: auh, MessageID: "STIN-42"}, auh, &events.PathwayOpened{
			Patient: patient, Identity: &events.SealedIdentity{}, Cluster: "aarhus",
		}),
		sim(3, events.Source{System: "hl7v2", Org: auh, MessageID: "MSG1"}, auh, &events.PatientAdmitted{
			Hospital: auh, Class: events.AcuteAmbulant, Episode: "ep-1",
		}),
		sim(4, events.Source{System: "policy", MessageID: oid}, "", &events.HandoffOffered{
			Offer: oid, From: auh, To: aarhus, What: events.HomeCare, Deadline: at.Add(4 * time.Hour).UTC(), Policy: "discharge",
		}),
		sim(5, events.Source{System: "stafet", MessageID: "deadline/" + oid}, "", &events.DeadlineElapsed{
			Ref: oid, Rule: "offer-answer", Deadline: at.Add(4 * time.Hour),
		}),
		sim(6, events.Source{System: "api", Org: aarhus, MessageID: "reject/" + oid}, aarhus, &events.HandoffRejected{
			Offer: oid, By: aarhus, Reason: "ingen plads",
		}),
		sim(7, events.Source{System: "medcom", Org: aarhus, MessageID: "ack-1"}, aarhus, &events.DocumentAcknowledged{
			Document: "doc-1", By: aarhus, Reason: "AE",
		}),
		sim(8, events.Source{System: "stafet", MessageID: "close/ep-1"}, "", &events.PathwayClosed{Reason: "completed"}),
		sim(9, events.Source{}, "", &events.PatientDied{}),
		sim(10, events.Source{}, "", &events.LeaveStarted{Hospital: auh}),
		sim(11, events.Source{}, "", &events.DischargeExpected{Hospital: auh, Expected: at}),
		sim(12, events.Source{}, "", &events.DocumentRequested{Document: "d", Kind: events.DischargeReport, From: auh, To: gp}),
		sim(13, events.Source{}, "", &events.PatientIdentityMerged{Survivor: patient, Merged: other}),
		sim(14, events.Source{}, "", &events.PatientIdentityMerged{Survivor: patient, Merged: other, MergedPathway: pathway1}),
		sim(15, events.Source{}, "", &events.Correction{Reason: "x"}),
		sim(16, events.Source{}, "", &events.DocumentAcknowledged{}),
		sim(17, events.Source{}, "", &events.PatientAdmitted{ReportRequested: true}),
		sim(18, events.Source{}, "", &foreignPayload{Note: "<x>", At: at, N: 1e21}),
		sim(19, events.Source{}, "", (*events.PatientAdmitted)(nil)),
		sim(20, events.Source{}, "", (*events.PathwayOpened)(nil)),
	)
	for i, s := range awkward {
		e := sim(100+i, events.Source{System: s, Org: events.OrgID(s), MessageID: s}, events.OrgID(s), &events.DocumentSent{
			Document: s, Kind: events.DocumentKind(s), From: events.OrgID(s), To: events.OrgID(s), InReplyTo: s,
		})
		e.Actor.Role, e.Correlation, e.Causation = s, s, s
		out = append(out, e,
			sim(200+i, events.Source{}, "", &events.HandoffOffered{Offer: s, From: events.OrgID(s), To: events.OrgID(s), What: events.Responsibility(s), Policy: s}),
			sim(300+i, events.Source{}, "", &events.PatientAdmitted{Hospital: events.OrgID(s), Department: s, Class: events.AdmissionClass(s), Episode: s, Notified: events.OrgID(s)}),
			sim(400+i, events.Source{}, "", &events.PathwayOpened{Patient: events.PatientRef(s), Cluster: s, Municipality: events.OrgID(s), GP: events.OrgID(s), Episode: s}),
		)
	}
	return out
}

// TestEncodeMatchesReference holds Encode and EncodeCommit to the bytes
// (and errors) of the encoding/json encoder that wrote the log.
func TestEncodeMatchesReference(t *testing.T) {
	c := events.NewCodec()
	cases := encodeCases(t)
	for i, e := range cases {
		t.Run(fmt.Sprintf("%d-%s", i, e.Payload.Type()), func(t *testing.T) {
			matchReference(t, c, []events.Envelope{e})
		})
	}
	t.Run("commits", func(t *testing.T) {
		for n := 0; n <= 4; n++ {
			for i := 0; i+n <= len(cases); i += 5 {
				matchReference(t, c, cases[i:i+n])
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		ok := cases[0]
		for _, e := range []events.Envelope{
			{},
			{OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Payload: &events.PatientDied{}},
			{OccurredAt: time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600)), Payload: &events.PatientDied{}},
			{RecordedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Payload: &events.PatientDied{}},
			{Payload: &events.LeaveStarted{Until: time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))}},
			{Payload: &events.DischargeExpected{Expected: time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", -30*3600))}},
			{Payload: &events.DeadlineElapsed{Deadline: time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{Payload: &events.HandoffOffered{Deadline: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{Payload: &events.DocumentSent{Deadline: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
			{Payload: &foreignPayload{At: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)}},
		} {
			matchReference(t, c, []events.Envelope{e})
			matchReference(t, c, []events.Envelope{ok, e})
		}
	})
}

// matchReference checks EncodeCommit (and Encode, for one envelope)
// against the reference encoder.
func matchReference(t *testing.T, c *events.Codec, evs []events.Envelope) {
	t.Helper()
	got, err := c.EncodeCommit(evs)
	want, wantErr := c.EncodeCommitReference(evs)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
		t.Fatalf("EncodeCommit of %d events: got %s (%v)\nwant %s (%v)", len(evs), got, err, want, wantErr)
	}
	if len(evs) != 1 {
		return
	}
	got, err = c.Encode(&evs[0])
	if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
		t.Fatalf("Encode: got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
	}
}

// BenchmarkEncodeCommit encodes the mix in commits of one to three
// events, as append does.
func BenchmarkEncodeCommit(b *testing.B) {
	c := events.NewCodec()
	envs := mix(b)
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for i := 0; b.Loop(); i++ {
		k := 1 + i%3
		j := i % (len(envs) - k)
		if _, err := c.EncodeCommit(envs[j : j+k]); err != nil {
			b.Fatal(err)
		}
		n += k
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}
