package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/stafet/stafet/engine"
)

// Formatter writes the deliveries of webhooks registered with its format
// (HookOptions.Format): the FHIR facade turns alerts into subscription
// notification bundles.
type Formatter interface {
	// Wants reports whether hook is to be told of a: a format may be
	// narrower than alert kinds (a FHIR topic for overdue offers takes
	// the deadline alerts about offers only). An alert not wanted is
	// acknowledged unsent and takes no number.
	Wants(hook Webhook, a Alert) bool
	// Format writes the delivery of a, the number-th event of hook.
	Format(ctx context.Context, hook Webhook, a Alert, number uint64) (body []byte, contentType string, err error)
}

// render writes a delivery: the stored alert as it is, or what the
// hook's format makes of it. skip means the format does not want it.
func (s *Service) render(ctx context.Context, rec webhookRecord, d *engine.Delivery) (body []byte, contentType string, skip bool, err error) {
	if rec.Format == "" {
		return d.Data, "application/json", false, nil
	}
	f := s.cfg.Formats[rec.Format]
	if f == nil {
		return nil, "", false, fmt.Errorf("alerts: this build has no format %q", rec.Format)
	}
	var a Alert
	if err := json.Unmarshal(d.Data, &a); err != nil {
		return nil, "", true, nil // not an alert this build reads: nothing to tell
	}
	if !f.Wants(rec.Webhook, a) {
		return nil, "", true, nil
	}
	n, err := s.number(ctx, rec.ID, d.Seq)
	if err != nil {
		return nil, "", false, err
	}
	body, contentType, err = f.Format(ctx, rec.Webhook, a, n)
	return body, contentType, false, err
}

// counter is a formatted webhook's numbering: how many alerts it was
// given, and the numbers of the last ones by stream sequence, so a
// redelivery keeps its number.
type counter struct {
	N    uint64            `json:"n"`
	Seqs map[uint64]uint64 `json:"seqs"`
}

// keepNumbers is how many recent numbers a counter remembers.
const keepNumbers = 64

// number returns the number of the alert at stream sequence seq for a
// hook: the one it was given before, or the next. A formatted hook has
// one delivery in flight across instances (MaxAckPending 1), and the
// update is a compare-and-set, so numbers are taken once.
func (s *Service) number(ctx context.Context, hook string, seq uint64) (uint64, error) {
	for attempt := 0; attempt < 16; attempt++ {
		var c counter
		v, rev, found, err := s.counters.Entry(ctx, hook)
		if err != nil {
			return 0, fmt.Errorf("alerts: counter of %s: %w", hook, err)
		}
		if found {
			if err := json.Unmarshal(v, &c); err != nil {
				return 0, fmt.Errorf("alerts: counter of %s: %w", hook, err)
			}
		}
		if n, ok := c.Seqs[seq]; ok {
			return n, nil
		}
		c.N++
		if c.Seqs == nil {
			c.Seqs = make(map[uint64]uint64)
		}
		c.Seqs[seq] = c.N
		for old := range c.Seqs {
			if len(c.Seqs) <= keepNumbers {
				break
			}
			if old+keepNumbers < seq {
				delete(c.Seqs, old)
			}
		}
		b, _ := json.Marshal(c)
		err = s.counters.Update(ctx, hook, b, rev)
		if err == nil {
			return c.N, nil
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
	return 0, fmt.Errorf("alerts: counter of %s: too many concurrent updates", hook)
}

// Delivered returns how many alerts a formatted webhook has been given
// (its last event number).
func (s *Service) Delivered(ctx context.Context, hook string) (uint64, error) {
	v, ok, err := s.counters.Get(ctx, hook)
	if err != nil {
		return 0, fmt.Errorf("alerts: counter of %s: %w", hook, err)
	}
	if !ok {
		return 0, nil
	}
	var c counter
	if err := json.Unmarshal(v, &c); err != nil {
		return 0, fmt.Errorf("alerts: counter of %s: %w", hook, err)
	}
	return c.N, nil
}

// Send makes one signed request to a registered webhook outside the
// alert stream (a FHIR subscription's handshake), through the same
// egress-checked client, and reports a status other than 2xx as an
// error.
func (s *Service) Send(ctx context.Context, hook string, body []byte, contentType string) error {
	rec, err := s.record(ctx, hook)
	if err != nil {
		return err
	}
	secret, err := s.openSecret(rec)
	if err != nil {
		return err
	}
	status, err := s.post(ctx, rec, secret, body, contentType, "", 1)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return fmt.Errorf("alerts: the endpoint answered %d", status)
	}
	return nil
}

// post makes one signed POST of body to a webhook and returns the
// status (0 when no answer came).
func (s *Service) post(ctx context.Context, rec webhookRecord, secret, body []byte, contentType, idem string, attempt uint64) (int, error) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	rctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, rec.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "Stafet-Webhooks/1")
	req.Header.Set(HeaderSignature, Sign(secret, ts, body))
	req.Header.Set(HeaderTimestamp, ts)
	if idem != "" {
		req.Header.Set(HeaderIdempotency, idem)
	}
	req.Header.Set(HeaderWebhook, rec.ID)
	req.Header.Set(HeaderAttempt, strconv.FormatUint(attempt, 10))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}
