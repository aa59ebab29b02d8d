// Package natsprobe tries, as an organisation's NATS user, what an
// attacker with a NATS connection would: subscribe to everything, reach
// the JetStream API and the buckets, forge events and alerts. The tests of
// the embedded server (engine) and of the shipped cluster configuration
// (cmd/stafetd) use it, so both are held to the same list.
package natsprobe

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeniedSubscriptions are subjects an organisation's user must not
// subscribe to; the org's own alert filter is not among them.
var DeniedSubscriptions = []string{">", "stafet.alert.>", "stafet.alert.*.kommune-0727.>", "stafet.alertlog.>",
	"stafet.ev.>", "stafet.raw.>", "_INBOX.>", "$JS.API.>", "$KV.stafet_patient_keys.>", "$KV.>", "$O.>", "$SYS.>"}

// DeniedPublishes are subjects an organisation's user must not publish to:
// a forged event, a forged alert, a deleted stream, a planted key.
var DeniedPublishes = []string{"stafet.ev.aarhus.0190d0a0-0000-7000-8000-000000000001", "stafet.alert.aarhus.kommune-0751.gap-opened",
	"stafet.alertlog.aarhus.kommune-0751.gap-opened", "$JS.API.STREAM.DELETE.STAFET_ACCESS", "$KV.stafet_patient_keys.pforged"}

// Probe collects the permission errors the server sends a connection.
type Probe struct {
	mu   sync.Mutex
	errs []string
}

// Option is the connection option that feeds the probe.
func (p *Probe) Option() nats.Option {
	return nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.errs = append(p.errs, err.Error())
	})
}

// WaitFor waits up to 5 s for a permission error containing what.
func (p *Probe) WaitFor(t testing.TB, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		for _, e := range p.errs {
			if strings.Contains(e, what) {
				p.mu.Unlock()
				return
			}
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	t.Errorf("no permissions violation for %s; got %v", what, p.errs)
}

// CheckDenied tries every denied subscription and publish on nc, which
// must have been made with p.Option(), and the JetStream API: each must be
// refused, and no message may reach a denied subscription.
func (p *Probe) CheckDenied(t testing.TB, nc *nats.Conn) {
	t.Helper()
	for _, subj := range DeniedSubscriptions {
		subj := subj
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) { t.Errorf("%s reached the denied subscription %s", m.Subject, subj) }); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	for _, subj := range DeniedSubscriptions {
		p.WaitFor(t, `Subscription to "`+subj+`"`)
	}
	for _, subj := range DeniedPublishes {
		nc.Publish(subj, []byte("forged"))
		nc.Flush()
		p.WaitFor(t, `Publish to "`+subj+`"`)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err == nil {
		t.Error("the subscriber reached the JetStream API")
	}
	if _, err := js.KeyValue(ctx, "stafet_patient_keys"); err == nil {
		t.Error("the subscriber opened the patient key bucket")
	}
	if _, err := nc.Request("$JS.API.STREAM.LIST", nil, time.Second); err == nil {
		t.Error("the subscriber listed the streams")
	}
}
