package alerts

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stafet/stafet/engine"
)

// dnsServer is a small authoritative DNS server on 127.0.0.1 (UDP) for
// the tests: it answers A and AAAA questions from a table the test can
// change while it runs, as an attacker's name server changes its answers
// for DNS rebinding. Unknown names get NXDOMAIN.
type dnsServer struct {
	conn    net.PacketConn
	mu      sync.Mutex
	records map[string][]netip.Addr
	asked   atomic.Int64
}

func startDNS(t testing.TB) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &dnsServer{conn: pc, records: map[string][]netip.Addr{}}
	go d.serve()
	t.Cleanup(func() { pc.Close() })
	return d
}

func (d *dnsServer) set(name string, addrs ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, netip.MustParseAddr(a))
	}
	d.records[strings.ToLower(name)] = as
}

// resolver returns a Go resolver that asks only this server.
func (d *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "udp", d.conn.LocalAddr().String())
	}}
}

func (d *dnsServer) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := d.answer(buf[:n]); resp != nil {
			d.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query (RFC 1035 §4): the header, the
// question echoed, and an answer record per address of the asked type.
func (d *dnsServer) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	d.asked.Add(1)
	var labels []string
	i := 12
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	question := q[12 : i+5]
	qtype := binary.BigEndian.Uint16(q[i+1:])
	d.mu.Lock()
	addrs, known := d.records[strings.ToLower(strings.Join(labels, "."))]
	d.mu.Unlock()
	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			answers = append(answers, b[:])
		case qtype == 28 && a.Is6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}
	resp := make([]byte, 12, 512)
	copy(resp, q[:2])
	flags := uint16(0x8180) // response, recursion desired and available
	if !known {
		flags |= 3 // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[2:], flags)
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, rdata := range answers {
		resp = append(resp, 0xc0, 12) // the name: a pointer to the question's
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // IN
		resp = binary.BigEndian.AppendUint32(resp, 0) // TTL 0: ask again every time
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

// publicV4 and publicV6 are globally routable addresses (example.com's);
// nothing listens for the tests there, and no test connects to them.
const (
	publicV4 = "93.184.215.14"
	publicV6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
)

// TestWebhookRegistrationEgress registers webhooks to every class of
// address a webhook must not reach, in every spelling, and to names that
// resolve to them; all are refused with a reason. Public addresses and
// names are accepted.
func TestWebhookRegistrationEgress(t *testing.T) {
	dns := startDNS(t)
	dns.set("hooks.kommune.example", publicV4, publicV6)
	dns.set("private.kommune.example", "10.1.2.3")
	dns.set("mixed.kommune.example", publicV4, "127.0.0.1")
	dns.set("metadata-alias.kommune.example", "169.254.169.254")
	dns.set("ula.kommune.example", "fd00:ec2::254")
	store := openStore(t, engine.Config{})
	s, err := New(context.Background(), Config{Store: store, Resolver: dns.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct{ name, host, reason string }{
		{"cloud metadata", "169.254.169.254", "link-local"},
		{"unspecified", "0.0.0.0", "unspecified"},
		{"this network", "0.1.2.3", "unspecified"},
		{"loopback, short form", "127.1", "loopback"},
		{"loopback as one number", "2130706433", "loopback"},
		{"loopback in hexadecimal", "0x7f000001", "loopback"},
		{"loopback in octal", "0177.0.0.1", "loopback"},
		{"loopback, another", "127.0.0.2", "loopback"},
		{"private 10/8", "10.0.0.1", "private"},
		{"private 172.16/12", "172.31.255.1", "private"},
		{"private 192.168/16", "192.168.1.1", "private"},
		{"carrier-grade NAT (Alibaba metadata)", "100.100.100.200", "carrier-grade"},
		{"benchmarking", "198.18.0.1", "benchmarking"},
		{"documentation", "192.0.2.10", "documentation"},
		{"multicast", "224.0.0.1", "multicast"},
		{"broadcast", "255.255.255.255", "broadcast"},
		{"IPv6 loopback", "[::1]", "loopback"},
		{"IPv6 unspecified", "[::]", "unspecified"},
		{"IPv4-mapped loopback", "[::ffff:127.0.0.1]", "loopback"},
		{"IPv4-mapped metadata", "[::ffff:169.254.169.254]", "link-local"},
		{"unique-local (AWS IPv6 metadata)", "[fd00:ec2::254]", "unique-local"},
		{"IPv6 link-local", "[fe80::1]", "link-local"},
		{"IPv6 link-local with a zone", "[fe80::1%25eth0]", "zone"},
		{"IPv6 multicast", "[ff02::1]", "multicast"},
		{"NAT64 of the metadata address", "[64:ff9b::a9fe:a9fe]", "NAT64"},
		{"6to4 of the metadata address", "[2002:a9fe:a9fe::1]", "6to4"},
		{"Teredo", "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"},
		{"IPv4-compatible (outside 2000::/3)", "[::7f00:1]", "global unicast"},
		{"GCP metadata name", "metadata.google.internal", "internal"},
		{"metadata, single label", "metadata", "single-label"},
		{"EC2 instance data", "instance-data.ec2.internal", "internal"},
		{"localhost", "localhost", "single-label"},
		{"localhost, upper case with a dot", "LOCALHOST.", "single-label"},
		{"a name under localhost", "api.localhost", "localhost"},
		{"mDNS", "printer.local", "local"},
		{"a cluster service", "nats.stafet.svc.cluster.local", "local"},
		{"a name that resolves to a private address", "private.kommune.example", "private"},
		{"a name with one loopback address among public ones", "mixed.kommune.example", "loopback"},
		{"a name for the metadata address", "metadata-alias.kommune.example", "link-local"},
		{"a name for a unique-local address", "ula.kommune.example", "unique-local"},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, _, err := s.Register(context.Background(), aarhus, "https://"+tt.host+"/hook")
			if err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("register https://%s/hook: got %v; want a refusal naming %q", tt.host, err, tt.reason)
			}
		})
	}
	accepted := []string{publicV4, "[" + publicV6 + "]", "hooks.kommune.example", "unknown.kommune.example"}
	for _, host := range accepted {
		t.Run("accepted: "+host, func(t *testing.T) {
			if _, _, err := s.Register(context.Background(), aarhus, "https://"+host+"/hook"); err != nil {
				t.Errorf("register https://%s/hook: %v; want it accepted", host, err)
			}
		})
	}
}

// countingListener counts the connections made to it.
type countingListener struct {
	ln       net.Listener
	accepted atomic.Int64
}

func listenCounting(t testing.TB, addr string) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.accepted.Add(1)
			go func() {
				defer conn.Close()
				if req, err := http.ReadRequest(bufio.NewReader(conn)); err == nil {
					req.Body.Close()
					conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// TestWebhookDeliveryEgress makes deliveries to loopback in every
// spelling and to names that resolve there, including a name that
// resolved to a public address when it was registered (DNS rebinding):
// each is refused before a connection is made, and the listener on
// loopback sees none.
func TestWebhookDeliveryEgress(t *testing.T) {
	dns := startDNS(t)
	target := listenCounting(t, "127.0.0.1:0")
	port := target.ln.Addr().(*net.TCPAddr).Port
	store := openStore(t, engine.Config{})
	s, err := New(context.Background(), Config{Store: store, Resolver: dns.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	dns.set("rebind.kommune.example", publicV4)
	if _, _, err := s.Register(context.Background(), aarhus, "https://rebind.kommune.example/hook"); err != nil {
		t.Fatalf("register while the name is public: %v", err)
	}
	dns.set("rebind.kommune.example", "127.0.0.1")
	dns.set("metadata-alias.kommune.example", "169.254.169.254")
	hosts := []string{"127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "localhost",
		"rebind.kommune.example", "metadata-alias.kommune.example", "169.254.169.254", "10.0.0.1", "[fd00:ec2::254]"}
	for _, h := range hosts {
		t.Run(h, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+h+":"+strconv.Itoa(port)+"/hook", nil)
			resp, err := s.client.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("POST to %s: got %d; want a refusal", h, resp.StatusCode)
			}
			if !errors.Is(err, ErrEgressDenied) {
				t.Errorf("POST to %s: got %v; want ErrEgressDenied", h, err)
			}
		})
	}
	if n := target.accepted.Load(); n != 0 {
		t.Errorf("the loopback listener saw %d connections; want 0", n)
	}
	if dns.asked.Load() == 0 {
		t.Error("the test's DNS server was never asked: the rebinding case tested nothing")
	}
}

// TestWebhookProxy checks that the proxy in the environment is ignored,
// and that through a configured proxy a target is checked before the
// request leaves.
func TestWebhookProxy(t *testing.T) {
	dns := startDNS(t)
	receiver := listenCounting(t, "127.0.0.1:0")
	envProxy := listenCounting(t, "127.0.0.1:0")
	t.Setenv("HTTP_PROXY", "http://"+envProxy.ln.Addr().String())
	t.Setenv("HTTPS_PROXY", "http://"+envProxy.ln.Addr().String())
	dns.set("hooks.kommune.example", "127.0.0.1")
	store := openStore(t, engine.Config{})

	loop, err := New(context.Background(), Config{Store: store, Resolver: dns.resolver(), AllowLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(receiver.ln.Addr().(*net.TCPAddr).Port)
	req, _ := http.NewRequest(http.MethodPost, "http://hooks.kommune.example:"+port+"/hook", nil)
	resp, err := loop.client.Do(req)
	if err != nil {
		t.Fatalf("direct delivery with a proxy in the environment: %v", err)
	}
	resp.Body.Close()
	if receiver.accepted.Load() != 1 || envProxy.accepted.Load() != 0 {
		t.Errorf("receiver %d, environment's proxy %d connections; want 1 and 0", receiver.accepted.Load(), envProxy.accepted.Load())
	}

	proxy := listenCounting(t, "127.0.0.1:0")
	proxyURL, _ := url.Parse("http://" + proxy.ln.Addr().String())
	dns.set("public.kommune.example", publicV4)
	dns.set("private.kommune.example", "10.9.8.7")
	via, err := New(context.Background(), Config{Store: store, Resolver: dns.resolver(), WebhookProxy: proxyURL})
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://private.kommune.example/hook", nil)
	if _, err := via.client.Do(req); !errors.Is(err, ErrEgressDenied) {
		t.Errorf("through the proxy to a private address: got %v; want ErrEgressDenied", err)
	}
	if n := proxy.accepted.Load(); n != 0 {
		t.Errorf("the proxy saw %d connections for a refused target; want 0", n)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://public.kommune.example/hook", nil)
	resp, err = via.client.Do(req)
	if err != nil {
		t.Fatalf("through the proxy to a public address: %v", err)
	}
	resp.Body.Close()
	if n := proxy.accepted.Load(); n != 1 {
		t.Errorf("the proxy saw %d connections; want 1", n)
	}
}

func TestParseLooseIPv4(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"127.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0177.0.0.01", "127.0.0.1"},
		{"0x7f.0x0.0.1", "127.0.0.1"},
		{"169.254.43518", "169.254.169.254"},
		{"10.1.65535", "10.1.255.255"},
		{"0", "0.0.0.0"},
		{"256.1", ""},
		{"1.2.3.4.5", ""},
		{"1.2.65536", ""},
		{"08.1.1.1", ""},
		{"example.org", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseLooseIPv4(tt.in)
			if tt.want == "" {
				if ok {
					t.Errorf("parseLooseIPv4(%q) = %s; want no address", tt.in, got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Errorf("parseLooseIPv4(%q) = %s, %v; want %s", tt.in, got, ok, tt.want)
			}
		})
	}
}

func FuzzEgressHost(f *testing.F) {
	for _, s := range []string{"127.1", "2130706433", "[::ffff:127.0.0.1]", "metadata.google.internal", "hooks.example.org", "0x7f.1", "fe80::1%eth0"} {
		f.Add(s)
	}
	p := egress{}
	f.Fuzz(func(t *testing.T, host string) {
		err := p.checkHost(host)
		// Whatever is accepted must not be an address the policy refuses
		// in another spelling.
		h := strings.TrimSuffix(strings.ToLower(host), ".")
		if ip, ok := parseLooseIPv4(h); ok && err == nil && p.checkAddr(ip) != nil {
			t.Errorf("checkHost(%q) accepted %s", host, ip)
		}
		if ip, perr := netip.ParseAddr(h); perr == nil && err == nil && p.checkAddr(ip) != nil {
			t.Errorf("checkHost(%q) accepted %s", host, ip)
		}
	})
}
