package engine

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stafet/stafet/events"
)

// A sealer sets a message's chain headers after prev, whose link is
// after, and returns its link.
type sealer func(key []byte, m *nats.Msg, prev uint64, after Link) Link

// sealV2 is what stafetd writes.
func sealV2(key []byte, m *nats.Msg, prev uint64, after Link) Link {
	return newChainer(key).seal(m, prev, after, 2)
}

// sealV1 is what stafetd wrote until 2026-12, computed here from the
// format's description in chain.go rather than with its code, so that
// the readers are held to what the stored messages say.
func sealV1(key []byte, m *nats.Msg, prev uint64, after Link) Link {
	d := formulaDigest(m.Subject, prev, m.Data)
	l := Link(sha256.Sum256(append(after[:], d[:]...)))
	mac := hmac.New(sha256.New, key)
	mac.Write(d[:])
	mac.Write(l[:])
	setChain(m, prev, "1", l, mac.Sum(nil)[:16])
	return l
}

// formulaDigest is chain.go's digest, from its description.
func formulaDigest(subject string, prev uint64, data []byte) [32]byte {
	b := []byte("stafet chain v1\x00" + subject + "\x00")
	b = binary.BigEndian.AppendUint64(b, prev)
	return sha256.Sum256(append(append(b, 0), data...))
}

// formulaGMAC is version 2's MAC, from its description.
func formulaGMAC(t *testing.T, key []byte, subject string, prev uint64, l Link, data []byte) []byte {
	t.Helper()
	derived := func(label string) cipher.Block {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(label))
		block, err := aes.NewCipher(h.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		return block
	}
	gcm, err := cipher.NewGCM(derived("stafet chain v2 gmac key"))
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 16)
	derived("stafet chain v2 nonce key").Encrypt(nonce, l[:16])
	aad := []byte("stafet chain v2\x00" + subject + "\x00")
	aad = binary.BigEndian.AppendUint64(aad, prev)
	aad = append(append(append(aad, 0), l[:]...), data...)
	return gcm.Seal(nil, nonce[:12], nil, aad)
}

func setChain(m *nats.Msg, prev uint64, version string, l Link, mac []byte) {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header[HeaderPrev] = []string{strconv.FormatUint(prev, 10)}
	m.Header[HeaderChain] = []string{version + "." + l.String() + "." + base64.RawURLEncoding.EncodeToString(mac)}
}

// sealed returns a message sealed after prev with key, and a fresh
// checker for the same key.
func sealed(t testing.TB, seal sealer, key []byte, prev uint64) (*nats.Msg, *chainer) {
	t.Helper()
	m := &nats.Msg{Subject: "stafet.ev.aarhus.01957f2a-6c00-7000-8000-000000000001",
		Data: []byte(`{"id":"0195","type":"HandoffOffered","payload":{"offer":"o1"}}`)}
	after := seal(key, m, prev, Link{})
	if after.IsZero() {
		t.Fatal("seal returned the zero link")
	}
	return m, newChainer(key)
}

// stafetd seals in the format chain.go describes: version 2 with the
// link of version 1 and a GMAC, and version 1 when told to.
func TestChainFormat(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	m, _ := sealed(t, sealV2, key, 41)
	want := &nats.Msg{Subject: m.Subject, Data: m.Data}
	l := sealV1(key, want, 41, Link{})
	v1 := want.Header[HeaderChain][0]
	setChain(want, 41, "2", l, formulaGMAC(t, key, m.Subject, 41, l, m.Data))
	if got, want := m.Header[HeaderChain][0], want.Header[HeaderChain][0]; got != want {
		t.Errorf("Stafet-Chain: got %s; want %s", got, want)
	}
	if got := m.Header[HeaderPrev][0]; got != "41" {
		t.Errorf("Stafet-Prev: got %s; want 41", got)
	}
	m = &nats.Msg{Subject: m.Subject, Data: m.Data}
	newChainer(key).seal(m, 41, Link{}, 1)
	if got := m.Header[HeaderChain][0]; got != v1 {
		t.Errorf("version 1: Stafet-Chain %s; want %s", got, v1)
	}
}

// A store told to write chain version 1 (a rolling upgrade from a release
// that reads nothing else) does, and reads and verifies what it wrote.
func TestChainVersionSetting(t *testing.T) {
	ctx := context.Background()
	if err := (Config{ChainVersion: 3}).Validate(); err == nil {
		t.Error("chain version 3: no error")
	}
	s, ref := openLog(t, Config{ChainVersion: 1})
	pw := events.NewID()
	for _, p := range []events.Payload{
		&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"},
		&events.PatientAdmitted{Hospital: "sor:6620000000001", Class: events.Inpatient},
	} {
		res, err := s.Execute(ctx, events.Command{Pathway: pw, Actor: events.Actor{Org: "sor:6620000000001"}, OccurredAt: time.Now(), Payloads: []events.Payload{p}})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.lastChain(t, res.LastSeq); !strings.HasPrefix(got, "1.") {
			t.Errorf("seq %d: Stafet-Chain %s; want version 1", res.LastSeq, got)
		}
	}
	history, err := s.Load(ctx, pw)
	if err != nil || len(history) != 2 {
		t.Fatalf("load: got %d events, %v; want 2", len(history), err)
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || rep.Mismatch != nil || rep.Checked != 2 {
		t.Errorf("verify: got %+v, %v; want 2 checked, no mismatch", rep, err)
	}
}

// A reader's check takes a sealed message, of either version, finds a
// change of any byte of its body, subject, predecessor, version, link or
// MAC, and allocates nothing on the way (it runs once per message of
// every replay).
func TestChainCheckFindsEveryChange(t *testing.T) {
	for _, v := range []struct {
		name string
		seal sealer
	}{{"version 2", sealV2}, {"version 1", sealV1}} {
		t.Run(v.name, func(t *testing.T) { checkFindsEveryChange(t, v.seal) })
	}
}

func checkFindsEveryChange(t *testing.T, seal sealer) {
	key := bytes.Repeat([]byte{7}, 32)
	m, c := sealed(t, seal, key, 41)
	if err := c.check(50, 1, m.Subject, stampOf(m.Header), m.Data); err != nil {
		t.Fatalf("sealed message: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = c.check(50, 1, m.Subject, stampOf(m.Header), m.Data) }); n != 0 {
		t.Errorf("check allocates %v times per message; want 0", n)
	}
	unauthentic := func(what string, subject string, h nats.Header, data []byte) {
		t.Helper()
		if err := c.check(50, 1, subject, stampOf(h), data); !errors.Is(err, ErrUnauthentic) {
			t.Errorf("%s: got %v; want ErrUnauthentic", what, err)
		}
	}
	for i := range m.Data {
		data := bytes.Clone(m.Data)
		data[i] ^= 1
		unauthentic(fmt.Sprint("body byte ", i), m.Subject, m.Header, data)
	}
	unauthentic("subject", m.Subject[:len(m.Subject)-1]+"2", m.Header, m.Data)
	withHeader := func(key, v string) nats.Header {
		h := nats.Header{}
		for k, vs := range m.Header {
			h[k] = vs
		}
		h[key] = []string{v}
		return h
	}
	unauthentic("predecessor", m.Subject, withHeader(HeaderPrev, "42"), m.Data)
	chain := m.Header[HeaderChain][0]
	for _, v := range []string{"1", "2", "3", "0"} {
		if !strings.HasPrefix(chain, v+".") {
			unauthentic("version "+v, m.Subject, withHeader(HeaderChain, v+chain[1:]), m.Data)
		}
	}
	for i := strings.IndexByte(chain, '.') + 1; i < len(chain); i++ {
		if chain[i] == '.' {
			continue
		}
		b := []byte(chain)
		b[i] = flip64(b[i])
		unauthentic("chain header byte", m.Subject, withHeader(HeaderChain, string(b)), m.Data)
	}
	unauthentic("chain header cut short", m.Subject, withHeader(HeaderChain, chain[:len(chain)-1]), m.Data)
	unauthentic("chain header too long", m.Subject, withHeader(HeaderChain, chain+"A"), m.Data)

	// Another key's MAC is not this deployment's.
	other, _ := sealed(t, seal, bytes.Repeat([]byte{8}, 32), 41)
	unauthentic("another key", other.Subject, other.Header, other.Data)
}

// flip64 changes a base64url character into another one that differs in
// the sextet's highest bit: the lowest bits of a string's last character
// are padding, which decoding ignores.
func flip64(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[strings.IndexByte(alphabet, c)^0x20]
}

// A pathway begun by a release that wrote version 1 and continued by
// this one reads, replays and verifies whole; a changed version 1
// message is still found.
func TestChainVersionOneStaysReadable(t *testing.T) {
	ctx := context.Background()
	s, ref := openLog(t, Config{})
	pw := events.NewID()
	at := time.Now().UTC().Truncate(time.Millisecond)
	opened := events.Envelope{ID: events.NewID(), Pathway: pw, Type: events.TypePathwayOpened, Schema: 1, OccurredAt: at, RecordedAt: at,
		Actor: events.Actor{Org: "kommune:0751"}, Payload: &events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: "kommune:0751"}}
	publishV1 := func(e events.Envelope, prev uint64, after Link, change func([]byte)) uint64 {
		t.Helper()
		m := nats.NewMsg(Subject("aarhus", pw))
		var err error
		if m.Data, err = s.codec.Encode(&e); err != nil {
			t.Fatal(err)
		}
		sealV1(s.chainers.key, m, prev, after)
		if change != nil {
			change(m.Data)
		}
		ack, err := s.js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	publishV1(opened, 0, Link{}, nil)
	res, err := s.Execute(ctx, events.Command{Pathway: pw, Actor: events.Actor{Org: "sor:6620000000001"}, OccurredAt: at,
		Payloads: []events.Payload{&events.PatientAdmitted{Hospital: "sor:6620000000001", Class: events.Inpatient}}})
	if err != nil {
		t.Fatalf("append after a version 1 message: %v", err)
	}
	if got := s.lastChain(t, res.LastSeq); !strings.HasPrefix(got, "2.") {
		t.Errorf("appended: Stafet-Chain %s; want version 2", got)
	}

	want := []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted}
	history, err := s.Load(ctx, pw)
	if err != nil || !slices.Equal(typesOf(history), want) {
		t.Fatalf("load: got %v, %v; want %v", typesOf(history), err, want)
	}
	replayed := folded{}
	if _, err := s.Replay(ctx, ReplayOptions{}, replayed); err != nil || !slices.Equal(replayed[pw], want) {
		t.Fatalf("replay: got %v, %v; want %v", replayed[pw], err, want)
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil || rep.Mismatch != nil || rep.Checked != 2 {
		t.Fatalf("verify: got %+v, %v; want 2 checked, no mismatch", rep, err)
	}

	// A version 1 message changed after it was sealed.
	closed := events.Envelope{ID: events.NewID(), Pathway: pw, Type: events.TypePatientDied, Schema: 1, OccurredAt: at, RecordedAt: at, Payload: &events.PatientDied{}}
	last, err := s.getMsg(ctx, res.LastSeq, "")
	if err != nil {
		t.Fatal(err)
	}
	changed := publishV1(closed, res.LastSeq, LinkOf(last.Header), func(b []byte) {
		// Another event ID, the body still well formed.
		i := bytes.Index(b, []byte(`"id":"`)) + len(`"id":"`)
		b[i] = map[bool]byte{true: 'b', false: 'a'}[b[i] == 'a']
	})
	history, _ = s.Load(ctx, pw)
	if q, ok := StandIn(&history[len(history)-1]); !ok || q.Reason != events.QuarantineUnauthentic {
		t.Errorf("load: got %+v (%+v) last; want the changed message's stand-in, unauthentic", history[len(history)-1], q)
	}
	if rep, _ := s.Verify(ctx, VerifyOptions{}); rep.Mismatch == nil || rep.Mismatch.Seq != changed {
		t.Errorf("verify: got %+v; want seq %d named", rep.Mismatch, changed)
	}
}

// lastChain is the Stafet-Chain header of the message at seq.
func (s *Log) lastChain(t *testing.T, seq uint64) string {
	t.Helper()
	m, err := s.getMsg(context.Background(), seq, "")
	if err != nil {
		t.Fatal(err)
	}
	return m.Header.Get(HeaderChain)
}

func typesOf(evs []events.Envelope) []events.Type {
	var ts []events.Type
	for _, e := range evs {
		ts = append(ts, e.Type)
	}
	return ts
}

// The chain's reader takes any header a writer to NATS can put on a
// message without failing, and passes a message only with the headers,
// predecessor and body stafetd sealed.
func FuzzChainCheck(f *testing.F) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, seal := range []sealer{sealV2, sealV1} {
		m, _ := sealed(f, seal, key, 41)
		f.Add(m.Header[HeaderChain][0], m.Header[HeaderPrev][0], m.Data)
	}
	f.Add("2..", "", []byte("{}"))
	f.Add("1.AAAA.BBBB", "-1", []byte(nil))
	f.Add("2."+strings.Repeat("A", 43)+"."+strings.Repeat("A", 22), "18446744073709551616", []byte("x"))
	v2, _ := sealed(f, sealV2, key, 41)
	v1, _ := sealed(f, sealV1, key, 41)
	c := newChainer(key)
	f.Fuzz(func(t *testing.T, chain, prev string, data []byte) {
		h := nats.Header{HeaderChain: {chain}, HeaderPrev: {prev}}
		st := stampOf(h)
		if err := c.check(50, 1, v2.Subject, st, data); err != nil {
			if !errors.Is(err, ErrUnauthentic) {
				t.Fatalf("check: %v; want nil or ErrUnauthentic", err)
			}
			return
		}
		for _, m := range []*nats.Msg{v2, v1} {
			want := stampOf(m.Header)
			if st.f == want.f && st.prev == want.prev && bytes.Equal(data, m.Data) {
				return
			}
		}
		t.Fatalf("check passed chain %q, prev %q, body %q: not what stafetd sealed", chain, prev, data)
	})
}
