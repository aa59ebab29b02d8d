package faulttest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/mllp"
)

// Msg is one HL7 v2 message of the load, named by its control id
// (MSH-10), which is the source message id of its events.
type Msg struct {
	ID   string
	Body []byte
}

// T0 is when the load's stays begin: an hour ago, so that every
// event is in the past and no deadline of the default rules (90 minutes
// or more) falls due while a test runs.
var T0 = time.Now().Add(-time.Hour).Truncate(time.Second)

// ADT builds an ADT message from Aarhus Universitetshospital (AUH in
// testdata/organisations.json) for a patient's stay.
func ADT(trigger, id, cpr, visit string, at time.Time, pv1 map[int]string) Msg {
	f := make([]string, 46)
	f[1], f[2], f[3], f[19] = "1", "I", "KARD^S12^3^AUH", visit
	for i, v := range pv1 {
		f[i] = v
	}
	ts := HL7Time(at)
	body := "MSH|^~\\&|EPJ|AUH|STAFET|STAFET|" + ts + "||ADT^" + trigger + "|" + id + "|P|2.5||||||UNICODE UTF-8\r" +
		"EVN|" + trigger + "|" + ts + "||||" + ts + "\r" +
		"PID|1||" + cpr + "^^^CPR^NNDNK||Jørgensen^Søren||||||Ågade 12^^Aarhus C^^8000^DK^H^^0751|0751\r" +
		"PV1" + strings.TrimRight(strings.Join(f, "|"), "|") + "\r"
	return Msg{ID: id, Body: []byte(body)}
}

// HL7Time is an HL7 v2 timestamp (TS) of t in UTC.
func HL7Time(t time.Time) string { return t.UTC().Format("20060102150405-0700") }

// CPR returns a distinct CPR number for each i below 336 000 000.
func CPR(i int) string {
	d := i % 33600
	return fmt.Sprintf("%02d%02d%02d%04d", 1+d%28, 1+(d/28)%12, d/336, i/33600)
}

// StayMessages are the messages of one patient's stay, in order: admitted, on
// leave and back, discharged home with municipal services (which implies
// an offer of home care to Aarhus Kommune).
func StayMessages(prefix string, n int) []Msg {
	cpr, visit := CPR(n), fmt.Sprintf("%s%d", prefix, n)
	id := func(k int) string { return fmt.Sprintf("%s%d-%d", prefix, n, k) }
	at := T0.Add(time.Duration(n%1000) * time.Second)
	return []Msg{
		ADT("A01", id(1), cpr, visit, at, nil),
		ADT("A21", id(2), cpr, visit, at.Add(10*time.Minute), nil),
		ADT("A22", id(3), cpr, visit, at.Add(20*time.Minute), nil),
		ADT("A03", id(4), cpr, visit, at.Add(30*time.Minute), map[int]string{
			36: "06", 37: "0751^" + at.Add(30*time.Minute).Format("20060102"),
			44: HL7Time(at), 45: HL7Time(at.Add(30 * time.Minute)),
		}),
	}
}

// Ledger is what the senders know: every message sent, the ones
// acknowledged AA, and when.
type Ledger struct {
	mu                                   sync.Mutex
	Sent                                 map[string]time.Time // first attempt
	Bodies                               map[string][]byte
	Acked                                map[string]time.Time
	Rejected                             map[string]string // answered AE/AR other than "resend": the reason
	ResendWhy                            map[string]int    // answers asking for a resend, by reason
	AATimes                              map[int][]time.Time
	Attempts, Resends, Timeouts, Refused int
	MaxWait                              time.Duration // longest time from first attempt to AA
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{Sent: map[string]time.Time{}, Bodies: map[string][]byte{}, Acked: map[string]time.Time{}, Rejected: map[string]string{}, ResendWhy: map[string]int{}, AATimes: map[int][]time.Time{}}
}

// Counts is how many messages were sent and acknowledged.
func (l *Ledger) Counts() (sent, acked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.Sent), len(l.Acked)
}

// Recovery is how long after at the slowest of the given senders (all,
// if none given) got its next AA; ok is false if one never did.
func (l *Ledger) Recovery(at time.Time, senders ...int) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(senders) == 0 {
		for s := range l.AATimes {
			senders = append(senders, s)
		}
	}
	var worst time.Duration
	for _, s := range senders {
		i := slices.IndexFunc(l.AATimes[s], func(x time.Time) bool { return x.After(at) })
		if i < 0 {
			return 0, false
		}
		worst = max(worst, l.AATimes[s][i].Sub(at))
	}
	return worst, true
}

// Unacked lists the messages sent but not acknowledged.
func (l *Ledger) Unacked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for id := range l.Sent {
		if _, ok := l.Acked[id]; !ok {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Sender sends messages in order, each until it is answered AA, as an
// HL7 sender in original acknowledgement mode does: an AR asking for a
// resend, a broken connection or no ACK within AckTimeout makes it
// reconnect — to the next address Targets gives — and send the message
// again.
type Sender struct {
	No         int
	Targets    func() []string
	AckTimeout time.Duration
	Ledger     *Ledger

	conn net.Conn
	r    *bufio.Reader
	next int
}

// Send delivers one message; it gives up (false) when ctx ends.
func (s *Sender) Send(ctx context.Context, m Msg) bool {
	first := time.Now()
	s.Ledger.mu.Lock()
	if _, ok := s.Ledger.Sent[m.ID]; !ok {
		s.Ledger.Sent[m.ID] = first
		s.Ledger.Bodies[m.ID] = m.Body
	}
	s.Ledger.mu.Unlock()
	for try := 0; ; try++ {
		if ctx.Err() != nil {
			return false
		}
		if try > 0 {
			s.Ledger.mu.Lock()
			s.Ledger.Resends++
			s.Ledger.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		code, text, err := s.roundTrip(ctx, m)
		s.Ledger.mu.Lock()
		s.Ledger.Attempts++
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.Ledger.Timeouts++
		}
		switch {
		case err != nil:
		case code == "AA":
			now := time.Now()
			s.Ledger.Acked[m.ID] = now
			s.Ledger.AATimes[s.No] = append(s.Ledger.AATimes[s.No], now)
			s.Ledger.MaxWait = max(s.Ledger.MaxWait, now.Sub(first))
			s.Ledger.mu.Unlock()
			return true
		case strings.Contains(text, "resend"):
			s.Ledger.Refused++
			s.Ledger.ResendWhy[code+" "+text]++
		default:
			s.Ledger.Rejected[m.ID] = code + " " + text
			s.Ledger.mu.Unlock()
			return true
		}
		s.Ledger.mu.Unlock()
		s.Close()
	}
}

func (s *Sender) roundTrip(ctx context.Context, m Msg) (code, text string, err error) {
	if s.conn == nil {
		addrs := s.Targets()
		addr := addrs[s.next%len(addrs)]
		s.next++
		d := net.Dialer{Timeout: time.Second}
		if s.conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
			return "", "", err
		}
		s.r = bufio.NewReader(s.conn)
	}
	deadline := time.Now().Add(s.AckTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.conn.SetDeadline(deadline)
	if _, err := s.conn.Write(mllp.Frame(m.Body)); err != nil {
		return "", "", err
	}
	ack, err := mllp.ReadFrame(s.r)
	if err != nil {
		return "", "", err
	}
	a, err := hl7v2.Parse(ack)
	if err != nil {
		return "", "", fmt.Errorf("ack of %s: %w", m.ID, err)
	}
	if got := a.Get("MSA-2"); got != m.ID {
		return "", "", fmt.Errorf("ack for %s answers %s", m.ID, got)
	}
	text = a.Get("ERR-8")
	if text == "" {
		text = a.Get("MSA-3")
	}
	return a.Get("MSA-1"), text, nil
}

// Close drops the sender's connection.
func (s *Sender) Close() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
}

// Load runs senders, each working through its own patients' stays, until
// Finish (then each completes the message it is on) or Abort.
type Load struct {
	Ledger  *Ledger
	Senders atomic.Int32
	ctx     context.Context
	abort   context.CancelFunc
	wg      sync.WaitGroup
	stop    chan struct{}
}

// NewLoad returns a load without senders; Add starts them.
func NewLoad(ctx context.Context) *Load {
	ld := &Load{Ledger: NewLedger(), stop: make(chan struct{})}
	ld.ctx, ld.abort = context.WithCancel(ctx)
	return ld
}

// Add starts a sender with its own patients (prefix), connecting to the
// addresses targets gives in turn, and sending a message every pace at
// most.
func (ld *Load) Add(prefix string, targets func() []string, ackTimeout, pace time.Duration) int {
	no := int(ld.Senders.Add(1))
	s := &Sender{No: no, Targets: targets, AckTimeout: ackTimeout, Ledger: ld.Ledger}
	ld.wg.Add(1)
	go func() {
		defer ld.wg.Done()
		defer s.Close()
		for n := 0; ; n++ {
			for _, m := range StayMessages(fmt.Sprintf("%s%d.", prefix, no), no*100_000+n) {
				select {
				case <-ld.stop:
					return
				default:
				}
				next := time.Now().Add(pace)
				if !s.Send(ld.ctx, m) {
					return
				}
				time.Sleep(time.Until(next))
			}
		}
	}()
	return no
}

// Abort stops the senders at once, mid-message.
func (ld *Load) Abort() { ld.abort() }

// Finish stops the senders after the messages they are on.
func (ld *Load) Finish() {
	close(ld.stop)
	ld.wg.Wait()
	ld.abort()
}

// Fixed gives a sender the same addresses every time.
func Fixed(addrs ...string) func() []string { return func() []string { return addrs } }
