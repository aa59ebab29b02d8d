package engine

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
)

// The chain (docs/security.md#verification). Every message stored on the
// event stream since the chain began carries, beside Stafet-Prev, a
// Stafet-Chain header:
//
//	Stafet-Chain: <version>.<link>.<mac>
//
//	digest = SHA-256("stafet chain v1" 0 subject 0 prev 0 data)  prev: Stafet-Prev as 8 bytes, big-endian
//	link   = SHA-256(previous message's link | digest)            32 zero bytes before a pathway's first message
//
//	version 2 (stafetd writes it):
//	mac       = AES-256-GMAC(gmac key, nonce, "stafet chain v2" 0 subject 0 prev 0 link data)
//	nonce     = the first 12 bytes of AES-256(nonce key, the link's first 16 bytes)
//	gmac key  = HMAC-SHA256(chain key, "stafet chain v2 gmac key")
//	nonce key = HMAC-SHA256(chain key, "stafet chain v2 nonce key")
//
//	version 1 (until 2026-12; read for ever):
//	mac    = HMAC-SHA256(chain key, digest | link), first 16 bytes
//
// in unpadded base64url. The links chain a pathway's messages: a changed
// byte anywhere changes the message's digest and so every later link,
// and anyone can recompute them. The MAC, under a key only stafetd can
// unwrap (stafet.key.chain), tells stafetd's own messages from ones
// written by anybody else who reaches NATS: every reader of the log
// checks it, and a message that fails is quarantined (readStored). Signed
// checkpoints (checkpoint.go) anchor the links so that an auditor without
// the chain key can verify a history (verify.go).
//
// Version 2 changed only the MAC, for the replay's sake: a reader checks
// the MAC of every message, and version 1's needs the digest (a SHA-256
// over the message) and an HMAC besides, about 3 times the CPU of one
// GMAC over the message with AES-NI (BenchmarkReadStored, check and
// check-v1). GMAC needs a nonce never used twice for different input
// under one key. The nonce is the link, a hash of the message's content
// and place, put through a block cipher under a key of its own: distinct
// links give distinct cipher blocks, and their 12-byte prefixes collide
// only as random nonces do (about 10^-13 after 150 million messages, a
// decade of national history; NIST SP 800-38D allows 2^32 messages under
// a key with random nonces), with no way to search for a collision
// offline without the key, whatever a sender can predict of a message.
// A message stored twice gets the same MAC twice, which tells nothing.
// Readers need no extra header field and stafetd no random numbers per
// append.
//
// Messages stored before the chain began (an earlier release) carry no
// header: they are unchained, which the first checkpoint records, and
// nothing fails on them. After it began, a message without the header is
// not stafetd's.
const HeaderChain = "Stafet-Chain"

// Link is a stored message's place in its pathway's chain: a hash of its
// content and of the previous message's link.
type Link [32]byte

// IsZero reports whether l is the zero link: before a pathway's first
// message, or of an unchained message.
func (l Link) IsZero() bool { return l == Link{} }

// String is the link in unpadded base64url, as the header holds it.
func (l Link) String() string { return base64.RawURLEncoding.EncodeToString(l[:]) }

const (
	macSize   = 16
	nonceSize = 12
)

// chainFields is a parsed Stafet-Chain header.
type chainFields struct {
	version byte // 1 or 2
	link    Link
	mac     [macSize]byte
}

// parseChain reads a Stafet-Chain header; ok is false if it is absent,
// and err set if it is malformed.
func parseChain(h nats.Header) (f chainFields, ok bool, err error) {
	v := headerValue(h, HeaderChain)
	if v == "" {
		return f, false, nil
	}
	ver, rest, _ := strings.Cut(v, ".")
	link, mac, found := strings.Cut(rest, ".")
	switch {
	case !found:
		return f, true, errors.New("malformed chain header")
	case ver == "2":
		f.version = 2
	case ver == "1":
		f.version = 1
	default:
		return f, true, errors.New("malformed chain header: unknown version")
	}
	if !decode64(f.link[:], link) {
		return f, true, errors.New("malformed chain link")
	}
	if !decode64(f.mac[:], mac) {
		return f, true, errors.New("malformed chain MAC")
	}
	return f, true, nil
}

// decode64 fills dst from s, unpadded base64url of exactly len(dst)
// bytes. It decodes from a copy on the stack: converting s to a []byte
// allocated twice per message read (a third of the chain check's
// allocations).
func decode64(dst []byte, s string) bool {
	var buf [64]byte
	if len(s) != base64.RawURLEncoding.EncodedLen(len(dst)) || len(s) > len(buf) {
		return false
	}
	n, err := base64.RawURLEncoding.Decode(dst, buf[:copy(buf[:], s)])
	return err == nil && n == len(dst)
}

// headerValue is h.Get(key) for the canonical keys the engine writes,
// without Get's canonicalisation of the key.
func headerValue(h nats.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// LinkOf reads a stored message's link from its headers: the zero Link
// for an unchained message (or a malformed header, which the readers
// quarantine).
func LinkOf(h nats.Header) Link {
	f, _, err := parseChain(h)
	if err != nil {
		return Link{}
	}
	return f.link
}

// prevOf reads Stafet-Prev; ok is false if it is absent or malformed.
func prevOf(h nats.Header) (uint64, bool) {
	n, err := strconv.ParseUint(headerValue(h, HeaderPrev), 10, 64)
	return n, err == nil
}

// chainer computes and checks chain headers. One per goroutine: it
// reuses its hashes, and sums into out, which lives with it, so that no
// sum escapes to the heap through the hash.Hash interface.
type chainer struct {
	key  []byte // the chain key; nil checks no MACs
	sha  hash.Hash
	mac  hash.Hash   // version 1's HMAC
	gmac cipher.AEAD // version 2's GMAC
	// nonces turns a link into version 2's nonce.
	nonces cipher.Block
	buf    []byte
	out    [32]byte
	// block and tag live here for the same reason as out.
	block [aes.BlockSize]byte
	tag   []byte
}

func newChainer(key []byte) *chainer {
	c := &chainer{key: key, sha: sha256.New(), tag: make([]byte, 0, macSize)}
	if key != nil {
		c.mac = hmac.New(sha256.New, key)
		gcm, err := cipher.NewGCM(derivedAES(key, "stafet chain v2 gmac key"))
		if err != nil {
			panic(err) // the standard nonce and tag sizes: cannot happen
		}
		c.gmac = gcm
		c.nonces = derivedAES(key, "stafet chain v2 nonce key")
	}
	return c
}

// derivedAES returns AES-256 under a key derived from the chain key for
// one use (label): each algorithm has a key of its own.
func derivedAES(chainKey []byte, label string) cipher.Block {
	h := hmac.New(sha256.New, chainKey)
	h.Write([]byte(label))
	block, err := aes.NewCipher(h.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key: cannot happen
	}
	return block
}

var (
	digestPrefix = []byte("stafet chain v1\x00")
	gmacPrefix   = []byte("stafet chain v2\x00")
)

// digest hashes a message's subject, link to its predecessor and body.
func (c *chainer) digest(subject string, prev uint64, data []byte) (d [32]byte) {
	c.sha.Reset()
	c.buf = append(c.buf[:0], digestPrefix...)
	c.buf = append(c.buf, subject...)
	c.buf = append(c.buf, 0)
	c.buf = binary.BigEndian.AppendUint64(c.buf, prev)
	c.buf = append(c.buf, 0)
	c.sha.Write(c.buf)
	c.sha.Write(data)
	return c.sha256()
}

// sha256 is the sum of c.sha.
func (c *chainer) sha256() [32]byte {
	c.sha.Sum(c.out[:0])
	return c.out
}

// link is the link of a message with digest d after a message whose link
// is after.
func (c *chainer) link(after Link, d [32]byte) Link {
	c.sha.Reset()
	c.sha.Write(c.pair(after, d))
	return c.sha256()
}

func (c *chainer) sum(d [32]byte, l Link) (m [macSize]byte) {
	c.mac.Reset()
	c.mac.Write(c.pair(d, l))
	copy(m[:], c.mac.Sum(c.out[:0]))
	return m
}

// gmacOf is version 2's MAC of a message with link l.
func (c *chainer) gmacOf(subject string, prev uint64, l Link, data []byte) (m [macSize]byte) {
	c.buf = append(c.buf[:0], gmacPrefix...)
	c.buf = append(c.buf, subject...)
	c.buf = append(c.buf, 0)
	c.buf = binary.BigEndian.AppendUint64(c.buf, prev)
	c.buf = append(c.buf, 0)
	c.buf = append(c.buf, l[:]...)
	c.buf = append(c.buf, data...)
	copy(c.block[:], l[:aes.BlockSize]) // l's own bytes would escape
	c.nonces.Encrypt(c.block[:], c.block[:])
	c.tag = c.gmac.Seal(c.tag[:0], c.block[:nonceSize], nil, c.buf)
	copy(m[:], c.tag)
	return m
}

// macMatches reports whether f's MAC is the chain key's for the message.
// d is the message's digest if the caller has it (version 1 needs it).
func (c *chainer) macMatches(f chainFields, subject string, prev uint64, data []byte, d *[32]byte) bool {
	var want [macSize]byte
	if f.version == 1 {
		if d == nil {
			x := c.digest(subject, prev, data)
			d = &x
		}
		want = c.sum(*d, f.link)
	} else {
		want = c.gmacOf(subject, prev, f.link, data)
	}
	return hmac.Equal(want[:], f.mac[:])
}

// pair is a followed by b in c.buf: arrays sliced straight into a
// hash.Hash would escape, an allocation each.
func (c *chainer) pair(a, b [32]byte) []byte {
	c.buf = append(append(c.buf[:0], a[:]...), b[:]...)
	return c.buf
}

// seal sets m's Stafet-Prev and Stafet-Chain headers, in chain version
// version (1 or 2), for a message that follows prev, whose link is after,
// and returns m's link.
func (c *chainer) seal(m *nats.Msg, prev uint64, after Link, version byte) Link {
	d := c.digest(m.Subject, prev, m.Data)
	l := c.link(after, d)
	var mac [macSize]byte
	if version == 1 {
		mac = c.sum(d, l)
	} else {
		version, mac = 2, c.gmacOf(m.Subject, prev, l, m.Data)
	}
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	m.Header[HeaderPrev] = []string{strconv.FormatUint(prev, 10)}
	m.Header[HeaderChain] = []string{string('0'+version) + "." + l.String() + "." + base64.RawURLEncoding.EncodeToString(mac[:])}
	return l
}

// ErrUnauthentic is why a reader quarantines a message that this
// deployment's stafetd did not store (events.QuarantineUnauthentic).
var ErrUnauthentic = errors.New("engine: not stored by this deployment's stafetd")

// stamp is what the chain check reads of a stored message's headers,
// parsed once: the replay parses it where the message arrives, while the
// header map nats.go has just built is still in the cache, rather than
// in a decoder a batch later (a third of the check's time went on
// finding the two headers there).
type stamp struct {
	f       chainFields
	chained bool  // a Stafet-Chain header is there
	err     error // and malformed
	prev    uint64
	hasPrev bool // a well-formed Stafet-Prev is there
}

// stampOf parses a stored message's chain headers.
func stampOf(h nats.Header) stamp {
	var st stamp
	if st.f, st.chained, st.err = parseChain(h); st.chained && st.err == nil {
		st.prev, st.hasPrev = prevOf(h)
	}
	return st
}

// check tells whether stafetd stored the message at seq: it carries a
// chain header whose MAC matches its content, or it is older than the
// chain (seq < from) and carries none. st is its headers' stamp.
func (c *chainer) check(seq, from uint64, subject string, st stamp, data []byte) error {
	switch {
	case st.err != nil:
		return unauthentic(st.err.Error())
	case !st.chained && seq < from:
		return nil
	case !st.chained:
		return unauthentic("no chain header on a message stored after the chain began")
	case c.mac == nil:
		return nil
	case !st.hasPrev:
		return unauthentic("chain header without Stafet-Prev")
	}
	if !c.macMatches(st.f, subject, st.prev, data, nil) {
		return unauthentic("the chain MAC does not match the message: changed, or not stored by this deployment")
	}
	return nil
}

func unauthentic(why string) error { return &unauthenticError{why} }

type unauthenticError struct{ why string }

func (e *unauthenticError) Error() string        { return "engine: " + e.why }
func (e *unauthenticError) Is(target error) bool { return target == ErrUnauthentic }

// chainers lends chainers to occasional readers (Load, the reactors) and
// to appends, which seal in version; the replay's decoders keep one each.
type chainers struct {
	key     []byte
	version byte
	pool    sync.Pool
}

// newChainers returns chainers with key that seal in version (1 or 2;
// 0 means 2).
func newChainers(key []byte, version int) *chainers {
	c := &chainers{key: key, version: 2}
	if version == 1 {
		c.version = 1
	}
	c.pool.New = func() any { return newChainer(key) }
	return c
}

func (c *chainers) get() *chainer  { return c.pool.Get().(*chainer) }
func (c *chainers) put(x *chainer) { c.pool.Put(x) }

// Chain sets the headers that place m after prev in its pathway, as an
// append does — Stafet-Prev, and Stafet-Chain with the link after after
// (the previous message's; the zero Link before a pathway's first) and
// its MAC — and returns m's link. For tools that write what Execute would
// (the bench's template) and for tests that write as stafetd.
func (s *Log) Chain(m *nats.Msg, prev uint64, after Link) Link {
	c := s.chainers.get()
	defer s.chainers.put(c)
	return c.seal(m, prev, after, s.chainers.version)
}
