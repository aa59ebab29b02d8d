package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
)

// sealed returns a message sealed after prev with key, and a fresh
// checker for the same key.
func sealed(t *testing.T, key []byte, prev uint64) (*nats.Msg, *chainer) {
	t.Helper()
	m := &nats.Msg{Subject: "stafet.ev.aarhus.01957f2a-6c00-7000-8000-000000000001",
		Data: []byte(`{"id":"0195","type":"HandoffOffered","payload":{"offer":"o1"}}`)}
	after := newChainer(key).seal(m, prev, Link{})
	if after.IsZero() {
		t.Fatal("seal returned the zero link")
	}
	return m, newChainer(key)
}

// A reader's check takes a sealed message, finds a change of any byte of
// its body, subject, predecessor, link or MAC, and allocates nothing on
// the way (it runs once per message of every replay).
func TestChainCheckFindsEveryChange(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	m, c := sealed(t, key, 41)
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
	for i := len(chainVersion) + 1; i < len(chain); i++ {
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
	other, _ := sealed(t, bytes.Repeat([]byte{8}, 32), 41)
	unauthentic("another key", other.Subject, other.Header, other.Data)
}

// flip64 changes a base64url character into another one that differs in
// the sextet's highest bit: the lowest bits of a string's last character
// are padding, which decoding ignores.
func flip64(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return alphabet[strings.IndexByte(alphabet, c)^0x20]
}
