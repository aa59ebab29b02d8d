package mllp_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/pki"
)

// tlsEnv is an MLLP listener on 127.0.0.1 that requires client
// certificates of its CA, and the certificates of its senders.
type tlsEnv struct {
	*hl7Env
	ca      *pki.CA
	clients map[string]tls.Certificate // by common name
}

func startTLS(t *testing.T) *tlsEnv {
	t.Helper()
	ca, err := pki.NewCA("test MLLP CA")
	if err != nil {
		t.Fatal(err)
	}
	srvPair, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := srvPair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	e := &tlsEnv{ca: ca, clients: map[string]tls.Certificate{}}
	for _, cn := range []string{"auh-epj", "rhr-epj", "stranger"} {
		p, err := ca.Client(cn)
		if err != nil {
			t.Fatal(err)
		}
		if e.clients[cn], err = p.TLS(); err != nil {
			t.Fatal(err)
		}
	}
	e.hl7Env = startHL7With(t, engine.Config{}, func(c *mllp.Config, dir *events.Directory) {
		c.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
		c.Senders = mllp.NewSenders(dir)
	})
	return e
}

// dialAs connects with the client certificate of cn ("" for none).
func (e *tlsEnv) dialAs(t *testing.T, cert *tls.Certificate) *client {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", e.srv.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

func (e *tlsEnv) as(t *testing.T, cn string) *client {
	t.Helper()
	cert := e.clients[cn]
	return e.dialAs(t, &cert)
}

// from rewrites an adt message's sending facility (MSH-4) and assigned
// facility (PV1-3.4).
func from(msg, msh4, facility string) string {
	msg = strings.Replace(msg, "|EPJ|AUH|", "|EPJ|"+msh4+"|", 1)
	return strings.Replace(msg, "KARD^S12^3^AUH", "KARD^S12^3^"+facility, 1)
}

// TestSendersBoundToOrganisations: over real TLS sockets on 127.0.0.1, a
// sender holding hospital AUH's client certificate is refused (AR, with
// an ERR that says why) when it claims Randers, in MSH-4 or as the
// hospital that acts; nothing of it is appended, and its forgery does not
// take Randers' control id.
func TestSendersBoundToOrganisations(t *testing.T) {
	e := startTLS(t)
	auhConn, rhrConn := e.as(t, "auh-epj"), e.as(t, "rhr-epj")
	patient := "0102030405"
	refusals := []struct {
		name, msg, field string
	}{
		{"AUH's certificate claiming Randers in MSH-4", from(adt("A01", "RHR0001", patient, "r1", nil), "RHR", "RHR"), "MSH^1^4"},
		{"AUH's certificate, MSH-4 AUH, Randers acting", from(adt("A01", "AUH0002", patient, "r2", nil), "AUH", "RHR"), ""},
		{"AUH's certificate with an empty MSH-4", from(adt("A01", "AUH0003", patient, "r3", nil), "", "AUH"), "MSH^1^4"},
	}
	for _, c := range refusals {
		t.Run(c.name+" is AR", func(t *testing.T) {
			ack := auhConn.mustSend(t, c.msg)
			wantAck(t, ack, "AR", ack.Get("MSA-2"))
			if got := ack.Get("ERR-8"); !strings.Contains(got, "certificate CN=auh-epj does not speak for") || !strings.Contains(got, mllp.CodeNotSender) {
				t.Errorf("ERR-8 = %q; want it to say the certificate does not speak for the organisation", got)
			}
			if got := ack.Get("ERR-2"); got != c.field {
				t.Errorf("ERR-2 = %q; want %q", got, c.field)
			}
		})
	}
	t.Run("nothing of them is appended", func(t *testing.T) {
		for _, visit := range []string{"r1", "r2", "r3"} {
			if got := e.history(t, patient, visit); len(got) != 0 {
				t.Errorf("visit %s: %v; want no pathway", visit, got)
			}
		}
	})
	t.Run("the refusals are dead letters saying why", func(t *testing.T) {
		list, err := e.store.Inbox().DeadLetters(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range list {
			if d.Code == mllp.CodeNotSender {
				n++
			}
		}
		if n != len(refusals) {
			t.Errorf("%d dead letters %s; want %d", n, mllp.CodeNotSender, len(refusals))
		}
	})
	t.Run("Randers' own message with the forged control id is appended", func(t *testing.T) {
		wantAck(t, rhrConn.mustSend(t, from(adt("A01", "RHR0001", patient, "r1", nil), "RHR", "RHR")), "AA", "RHR0001")
	})
	t.Run("AUH's certificate sending for AUH and a department of it is AA", func(t *testing.T) {
		wantAck(t, auhConn.mustSend(t, adt("A01", "AUH0004", "2509479989", "a1", nil)), "AA", "AUH0004")
	})
	t.Run("a certificate mapped to no organisation is AR", func(t *testing.T) {
		ack := e.as(t, "stranger").mustSend(t, adt("A01", "AUH0005", "2509479989", "a2", nil))
		wantAck(t, ack, "AR", "AUH0005")
	})
	t.Run("no client certificate: the handshake fails", func(t *testing.T) {
		c := e.dialAs(t, nil)
		if _, err := c.send(adt("A01", "AUH0006", "2509479989", "a3", nil)); err == nil {
			t.Error("got an answer; want the connection refused")
		}
	})
	t.Run("a certificate of another CA: the handshake fails", func(t *testing.T) {
		other, err := pki.NewCA("another CA")
		if err != nil {
			t.Fatal(err)
		}
		p, _ := other.Client("auh-epj")
		cert, _ := p.TLS()
		c := e.dialAs(t, &cert)
		if _, err := c.send(adt("A01", "AUH0007", "2509479989", "a4", nil)); err == nil {
			t.Error("got an answer; want the connection refused")
		}
	})
}

// TestCareRuleOverMLLP: the care relationship rule over an authenticated
// MLLP connection. Randers is not party to the pathway of a patient AUH
// admitted: its death or discharge of the patient is AE rule:not-party
// and appends nothing; its own admission of the patient joins the
// pathway, in the access log of the parties.
func TestCareRuleOverMLLP(t *testing.T) {
	e := startTLS(t)
	auhConn, rhrConn := e.as(t, "auh-epj"), e.as(t, "rhr-epj")
	patient := "2509479989"
	wantAck(t, auhConn.mustSend(t, adt("A01", "AUH0001", patient, "v1", nil)), "AA", "AUH0001")
	for _, c := range []struct{ name, msg string }{
		{"death", from(adt("A03", "RHR0001", patient, "x1", map[int]string{36: "20"}), "RHR", "RHR")},
		{"discharge", from(adt("A03", "RHR0002", patient, "x2", map[int]string{36: "01"}), "RHR", "RHR")},
	} {
		t.Run("a non-party's "+c.name+" is AE rule:not-party", func(t *testing.T) {
			ack := rhrConn.mustSend(t, c.msg)
			wantAck(t, ack, "AE", ack.Get("MSA-2"))
			if got := ack.Get("ERR-8"); !strings.Contains(got, "rule:"+events.RuleNotParty) {
				t.Errorf("ERR-8 = %q; want rule:%s", got, events.RuleNotParty)
			}
			if got, want := e.history(t, patient, "v1"), []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted}; !slices.Equal(got, want) {
				t.Errorf("AUH's pathway: %v; want %v", got, want)
			}
		})
	}
	t.Run("a non-party's admission joins, in the parties' access log", func(t *testing.T) {
		wantAck(t, rhrConn.mustSend(t, from(adt("A01", "RHR0003", patient, "x3", nil), "RHR", "RHR")), "AA", "RHR0003")
		got := e.history(t, patient, "v1")
		if got[len(got)-1] != events.TypePatientTransferred {
			t.Errorf("AUH's pathway: %v; want the admission at Randers taken as a transfer", got)
		}
		b, err := e.store.Access().Batch(t.Context(), engine.AccessQuery{Filter: engine.AccessSubjects, Batch: 100})
		if err != nil {
			t.Fatal(err)
		}
		var parties []events.OrgID
		for _, r := range b.Records {
			if r.Record.Reader == string(randers) && r.Record.Allowed && strings.HasPrefix(r.Record.What, "join/") {
				parties = append(parties, r.Party)
			}
		}
		if !slices.Contains(parties, auh) {
			t.Errorf("join recorded under %v; want AUH among them", parties)
		}
	})
}

// TestListenOffLoopbackNeedsAuthentication: a listener on every
// interface refuses to start unless it knows who sends.
func TestListenOffLoopbackNeedsAuthentication(t *testing.T) {
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	pair, _ := ca.Server("127.0.0.1")
	cert, _ := pair.TLS()
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		t.Fatal(err)
	}
	withAddr, err := events.NewDirectory(strings.NewReader(strings.Replace(organisations, `"cn:rhr-epj"`, `"cn:rhr-epj", "addr:10.0.0.0/24"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	mutual := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	tests := []struct {
		name string
		cfg  mllp.Config
		ok   bool
	}{
		{"plaintext", mllp.Config{}, false},
		{"TLS without client certificates", mllp.Config{TLS: serverTLS, Senders: mllp.NewSenders(dir)}, false},
		{"mutual TLS without senders", mllp.Config{TLS: mutual}, false},
		{"plaintext allowed, no sender addresses", mllp.Config{AllowPlaintext: true, Senders: mllp.NewSenders(dir)}, false},
		{"mutual TLS", mllp.Config{TLS: mutual, Senders: mllp.NewSenders(dir)}, true},
		{"plaintext allowed from sender addresses", mllp.Config{AllowPlaintext: true, Senders: mllp.NewSenders(withAddr)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Addr = ":0"
			srv := mllp.New(tt.cfg, nil)
			err := srv.Listen()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, mllp.ErrUnauthenticated)) {
				t.Fatalf("got %v; want ok=%v or ErrUnauthenticated", err, tt.ok)
			}
			if err == nil {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				srv.Serve(ctx) // closes the listener
			}
		})
	}
}

// TestPlaintextFromUnlistedAddressIsClosed: off loopback with plaintext
// allowed, a connection from an address the organisations file does not
// list is closed unserved. (127.0.0.2 stands for another host: the
// listener is on every interface, so loopback gives no standing.)
func TestPlaintextFromUnlistedAddressIsClosed(t *testing.T) {
	e := startHL7With(t, engine.Config{}, func(c *mllp.Config, _ *events.Directory) {
		dir, err := events.NewDirectory(strings.NewReader(strings.Replace(organisations, `"cn:auh-epj"`, `"cn:auh-epj", "addr:127.0.0.3"`, 1)))
		if err != nil {
			t.Fatal(err)
		}
		c.Addr, c.AllowPlaintext, c.Senders = ":0", true, mllp.NewSenders(dir)
	})
	port := e.srv.Addr().(*net.TCPAddr).Port
	send := func(src string) (*hl7v2.Message, error) {
		c, err := faulttest.SourceDialer(src).Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return (&client{c: c, r: bufio.NewReader(c)}).send(adt("A01", "AUH00"+src[len(src)-1:], "0102030405", "p"+src, nil))
	}
	if _, err := send("127.0.0.2"); err == nil {
		t.Error("127.0.0.2: got an answer; want the connection closed")
	}
	ack, err := send("127.0.0.3")
	if err != nil {
		t.Fatalf("127.0.0.3: %v; want an answer", err)
	}
	wantAck(t, ack, "AA", "AUH003")
	if e.srv.Refused.Load() != 1 {
		t.Errorf("refused %d; want 1", e.srv.Refused.Load())
	}
}
