package alerts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/stafet/stafet/engine"
)

// Webhook request headers (docs/alerts.md).
const (
	HeaderSignature   = "Stafet-Signature"
	HeaderTimestamp   = "Stafet-Timestamp"
	HeaderIdempotency = "Idempotency-Key"
	HeaderWebhook     = "Stafet-Webhook-Id"
	HeaderAttempt     = "Stafet-Delivery-Attempt"
)

// Sign returns the Stafet-Signature value of a webhook request:
// "sha256=" and the hex HMAC-SHA256, keyed with the webhook's secret, of
// the timestamp, a dot and the body. Receivers compute the same and
// compare in constant time.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// runWebhooks runs a deliverer for every registered webhook, starting and
// stopping them as registrations come and go (on any instance), until ctx
// ends.
func (s *Service) runWebhooks(ctx context.Context) error {
	running := make(map[string]context.CancelFunc)
	var wg sync.WaitGroup
	defer func() {
		for _, stop := range running {
			stop()
		}
		wg.Wait()
	}()
	err := s.hooks.Watch(ctx, func(c engine.Change) {
		id := c.Key
		if stop, ok := running[id]; ok {
			stop()
			delete(running, id)
		}
		if c.Removed {
			return
		}
		rec, err := decodeRecord(c.Value)
		if err != nil {
			s.log.Error("skipping an unreadable webhook record", "webhook", id, "err", err)
			return
		}
		dctx, stop := context.WithCancel(ctx)
		running[id] = stop
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.deliverTo(dctx, rec); err != nil && dctx.Err() == nil {
				s.log.Error("webhook deliverer stopped", "webhook", rec.ID, "org", rec.Org, "err", err)
			}
		}()
	})
	if err != nil {
		return fmt.Errorf("alerts: watch webhooks: %w", err)
	}
	return nil
}

// deliverTo delivers one webhook's alerts until ctx ends. Up to
// WebhookInFlight requests run at once (the consumer's MaxAckPending holds
// the bound across instances), each in its own goroutine, so a slow or
// dead receiver holds up only its own deliveries.
func (s *Service) deliverTo(ctx context.Context, rec webhookRecord) error {
	secret, err := s.openSecret(rec)
	if err != nil {
		return err
	}
	slots := make(chan struct{}, s.cfg.WebhookInFlight)
	var wg sync.WaitGroup
	err = s.stream.Consume(ctx, consumerName(rec.ID), s.cfg.WebhookInFlight, func(d *engine.Delivery) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			d.Nak()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			s.deliver(ctx, rec, secret, d)
		}()
	})
	wg.Wait()
	if err != nil {
		return fmt.Errorf("alerts: webhook consumer: %w", err)
	}
	return nil
}

// deliver makes one attempt to POST an alert. 2xx acknowledges it;
// anything else (status, timeout, refused connection) retries it after
// the attempt's backoff, until WebhookRetryFor has passed since the alert
// was stored.
func (s *Service) deliver(ctx context.Context, rec webhookRecord, secret []byte, d *engine.Delivery) {
	body, contentType, skip, err := s.render(ctx, rec, d)
	if err != nil {
		d.NakAfter(s.backoff(d.Attempt))
		s.log.Warn("webhook delivery could not be written; will retry", "webhook", rec.ID, "err", err)
		return
	}
	if skip {
		d.Ack()
		return
	}
	status, err := s.post(ctx, rec, secret, body, contentType, d.Header[hdrMsgID], d.Attempt)
	if status >= 200 && status < 300 {
		d.Ack()
		s.m.deliveries.WithLabelValues(channelWebhook).Inc()
		return
	}
	if ctx.Err() != nil {
		d.Nak() // shutting down: another instance may take it at once
		return
	}
	if time.Since(d.Time) > s.cfg.WebhookRetryFor {
		d.Term()
		s.m.failures.WithLabelValues(channelWebhook, outcomeExpired).Inc()
		s.log.Warn("webhook delivery given up", "webhook", rec.ID, "org", rec.Org, "attempts", d.Attempt, "status", status, "err", err)
		return
	}
	delay := s.backoff(d.Attempt)
	d.NakAfter(delay)
	s.m.failures.WithLabelValues(channelWebhook, outcomeRetry).Inc()
	s.log.Debug("webhook delivery failed; will retry", "webhook", rec.ID, "attempt", d.Attempt, "status", status, "retry_in", delay, "err", err)
}

// backoff returns the delay after the n-th attempt (from 1).
func (s *Service) backoff(n uint64) time.Duration {
	b := s.cfg.WebhookBackoff
	if n == 0 {
		n = 1
	}
	if n > uint64(len(b)) {
		return b[len(b)-1]
	}
	return b[n-1]
}

// webhookClient makes the webhook HTTP client: no redirects (a receiver
// must answer itself), and connections only to addresses the egress policy
// allows, checked on the address dialled, after the name was resolved in
// the same attempt. No proxy unless one is configured (a proxy from the
// environment would be the only address checked); through a configured
// proxy, the target is resolved and checked before each request, and the
// proxy, which resolves it again, must enforce its own egress rules.
func webhookClient(cfg Config) *http.Client {
	policy := cfg.egress()
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	dial := policy.dialContext(dialer)
	tr := &http.Transport{
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   cfg.WebhookInFlight,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	var rt http.RoundTripper = tr
	if cfg.WebhookProxy != nil {
		proxy := cfg.WebhookProxy
		tr.Proxy = http.ProxyURL(proxy)
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == proxyAddr(proxy) {
				return dialer.DialContext(ctx, network, addr)
			}
			return dial(ctx, network, addr)
		}
		rt = checkedTarget{policy: policy, next: tr}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkedTarget checks a request's target host before it goes to a proxy.
type checkedTarget struct {
	policy egress
	next   http.RoundTripper
}

func (c checkedTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	if _, err := c.policy.resolve(req.Context(), req.URL.Hostname()); err != nil {
		return nil, err
	}
	return c.next.RoundTrip(req)
}

// proxyAddr is the host:port the transport dials for a proxy URL.
func proxyAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}
