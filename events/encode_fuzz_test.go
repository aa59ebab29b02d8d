package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// FuzzEncodeMatchesReference builds envelopes of every type from fuzzed
// strings, times, zones and flags, and requires Encode and EncodeCommit
// to write the bytes (or fail with the error) of the encoding/json
// reference. The seed corpus is in testdata/fuzz/FuzzEncodeMatchesReference.
//
//	go test ./events -run '^$' -fuzz FuzzEncodeMatchesReference -fuzztime 120s
func FuzzEncodeMatchesReference(f *testing.F) {
	c := NewCodec()
	f.Fuzz(func(t *testing.T, kind uint8, s0, s1, s2, s3 string, sec, nsec int64, zone int32, flags uint32, raw []byte) {
		g := &fuzzEnvelope{s: [4]string{s0, s1, s2, s3}, sec: sec, nsec: nsec, zone: zone, flags: flags, raw: raw}
		e := g.envelope(kind)
		second := g.envelope(kind + 1)
		for _, evs := range [][]Envelope{{e}, {e, second}} {
			got, err := c.EncodeCommit(evs)
			want, wantErr := c.EncodeCommitReference(evs)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
				t.Fatalf("EncodeCommit of %d: got %s (%v)\nwant %s (%v)", len(evs), got, err, want, wantErr)
			}
		}
		got, err := c.Encode(&e)
		want, wantErr := c.EncodeReference(&e)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !bytes.Equal(got, want) {
			t.Fatalf("Encode: got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
		}
	})
}

// fuzzEnvelope turns fuzzed values into envelopes: each bit of flags
// empties one string or zeroes one time, so that every omitempty field
// is both written and left out.
type fuzzEnvelope struct {
	s     [4]string
	sec   int64
	nsec  int64
	zone  int32
	flags uint32
	raw   []byte
	next  int
}

// str returns the next fuzzed string, or "" if its flag is set.
func (g *fuzzEnvelope) str() string {
	i := g.next
	g.next++
	if g.flags&(1<<(i%32)) != 0 {
		return ""
	}
	return g.s[i%len(g.s)]
}

func (g *fuzzEnvelope) org() OrgID { return OrgID(g.str()) }

func (g *fuzzEnvelope) bool() bool {
	g.next++
	return g.flags&(1<<(g.next%32)) != 0
}

// time returns a time in a fuzzed zone, or the zero time if its flag is
// set. Years stay in 0-9999 unless the top flag says otherwise, so that
// most inputs encode and some fail.
func (g *fuzzEnvelope) time() time.Time {
	g.next++
	if g.flags&(1<<(g.next%32)) != 0 {
		return time.Time{}
	}
	sec, nsec := g.sec+int64(g.next)*86399, g.nsec
	if g.flags&(1<<31) == 0 {
		const span = 253402300800 + 62135596800 // 0000-01-01 to 9999-12-31 in Unix seconds
		sec = ((sec+62135596800)%span+span)%span - 62135596800
		nsec = (nsec%1e9 + 1e9) % 1e9
	}
	zone := g.zone
	if g.flags&(1<<30) == 0 {
		zone %= 24 * 3600
	}
	return time.Unix(sec, nsec).In(time.FixedZone("", int(zone)))
}

func (g *fuzzEnvelope) uuid() uuid.UUID {
	var id uuid.UUID
	g.next++
	for i := range id {
		if len(g.raw) > 0 {
			id[i] = g.raw[(i+g.next)%len(g.raw)] + byte(g.next)
		}
	}
	return id
}

func (g *fuzzEnvelope) bytes() []byte {
	g.next++
	switch g.flags >> (g.next % 32) & 3 {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	return g.raw
}

func (g *fuzzEnvelope) envelope(kind uint8) Envelope {
	g.next = int(kind)
	e := Envelope{
		ID: g.uuid(), Pathway: g.uuid(), OccurredAt: g.time(), RecordedAt: g.time(),
		Source:      Source{System: g.str(), Org: g.org(), MessageID: g.str()},
		Actor:       Actor{Org: g.org(), Role: g.str()},
		Correlation: g.str(), Causation: g.str(),
	}
	e.Payload = g.payload(kind)
	return e
}

// payload returns a payload of one of the 22 types by kind, or a nil
// pointer of one, or a payload type encoding/json writes alone.
func (g *fuzzEnvelope) payload(kind uint8) Payload {
	switch kind % 25 {
	case 0:
		p := &PathwayOpened{Patient: PatientRef(g.str()), Cluster: g.str(), Municipality: g.org(), GP: g.org(), Episode: g.str()}
		if g.bool() {
			p.Identity = &SealedIdentity{Nonce: g.bytes(), Ciphertext: g.bytes()}
		}
		return p
	case 1:
		return &PatientAdmitted{Hospital: g.org(), Department: g.str(), Class: AdmissionClass(g.str()), Episode: g.str(), Notified: g.org(), ReportRequested: g.bool()}
	case 2:
		return &PatientTransferred{From: g.org(), To: g.org(), Department: g.str()}
	case 3:
		return &LeaveStarted{Hospital: g.org(), Until: g.time()}
	case 4:
		return &LeaveEnded{Hospital: g.org()}
	case 5:
		return &DischargeExpected{Hospital: g.org(), Expected: g.time()}
	case 6:
		return &ReadyForDischarge{Hospital: g.org(), Municipality: g.org()}
	case 7:
		return &PatientDischarged{Hospital: g.org(), Destination: Destination(g.str()), To: g.org()}
	case 8:
		return &PatientDied{Place: g.org()}
	case 9:
		return &HandoffOffered{Offer: g.str(), From: g.org(), To: g.org(), What: Responsibility(g.str()), Deadline: g.time(), Policy: g.str()}
	case 10:
		return &HandoffAccepted{Offer: g.str(), By: g.org()}
	case 11:
		return &HandoffRejected{Offer: g.str(), By: g.org(), Reason: g.str()}
	case 12:
		return &HandoffWithdrawn{Offer: g.str(), By: g.org(), Reason: g.str()}
	case 13:
		return &ResponsibilityReleased{By: g.org(), What: Responsibility(g.str())}
	case 14:
		return &DocumentRequested{Document: g.str(), Kind: DocumentKind(g.str()), From: g.org(), To: g.org(), Deadline: g.time()}
	case 15:
		return &DocumentSent{Document: g.str(), Kind: DocumentKind(g.str()), From: g.org(), To: g.org(), Deadline: g.time(), InReplyTo: g.str()}
	case 16:
		return &DocumentAcknowledged{Document: g.str(), By: g.org(), OK: g.bool(), Reason: g.str()}
	case 17:
		return &ServiceStarted{By: g.org(), What: Responsibility(g.str())}
	case 18:
		return &DeadlineElapsed{Ref: g.str(), Rule: g.str(), Deadline: g.time()}
	case 19:
		return &PathwayClosed{Reason: g.str()}
	case 20:
		p := &PatientIdentityMerged{Survivor: PatientRef(g.str()), Merged: PatientRef(g.str())}
		if g.bool() {
			p.MergedPathway = g.uuid()
		}
		return p
	case 21:
		return &Correction{Annuls: g.uuid(), Reason: g.str()}
	case 22:
		return (*DocumentSent)(nil)
	case 23:
		return &otherPayload{Name: g.str(), Kind: Type(g.str()), At: g.time(), N: float64(g.sec) / 7, Raw: json.RawMessage(`{"a" : [1, "<&>"]}`)}
	}
	return &otherPayload{Kind: Type(g.str())}
}

// otherPayload is a payload type Encode does not write itself.
type otherPayload struct {
	Name string          `json:"name,omitempty"`
	Kind Type            `json:"-"`
	At   time.Time       `json:"at"`
	N    float64         `json:"n"`
	Raw  json.RawMessage `json:"raw,omitempty"`
}

func (p *otherPayload) Type() Type    { return p.Kind }
func (*otherPayload) Validate() error { return nil }

// TestAppendStringMatchesEncodingJSON compares appendString with
// encoding/json on every byte alone and between letters, and on the runes
// and invalid sequences it treats apart.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var inputs []string
	for c := range 256 {
		inputs = append(inputs, string([]byte{byte(c)}), "a"+string([]byte{byte(c)})+"b")
	}
	for _, r := range []rune{0x7f, 0x80, 0x2027, 0x2028, 0x2029, 0x202a, utf8.RuneError, utf8.MaxRune} {
		inputs = append(inputs, string(r), "x"+string(r)+"y")
	}
	inputs = append(inputs, "\xed\xa0\x80", "\xc0\x80", "\xe2\x80", "\xe2\x80\xa8\xe2", "\xf4\x90\x80\x80", "ab\xff")
	for _, s := range inputs {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q): got %s; want %s", s, got, want)
		}
	}
}
