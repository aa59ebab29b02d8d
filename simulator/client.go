package simulator

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

// MLLP frame bytes.
const (
	startBlock = 0x0B
	endBlock   = 0x1C
	carriage   = 0x0D
)

// mllpConn is one MLLP connection: send a frame, read the ACK.
type mllpConn struct {
	net.Conn
	r *bufio.Reader
}

// dialMLLP connects to stafetd's MLLP listener, over TLS with a client
// certificate when tlsCfg is not nil.
func dialMLLP(ctx context.Context, addr string, timeout time.Duration, tlsCfg *tls.Config) (*mllpConn, error) {
	dl := net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if tlsCfg != nil {
		c, err = (&tls.Dialer{NetDialer: &dl, Config: tlsCfg}).DialContext(ctx, "tcp", addr)
	} else {
		c, err = dl.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	return &mllpConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// roundTrip sends one framed message and returns the ACK's payload.
func (c *mllpConn) roundTrip(msg []byte, timeout time.Duration) ([]byte, error) {
	c.SetDeadline(time.Now().Add(timeout))
	frame := make([]byte, 0, len(msg)+3)
	frame = append(frame, startBlock)
	frame = append(frame, msg...)
	frame = append(frame, endBlock, carriage)
	if _, err := c.Write(frame); err != nil {
		return nil, err
	}
	b, err := c.r.ReadBytes(endBlock)
	if err != nil {
		return nil, fmt.Errorf("reading the ACK: %w", err)
	}
	if cr, err := c.r.ReadByte(); err != nil || cr != carriage {
		return nil, fmt.Errorf("reading the ACK: frame does not end in 0x1C 0x0D")
	}
	if i := bytes.IndexByte(b, startBlock); i >= 0 {
		b = b[i+1:]
	}
	return b[:len(b)-1], nil
}

// transientError is a failure a resend can get past: stafetd did not
// answer, or answered that it could not record the message (HL7 AR with
// ERR-3 207, MedCom transient-error, HTTP 5xx or 429). The sender holds
// the step and sends it again (driver.sendHeld), as a hospital's
// interface engine does after an outage.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

// isTransient reports whether err is worth a resend.
func isTransient(err error) bool {
	var te *transientError
	return errors.As(err, &te)
}

// statusTransient reports whether an HTTP status asks for a resend.
func statusTransient(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests
}

// sendHL7 sends an ADT message over the sender's MLLP connection, dialling
// it first if needed, and checks that the ACK's MSA-1 is AA. A failed
// connection is dialled again once and the message resent: the same
// control id makes the resend harmless.
func (d *driver) sendHL7(ctx context.Context, conn **mllpConn, s Step) error {
	var ack []byte
	var err error
	for try := 0; try < 2; try++ {
		if *conn == nil {
			if *conn, err = dialMLLP(ctx, d.cfg.MLLPAddr, d.cfg.Timeout, d.cfg.MLLPTLS); err != nil {
				continue
			}
		}
		if ack, err = (*conn).roundTrip(s.Body, d.cfg.Timeout); err == nil {
			break
		}
		(*conn).Close()
		*conn = nil
	}
	if err != nil {
		return transient(err)
	}
	m, err := hl7v2.Parse(ack)
	if err != nil {
		return fmt.Errorf("unreadable ACK: %w", err)
	}
	code := m.Get("MSA-1")
	if m.Get("MSA-2") != s.ID {
		return fmt.Errorf("ACK for %q, want MSA-2 %q", m.Get("MSA-2"), s.ID)
	}
	if code == "AR" && strings.Contains(m.Get("MSA-3")+" "+m.Get("ERR-8"), "transient error") {
		return transient(fmt.Errorf("MSA-1 AR: %s", m.Get("MSA-3")))
	}
	d.stats.sentOne(s, code, code == "AA")
	d.watchReceivers(s.Municipality, s.At)
	if code != "AA" {
		return fmt.Errorf("MSA-1 %s: %s", code, m.Get("MSA-3"))
	}
	return nil
}

// sendMedCom posts a MedCom message to /v1/medcom with the operator token.
// The answer is a MedCom Acknowledgement; a pathway id the API adds (a
// Stafet-Pathway header, a Location under /v1/pathways/, or a "pathway"
// field) is kept for the API steps of the same episode.
func (d *driver) sendMedCom(ctx context.Context, s Step) error {
	resp, body, err := d.do(ctx, http.MethodPost, "/v1/medcom", d.cfg.Token, "application/fhir+json", s.Body)
	if err != nil {
		return transient(err)
	}
	if statusTransient(resp.StatusCode) {
		return transient(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	code := fmt.Sprint(resp.StatusCode)
	if m, err := medcom.Parse(body); err == nil && m.Acknowledgement != nil {
		code = m.Acknowledgement.Code
	}
	ok := resp.StatusCode/100 == 2 && (code == "ok" || code == fmt.Sprint(resp.StatusCode))
	d.stats.sentOne(s, code, ok)
	if id := pathwayOf(resp, body); id != "" {
		d.mu.Lock()
		d.pathways[s.Episode] = id
		d.mu.Unlock()
	}
	d.watchReceivers(s.Municipality, s.At)
	if !ok {
		return fmt.Errorf("HTTP %d, acknowledgement %s", resp.StatusCode, code)
	}
	return nil
}

// pathwayOf finds the pathway id in an answer, if the API gives it.
func pathwayOf(resp *http.Response, body []byte) string {
	if id := resp.Header.Get("Stafet-Pathway"); id != "" {
		return id
	}
	if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/v1/pathways/") {
		return strings.SplitN(strings.TrimPrefix(loc, "/v1/pathways/"), "/", 2)[0]
	}
	var v struct {
		Pathway string `json:"pathway"`
	}
	if json.Unmarshal(body, &v) == nil {
		return v.Pathway
	}
	return ""
}

// sendAPI makes an API step's call with the acting organisation's token,
// once the pathway's id is known.
func (d *driver) sendAPI(ctx context.Context, s Step) error {
	d.mu.Lock()
	id := d.pathways[s.Episode]
	d.mu.Unlock()
	if id == "" {
		d.stats.skip("pathway-unknown")
		return nil
	}
	tok, err := d.token(ctx, s.Org)
	if err != nil {
		return err
	}
	path := strings.ReplaceAll(s.Path, "{pathway}", url.PathEscape(id))
	resp, _, err := d.do(ctx, s.Method, path, tok, "application/json", s.Body, "Idempotency-Key", s.ID)
	if err != nil {
		return transient(err)
	}
	if statusTransient(resp.StatusCode) {
		return transient(fmt.Errorf("%s %s: HTTP %d", s.Method, s.Path, resp.StatusCode))
	}
	ok := resp.StatusCode/100 == 2
	d.stats.sentOne(s, fmt.Sprint(resp.StatusCode), ok)
	if s.Kind == string(events.TypeDocumentSent) {
		var ev struct {
			Data events.DocumentSent `json:"data"`
		}
		if json.Unmarshal(s.Body, &ev) == nil {
			d.watch(ev.Data.To)
		}
	}
	if !ok {
		return fmt.Errorf("%s %s: HTTP %d", s.Method, s.Path, resp.StatusCode)
	}
	return nil
}

// do makes one HTTP request and reads the whole answer (at most 4 MiB).
func (d *driver) do(ctx context.Context, method, path, token, contentType string, body []byte, header ...string) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.cfg.BaseURL+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json, application/fhir+json, application/problem+json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := d.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp, b, err
}

// token returns an organisation's bearer token, issued once with the
// operator token (POST /v1/tokens).
func (d *driver) token(ctx context.Context, org events.OrgID) (string, error) {
	d.mu.Lock()
	tok, ok := d.tokens[org]
	d.mu.Unlock()
	if ok {
		return tok, nil
	}
	req, _ := json.Marshal(map[string]string{"org": string(org)})
	resp, body, err := d.do(ctx, http.MethodPost, "/v1/tokens", d.cfg.Token, "application/json", req)
	if err != nil {
		return "", transient(fmt.Errorf("token for %s: %w", org, err))
	}
	if statusTransient(resp.StatusCode) {
		return "", transient(fmt.Errorf("token for %s: HTTP %d", org, resp.StatusCode))
	}
	var v struct {
		Token string `json:"token"`
	}
	if resp.StatusCode/100 != 2 || json.Unmarshal(body, &v) != nil || v.Token == "" {
		return "", fmt.Errorf("token for %s: HTTP %d", org, resp.StatusCode)
	}
	d.mu.Lock()
	d.tokens[org] = v.Token
	d.mu.Unlock()
	return v.Token, nil
}

// worklist is the part of GET /v1/worklist the driver reads.
type worklist struct {
	Offers []struct {
		Pathway  string                `json:"pathway"`
		Offer    string                `json:"offer"`
		What     events.Responsibility `json:"what"`
		Offered  time.Time             `json:"offered"`
		Deadline time.Time             `json:"deadline"`
	} `json:"offers"`
}

// pendingAnswer is an answer due at a time.
type pendingAnswer struct {
	at             time.Time
	org            events.OrgID
	pathway, offer string
	decision       Decision
	failed         time.Time // first failed attempt, if any
}

// firstFail notes and returns when the answer first failed.
func (a *pendingAnswer) firstFail() time.Time {
	if a.failed.IsZero() {
		a.failed = time.Now()
	}
	return a.failed
}

type answerQueue []*pendingAnswer

func (q answerQueue) Len() int           { return len(q) }
func (q answerQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q answerQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *answerQueue) Push(x any)        { *q = append(*q, x.(*pendingAnswer)) }
func (q *answerQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// answer reads the watched organisations' worklists every PollInterval and
// answers each new offer when the model's draw says: the answer's time is
// the offer's time plus Decision.After, in real time, as the offer's
// deadline is (stafetd runs with rules compressed alike).
func (d *driver) answer(ctx context.Context) {
	decided := map[string]bool{}
	var due answerQueue
	poll := time.NewTicker(d.cfg.PollInterval)
	defer poll.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
			for _, org := range d.watched() {
				if ctx.Err() != nil {
					return
				}
				d.readWorklist(ctx, org, decided, &due)
			}
		case <-tick.C:
		}
		for due.Len() > 0 && !due[0].at.After(time.Now()) {
			a := heap.Pop(&due).(*pendingAnswer)
			err := d.respond(ctx, a)
			switch {
			case err == nil || ctx.Err() != nil:
			case isTransient(err) && time.Since(a.firstFail()) < d.cfg.ResendFor:
				// stafetd is away: answer again in a moment.
				d.stats.retry()
				a.at = time.Now().Add(time.Second)
				heap.Push(&due, a)
			default:
				d.stats.fail(fmt.Sprintf("answer %s: %v", a.offer, err))
			}
		}
	}
}

func (d *driver) readWorklist(ctx context.Context, org events.OrgID, decided map[string]bool, due *answerQueue) {
	tok, err := d.token(ctx, org)
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case isTransient(err):
			d.stats.retry()
		default:
			d.stats.fail(err.Error())
		}
		return
	}
	resp, body, err := d.do(ctx, http.MethodGet, "/v1/worklist", tok, "", nil)
	switch {
	case ctx.Err() != nil:
		return
	case err != nil || statusTransient(resp.StatusCode):
		// stafetd is away; the next poll reads the worklist again.
		d.stats.retry()
		return
	case resp.StatusCode != http.StatusOK:
		d.stats.fail(fmt.Sprintf("worklist of %s: %v", org, httpErr(resp, err)))
		return
	}
	var wl worklist
	if err := json.Unmarshal(body, &wl); err != nil {
		d.stats.fail(fmt.Sprintf("worklist of %s: %v", org, err))
		return
	}
	for _, o := range wl.Offers {
		key := o.Pathway + "|" + o.Offer
		if decided[key] {
			continue
		}
		decided[key] = true
		window := time.Duration(0)
		if !o.Deadline.IsZero() {
			window = o.Deadline.Sub(o.Offered)
		}
		dec := d.model.Decide(o.Offer, o.What, window)
		if dec.Answer == Never {
			d.stats.answered(Never)
			continue
		}
		heap.Push(due, &pendingAnswer{at: o.Offered.Add(dec.After), org: org, pathway: o.Pathway, offer: o.Offer, decision: dec})
	}
}

// respond accepts or rejects an offer as the addressee.
func (d *driver) respond(ctx context.Context, a *pendingAnswer) error {
	tok, err := d.token(ctx, a.org)
	if err != nil {
		return err
	}
	verb, body := "accept", []byte("{}")
	if a.decision.Answer == Reject {
		verb = "reject"
		body, _ = json.Marshal(map[string]string{"reason": a.decision.Reason})
	}
	path := "/v1/pathways/" + url.PathEscape(a.pathway) + "/offers/" + url.PathEscape(a.offer) + "/" + verb
	resp, _, err := d.do(ctx, http.MethodPost, path, tok, "application/json", body)
	if err != nil {
		return transient(err)
	}
	if statusTransient(resp.StatusCode) {
		return transient(fmt.Errorf("%s: HTTP %d", verb, resp.StatusCode))
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: HTTP %d", verb, resp.StatusCode)
	}
	d.stats.answered(a.decision.Answer)
	return nil
}

func httpErr(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("HTTP %d", resp.StatusCode)
}
