package alerts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A webhook URL is chosen by an organisation's user, and stafetd runs
// inside a hospital or regional network: without a fence, a webhook is a
// way to make stafetd send requests to what only it can reach (a cloud
// metadata service, an admin interface on loopback, the NATS monitoring
// port). The fence is an egress policy: a webhook may reach only globally
// routable unicast addresses. It is applied when a webhook is registered
// (to the URL's host and to every address its name resolves to) and again
// on every connection, to the address that was resolved and checked in
// that same attempt, which is the address dialled. A name that resolves to
// a public address at registration and to 169.254.169.254 later (DNS
// rebinding) is refused at the later connection.

// ErrEgressDenied is returned (wrapped) for a webhook address the egress
// policy refuses.
var ErrEgressDenied = errors.New("alerts: webhook address not allowed")

// denied lists the special-purpose ranges of the IANA IPv4 and IPv6
// special-purpose address registries (RFC 6890 and its updates) that a
// webhook must not reach, with the reason given to the user. IPv4-mapped
// IPv6 addresses are unmapped before the check; IPv6 outside 2000::/3 is
// refused as a whole.
var denied = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified ('this network') address"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a shared (carrier-grade NAT) address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address (cloud metadata services live here)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("192.88.99.0/24"), "a 6to4 relay address"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved or broadcast address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("64:ff9b::/96"), "a NAT64 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("2001::/23"), "an IETF protocol assignment (Teredo among them)"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("2002::/16"), "a 6to4 address"},
	{netip.MustParsePrefix("3fff::/20"), "a documentation address"},
	{netip.MustParsePrefix("5f00::/16"), "a segment-routing address"},
	{netip.MustParsePrefix("fc00::/7"), "a unique-local (private) address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast address"},
}

var globalIPv6 = netip.MustParsePrefix("2000::/3")

// deniedNames are host names, or the ends of names, that lead inside the
// network whatever they resolve to at the moment: cloud metadata names,
// mDNS, and the suffixes private networks and clusters use.
var deniedNames = []string{"localhost", "metadata", "instance-data", "internal", "local", "localdomain", "home.arpa", "lan", "intranet", "corp", "svc", "cluster.local"}

// egress is the webhook egress policy.
type egress struct {
	// allowLoopback lets webhooks reach loopback addresses and localhost,
	// for tests and single-host trials.
	allowLoopback bool
	resolver      *net.Resolver
}

// checkAddr returns nil if a webhook may connect to ip, else an error
// wrapping ErrEgressDenied that names the kind of address.
func (p egress) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	if ip.Zone() != "" {
		return fmt.Errorf("%w: %s has an interface zone", ErrEgressDenied, ip)
	}
	if ip.IsLoopback() && p.allowLoopback {
		return nil
	}
	for _, d := range denied {
		if d.prefix.Contains(ip) {
			return fmt.Errorf("%w: %s is %s", ErrEgressDenied, ip, d.why)
		}
	}
	if ip.Is6() && !globalIPv6.Contains(ip) {
		return fmt.Errorf("%w: %s is not a global unicast address", ErrEgressDenied, ip)
	}
	return nil
}

// checkHost checks a URL's host as written: an address in any spelling, or
// a name. An address must be written in its canonical form (127.1,
// 2130706433 and 0x7f.0.0.1 all mean 127.0.0.1 to some resolvers); a
// name must have a dot and must not be one of deniedNames.
func (p egress) checkHost(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(h); err == nil {
		return p.checkAddr(ip)
	}
	if ip, ok := parseLooseIPv4(h); ok {
		if err := p.checkAddr(ip); err != nil {
			return err
		}
		return fmt.Errorf("%w: write the address %s in dotted-decimal form", ErrEgressDenied, ip)
	}
	if p.allowLoopback && (h == "localhost" || strings.HasSuffix(h, ".localhost")) {
		return nil
	}
	if !strings.Contains(h, ".") {
		return fmt.Errorf("%w: %q is a single-label name, which resolves inside the network", ErrEgressDenied, h)
	}
	for _, n := range deniedNames {
		if h == n || strings.HasSuffix(h, "."+n) {
			return fmt.Errorf("%w: names under %q lead inside the network", ErrEgressDenied, n)
		}
	}
	return nil
}

// resolve returns the addresses of host that the policy allows, or an
// error naming why there are none. An address literal resolves to itself.
func (p egress) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if err := p.checkHost(host); err != nil {
		return nil, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.Unmap()}, nil
	}
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("alerts: resolve webhook host: %w", err)
	}
	var ok []netip.Addr
	var refusal error
	for _, a := range addrs {
		if err := p.checkAddr(a); err != nil {
			refusal = err
			continue
		}
		ok = append(ok, a.Unmap())
	}
	if len(ok) == 0 {
		if refusal == nil {
			refusal = fmt.Errorf("alerts: webhook host %s has no addresses", host)
		}
		return nil, refusal
	}
	return ok, nil
}

// checkRegistration checks a new webhook's host: as written, and, when its
// name resolves now, every address it resolves to (one bad address is
// enough to refuse: a resolver may hand out any of them). A name that does
// not resolve yet is accepted; it is checked at every connection.
func (p egress) checkRegistration(ctx context.Context, host string) error {
	if err := p.checkHost(host); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.checkAddr(a); err != nil {
			return fmt.Errorf("%s resolves to %s", host, strings.TrimPrefix(err.Error(), ErrEgressDenied.Error()+": "))
		}
	}
	return nil
}

// dialContext resolves the host once, checks every address, and dials only
// the checked addresses, so what is checked is what is connected to. The
// dialer's Control hook checks the socket's address again, in case any
// other path reaches the dialer.
func (p egress) dialContext(dialer *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := *dialer
	d.Control = func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q is not an address", ErrEgressDenied, address)
		}
		return p.checkAddr(ap.Addr())
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		addrs, err := p.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		var firstErr error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		return nil, firstErr
	}
}

// parseLooseIPv4 reads the spellings of an IPv4 address that inet_aton
// accepts and netip does not: one to four parts, each decimal, octal
// (leading 0) or hexadecimal (0x), the last filling the bytes left
// ("127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.01").
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 || s == "" {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, part := range parts {
		v, ok := parseLoosePart(part)
		if !ok {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	last, room := vals[len(vals)-1], 8*(5-len(vals))
	if room < 64 && last >= 1<<room {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

func parseLoosePart(p string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(p, "0x"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" alone is 0 to inet_aton
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}
