package mllp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// organisations is the test directory: two hospitals, named by their PAS
// as AUH and RHR, each with the client certificate that may send for it.
const organisations = `{"organisations": [
	{"id": "sor:100011000016001", "kind": "hospital", "name": "Aarhus Universitetshospital (testdata)",
	 "region": "Midtjylland", "clusters": ["aarhus"], "aliases": ["AUH"], "mllp_clients": ["cn:auh-epj"]},
	{"id": "sor:100041000016004", "kind": "hospital", "name": "Regionshospitalet Randers (testdata)",
	 "region": "Midtjylland", "clusters": ["randers"], "aliases": ["RHR"], "mllp_clients": ["cn:rhr-epj"]}]}`

const (
	auh     = events.OrgID("sor:100011000016001")
	randers = events.OrgID("sor:100041000016004")
)

// hl7Env is a real store, ingest and MLLP listener on 127.0.0.1.
type hl7Env struct {
	store *engine.Store
	srv   *mllp.Server
}

func startHL7(t testing.TB, cfg engine.Config) *hl7Env {
	t.Helper()
	return startHL7With(t, cfg, nil)
}

// startHL7With starts the listener with the settings set gives.
func startHL7With(t testing.TB, cfg engine.Config, set func(*mllp.Config, *events.Directory)) *hl7Env {
	t.Helper()
	return startHL7Opts(t, cfg, set, mllp.HL7Options{})
}

// startHL7Opts is startHL7With with the handler's options.
func startHL7Opts(t testing.TB, cfg engine.Config, set func(*mllp.Config, *events.Directory), opt mllp.HL7Options) *hl7Env {
	t.Helper()
	cfg.DataDir = t.TempDir()
	store, err := engine.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		t.Fatal(err)
	}
	cph, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		t.Fatal(err)
	}
	tr := hl7v2.NewTranslator(dir, cph)
	in := ingest.New(store, dir, map[string]ingest.Translator{hl7v2.System: tr.Translate}, nil)
	mcfg := mllp.Config{Addr: "127.0.0.1:0", MaxConns: 256, OnOversize: mllp.HL7OversizeAck}
	if set != nil {
		set(&mcfg, dir)
	}
	srv := mllp.New(mcfg, mllp.HL7HandlerWith(in, nil, opt))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop in 10s")
		}
	})
	return &hl7Env{store: store, srv: srv}
}

// client speaks MLLP over one TCP connection.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func (e *hl7Env) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// send sends one message and returns its acknowledgment, parsed.
func (c *client) send(msg string) (*hl7v2.Message, error) {
	c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(mllp.Frame([]byte(msg))); err != nil {
		return nil, err
	}
	b, err := mllp.ReadFrame(c.r)
	if err != nil {
		return nil, err
	}
	return hl7v2.Parse(b)
}

func (c *client) mustSend(t testing.TB, msg string) *hl7v2.Message {
	t.Helper()
	ack, err := c.send(msg)
	if err != nil {
		t.Fatal(err)
	}
	return ack
}

// adt builds an ADT message for a patient and visit at AUH.
func adt(trigger, controlID, cpr, visit string, pv1 map[int]string) string {
	f := make([]string, 46)
	f[1], f[2], f[3], f[19] = "1", "I", "KARD^S12^3^AUH", visit
	for i, v := range pv1 {
		f[i] = v
	}
	return "MSH|^~\\&|EPJ|AUH|STAFET|STAFET|20260302081502||ADT^" + trigger + "|" + controlID + "|P|2.5||||||UNICODE UTF-8\r" +
		"EVN|" + trigger + "|20260302081500||||20260302080000\r" +
		"PID|1||" + cpr + "^^^CPR^NNDNK||Jørgensen^Søren\r" +
		"PV1" + strings.TrimRight(strings.Join(f, "|"), "|") + "\r"
}

// cpr returns a distinct valid CPR number for each i below 336 000 000.
func cpr(i int) string {
	d := i % 33600
	return fmt.Sprintf("%02d%02d%02d%04d", 1+d%28, 1+(d/28)%12, d/336, i/33600)
}

func episode(visit string) string { return string(auh) + "/" + visit }

// history returns the event types of the pathway of a patient's episode.
func (e *hl7Env) history(t testing.TB, cprNo, visit string) []events.Type {
	t.Helper()
	ctx := context.Background()
	ref, err := e.store.Vault().Ref(cprNo)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Index().Resolve(ctx, ref, episode(visit))
	if err != nil {
		t.Fatal(err)
	}
	if r.New {
		return nil
	}
	h, err := e.store.Log().Load(ctx, r.Pathway)
	if err != nil {
		t.Fatal(err)
	}
	var ts []events.Type
	for _, ev := range h {
		ts = append(ts, ev.Type)
	}
	return ts
}

func wantAck(t testing.TB, ack *hl7v2.Message, code, controlID string) {
	t.Helper()
	if got := ack.Get("MSA-1"); got != code {
		t.Errorf("MSA-1 = %q (%s); want %s", got, ack.Get("ERR-8"), code)
	}
	if got := ack.Get("MSA-2"); got != controlID {
		t.Errorf("MSA-2 = %q; want %q", got, controlID)
	}
}

func TestHL7OverMLLP(t *testing.T) {
	e := startHL7(t, engine.Config{})
	c := e.dial(t)
	ctx := context.Background()
	patient, visit := "0102030405", "1000123"
	admit := adt("A01", "AUH0001", patient, visit, nil)
	var sent []string
	send := func(msg string) *hl7v2.Message {
		sent = append(sent, msg)
		return c.mustSend(t, msg)
	}

	t.Run("A01 is appended and acknowledged AA", func(t *testing.T) {
		wantAck(t, send(admit), "AA", "AUH0001")
		if got, want := e.history(t, patient, visit), []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted}; !slices.Equal(got, want) {
			t.Errorf("got %v; want %v", got, want)
		}
	})
	t.Run("a resend is acknowledged AA and appended once", func(t *testing.T) {
		wantAck(t, c.mustSend(t, admit), "AA", "AUH0001")
		if got := e.history(t, patient, visit); len(got) != 2 {
			t.Errorf("got %v after the resend; want 2 events", got)
		}
	})
	t.Run("A03 is appended", func(t *testing.T) {
		wantAck(t, send(adt("A03", "AUH0002", patient, visit, map[int]string{36: "06", 37: "0751"})), "AA", "AUH0002")
		got := e.history(t, patient, visit)
		if len(got) != 3 || got[2] != events.TypePatientDischarged {
			t.Errorf("got %v; want the discharge appended", got)
		}
	})
	t.Run("an A08 without an expected discharge is AA and appends nothing", func(t *testing.T) {
		ack := send(adt("A08", "AUH0003", patient, visit, nil))
		wantAck(t, ack, "AA", "AUH0003")
		if got, want := ack.Get("MSA-3"), "stored; no pathway event"; got != want {
			t.Errorf("MSA-3 = %q; want %q (docs/adapters.md)", got, want)
		}
		if got := e.history(t, patient, visit); len(got) != 3 {
			t.Errorf("got %v; want nothing appended", got)
		}
	})
	t.Run("an unknown trigger is AE with an ERR naming MSH-9", func(t *testing.T) {
		ack := send(adt("Z31", "AUH0004", patient, visit, nil))
		wantAck(t, ack, "AE", "AUH0004")
		if got, want := ack.Get("ERR-2"), "MSH^1^9"; got != want {
			t.Errorf("ERR-2 = %q; want %q", got, want)
		}
		if got := ack.Get("ERR-3.1"); got != hl7v2.CodeUnsupportedEventCode {
			t.Errorf("ERR-3 = %q; want %s", got, hl7v2.CodeUnsupportedEventCode)
		}
		if got := ack.Get("ERR-8"); !strings.Contains(got, "unknown-trigger") {
			t.Errorf("ERR-8 = %q; want the reason", got)
		}
	})
	t.Run("a discharge before the admission is AE", func(t *testing.T) {
		ack := send(adt("A03", "AUH0005", "2509479989", "2000001", nil))
		wantAck(t, ack, "AE", "AUH0005")
		if got := ack.Get("ERR-8"); !strings.Contains(got, "rule:not-admitted") {
			t.Errorf("ERR-8 = %q; want the broken rule", got)
		}
	})
	t.Run("garbage is AR", func(t *testing.T) {
		ack := send("hello\x00\xff world")
		if got := ack.Get("MSA-1"); got != "AR" {
			t.Errorf("MSA-1 = %q; want AR", got)
		}
	})
	t.Run("a broken MSH is AR naming the field", func(t *testing.T) {
		ack := send("MSH|^~\\&|EPJ|AUH|||20260302||^A01|AUH0006|P|2.5\rPID|1||0102030405^^^CPR")
		wantAck(t, ack, "AR", "AUH0006")
		if got := ack.Get("ERR-2"); got != "MSH^1^9" {
			t.Errorf("ERR-2 = %q; want MSH^1^9", got)
		}
	})
	t.Run("every message is stored raw", func(t *testing.T) {
		var bodies []string
		for seq := uint64(1); ; seq++ {
			m, err := e.store.Inbox().Message(ctx, seq)
			if err != nil {
				break
			}
			if m.System != hl7v2.System {
				t.Errorf("raw %d: system %q", seq, m.System)
			}
			bodies = append(bodies, string(m.Body))
		}
		if len(bodies) != len(sent) {
			t.Errorf("got %d raw messages; want %d (the resend is not stored twice)", len(bodies), len(sent))
		}
		for _, s := range sent {
			if !slices.Contains(bodies, s) {
				t.Errorf("message %.40q not in the raw store", s)
			}
		}
	})
	t.Run("the failures are dead letters", func(t *testing.T) {
		list, err := e.store.Inbox().DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		for _, d := range list {
			codes = append(codes, d.Code)
		}
		for _, want := range []string{"unknown-trigger", "rule:not-admitted", "parse"} {
			if !slices.Contains(codes, want) {
				t.Errorf("dead letters %v; want one %s", codes, want)
			}
		}
	})
}

func TestHL7Oversize(t *testing.T) {
	e := startHL7(t, engine.Config{})
	c := e.dial(t)
	msg := adt("A01", "BIG0001", "0102030405", "1", nil) + "NTE|1||" + strings.Repeat("x", 5<<20) + "\r"
	ack, err := c.send(msg)
	if err != nil {
		t.Fatal(err)
	}
	wantAck(t, ack, "AR", "BIG0001")
}

// TestHL7TooLargeToStore sends a message under the listener's limit but
// over what the raw store takes: AR, and not "resend".
func TestHL7TooLargeToStore(t *testing.T) {
	e := startHL7(t, engine.Config{})
	c := e.dial(t)
	msg := adt("A01", "BIG0002", "0102030405", "1", nil) + "NTE|1||" + strings.Repeat("x", 900<<10) + "\r"
	ack := c.mustSend(t, msg)
	wantAck(t, ack, "AR", "BIG0002")
	if got := ack.Get("ERR-8"); !strings.Contains(got, "too large") {
		t.Errorf("ERR-8 = %q; want too large", got)
	}
}

// TestHL7Concurrent sends 20 × 50 messages over 20 connections, each
// message twice (two connections share each list), and checks that all
// are acknowledged AA and appended exactly once.
func TestHL7Concurrent(t *testing.T) {
	const conns, perConn = 20, 50
	e := startHL7(t, engine.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, conns*perConn)
	for c := range conns {
		cl := e.dial(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			list := c / 2
			for i := range perConn {
				n := list*perConn + i
				id := fmt.Sprintf("C%04d", n)
				ack, err := cl.send(adt("A01", id, cpr(n), fmt.Sprint(n), nil))
				switch {
				case err != nil:
					errs <- err
					return
				case ack.Get("MSA-1") != "AA" || ack.Get("MSA-2") != id:
					errs <- fmt.Errorf("%s: got %s %s (%s); want AA", id, ack.Get("MSA-1"), ack.Get("MSA-2"), ack.Get("ERR-8"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for n := range conns / 2 * perConn {
		got := e.history(t, cpr(n), fmt.Sprint(n))
		if want := []events.Type{events.TypePathwayOpened, events.TypePatientAdmitted}; !slices.Equal(got, want) {
			t.Errorf("patient %d: got %v; want %v", n, got, want)
		}
	}
}

// BenchmarkMLLP measures messages per second through MLLP → parse →
// store raw → translate → pseudonymise → resolve the pathway → append →
// ACK, over 32 connections, in both durability modes:
//
//   - steady: each connection's patient is admitted before the timer
//     starts; then leave out and return (A21, A22) alternate, one event
//     per message, the shape of most ADT traffic on open stays;
//   - admit: every message admits a new patient (A01), which opens a
//     pathway and appends two events atomically.
func BenchmarkMLLP(b *testing.B) {
	const conns = 32
	for _, mode := range []engine.Durability{engine.Bulk, engine.Safe} {
		b.Run(string(mode)+"/steady", func(b *testing.B) {
			e := startHL7(b, engine.Config{Durability: mode})
			clients := make([]*client, conns)
			for c := range clients {
				clients[c] = e.dial(b)
				wantAck(b, clients[c].mustSend(b, adt("A01", fmt.Sprint("S", c), cpr(c), fmt.Sprint("s", c), nil)), "AA", fmt.Sprint("S", c))
			}
			benchSend(b, clients, func(c, k int) string {
				trigger := "A21"
				if k%2 == 1 {
					trigger = "A22"
				}
				return adt(trigger, fmt.Sprintf("S%d-%d", c, k), cpr(c), fmt.Sprint("s", c), nil)
			})
		})
		b.Run(string(mode)+"/admit", func(b *testing.B) {
			e := startHL7(b, engine.Config{Durability: mode})
			clients := make([]*client, conns)
			for c := range clients {
				clients[c] = e.dial(b)
			}
			benchSend(b, clients, func(c, k int) string {
				n := c*1_000_000 + k
				return adt("A01", fmt.Sprintf("A%d", n), cpr(n), fmt.Sprint("a", n), nil)
			})
		})
	}
}

// benchSend sends b.N messages, msg(connection, k) for the k-th message of
// a connection, spread over the clients, and reports msgs/s.
func benchSend(b *testing.B, clients []*client, msg func(c, k int) string) {
	b.Helper()
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for c, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; next.Add(1) <= int64(b.N); k++ {
				ack, err := cl.send(msg(c, k))
				if err != nil || ack.Get("MSA-1") != "AA" {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d messages not acknowledged AA", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
