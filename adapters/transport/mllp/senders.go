package mllp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/stafet/stafet/events"
)

// Senders maps MLLP connections to the organisations they may speak for,
// from the organisations file's mllp_clients (events.Organisation): a
// client certificate by its subject common name or SHA-256 fingerprint, a
// plaintext sender by its address.
type Senders struct {
	dir   *events.Directory
	certs map[string][]events.OrgID // "cn:…" and "sha256:…"
	addrs []addrOrgs
}

type addrOrgs struct {
	prefix netip.Prefix
	org    events.OrgID
}

// NewSenders reads the senders from the directory.
func NewSenders(dir *events.Directory) *Senders {
	s := &Senders{dir: dir, certs: map[string][]events.OrgID{}}
	for _, k := range []events.Kind{events.KindHospital, events.KindMunicipality, events.KindGP, events.KindRegion} {
		for _, o := range dir.Organisations(k) {
			for _, c := range o.MLLPClients {
				s.add(c, o.ID)
			}
		}
	}
	return s
}

// add records one mllp_clients entry, whose shape the directory checked.
func (s *Senders) add(client string, org events.OrgID) {
	kind, v, _ := strings.Cut(client, ":")
	switch kind {
	case "cn":
		s.certs["cn:"+v] = append(s.certs["cn:"+v], org)
	case "sha256":
		fp := "sha256:" + strings.ToLower(strings.ReplaceAll(v, ":", ""))
		s.certs[fp] = append(s.certs[fp], org)
	case "addr":
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, _ := netip.ParseAddr(v)
			p = netip.PrefixFrom(a, a.BitLen())
		}
		s.addrs = append(s.addrs, addrOrgs{p.Masked(), org})
	}
}

// HasAddresses reports whether any sender is known by address alone.
func (s *Senders) HasAddresses() bool { return s != nil && len(s.addrs) > 0 }

// Peer is the sender at the other end of a connection, as authenticated:
// the organisations whose messages it may send.
type Peer struct {
	// Name says who it is, for logs and refusals: the certificate's
	// subject, or the address. It is never patient data.
	Name string
	orgs []events.OrgID
	// any is a peer on a loopback listener without a certificate: a trial
	// or a local integration engine, which may speak for everyone.
	any bool
	dir *events.Directory
}

// anyone is the peer of a plaintext loopback listener.
var anyone = Peer{Name: "loopback", any: true}

// Orgs returns the organisations the peer speaks for; nil for a loopback
// peer, which speaks for all.
func (p Peer) Orgs() []events.OrgID { return slices.Clone(p.orgs) }

// SpeaksFor reports whether the peer may send a message for org: one of
// its organisations, or a department of one.
func (p Peer) SpeaksFor(org events.OrgID) bool {
	if p.any {
		return true
	}
	for range 4 { // a department's hospital, at most a few levels up
		if slices.Contains(p.orgs, org) {
			return true
		}
		o, ok := p.dir.Lookup(org)
		if !ok || o.Parent == "" {
			return false
		}
		org = o.Parent
	}
	return false
}

// SpeaksForName reports whether the peer may send for the organisation
// named (an HL7 MSH-4 or PV1-3.4: a SOR code, an EAN number or an alias).
func (p Peer) SpeaksForName(name string) bool {
	if p.any {
		return true
	}
	o, ok := p.dir.Resolve(name)
	return ok && p.SpeaksFor(o.ID)
}

// certPeer is the peer holding a verified client certificate.
func (s *Senders) certPeer(cert *x509.Certificate) Peer {
	sum := sha256.Sum256(cert.Raw)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	orgs := append(slices.Clone(s.certs["cn:"+cert.Subject.CommonName]), s.certs[fp]...)
	slices.Sort(orgs)
	return Peer{Name: "certificate CN=" + printable(cert.Subject.CommonName), orgs: slices.Compact(orgs), dir: s.dir}
}

// addrPeer is a plaintext peer known by its address; ok is false for an
// address the organisations file does not list.
func (s *Senders) addrPeer(remote net.Addr) (Peer, bool) {
	if s == nil {
		return Peer{}, false
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return Peer{}, false
	}
	a := ap.Addr().Unmap()
	var orgs []events.OrgID
	for _, e := range s.addrs {
		if e.prefix.Contains(a) {
			orgs = append(orgs, e.org)
		}
	}
	slices.Sort(orgs)
	return Peer{Name: "address " + a.String(), orgs: slices.Compact(orgs), dir: s.dir}, len(orgs) > 0
}

// printable keeps a certificate's name fit for a log line and an ERR.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || strings.ContainsRune("|^~\\&", r) {
			return '?'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// peerKey is the context key of the connection's Peer.
type peerKey struct{}

// PeerFrom returns the peer of the connection a message came on (a
// Handler's ctx); a context without one (a test calling a Handler
// directly) speaks for everyone.
func PeerFrom(ctx context.Context) Peer {
	if p, ok := ctx.Value(peerKey{}).(Peer); ok {
		return p
	}
	return anyone
}

func withPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// authenticate finds who is on a new connection: the client certificate
// of a TLS connection (after the handshake), a plaintext sender's
// address, or anyone on a loopback listener. A plaintext connection from
// an address the organisations file does not list is refused.
func (s *Server) authenticate(ctx context.Context, c net.Conn) (Peer, error) {
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			return Peer{}, fmt.Errorf("mllp: tls handshake: %w", err)
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 && s.cfg.Senders != nil {
			return s.cfg.Senders.certPeer(certs[0]), nil
		}
	}
	if s.loopback {
		return anyone, nil
	}
	if p, ok := s.cfg.Senders.addrPeer(c.RemoteAddr()); ok {
		return p, nil
	}
	return Peer{}, fmt.Errorf("mllp: no client certificate, and the address is no plaintext sender of the organisations file")
}
