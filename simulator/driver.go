package simulator

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stafet/stafet/events"
)

// Config configures Run. The zero value means the defaults; `stafet
// simulate` exposes every field as a flag (docs/simulator.md).
type Config struct {
	// MLLPAddr is stafetd's MLLP listener. Default "127.0.0.1:2575".
	MLLPAddr string
	// MLLPTLS, if set, dials MLLP over TLS with it: the client
	// certificate (named ClientName, which Organisations maps to every
	// hospital) and the CA of stafetd's certificate.
	MLLPTLS *tls.Config
	// BaseURL is stafetd's HTTP API. Default "http://127.0.0.1:8080".
	BaseURL string
	// Token is the operator token: it posts MedCom messages and issues
	// the organisations' tokens (POST /v1/tokens).
	Token string
	// Seed fixes the workload.
	Seed uint64
	// TimeScale is simulated minutes per real second; zero is real time.
	// Start stafetd with Rules(TimeScale) so that deadlines are compressed
	// alike.
	TimeScale float64
	// Rate is the target of messages a second (all channels); zero means
	// the national rate of the clusters at the time scale.
	Rate float64
	// Duration stops the run after this much real time; Count after this
	// many messages. With neither, Run goes on until ctx ends.
	Duration time.Duration
	Count    int
	// Clusters restricts the patients to these clusters; empty means all.
	Clusters []string
	// Concurrency is the number of senders, each with its own MLLP
	// connection; a pathway's messages always go through the same one, in
	// order. Default 4.
	Concurrency int
	// NoAnswers turns off answering offers from the worklists.
	NoAnswers bool
	// PollInterval is how often each municipality's and practice's
	// worklist is read. Default 2 s.
	PollInterval time.Duration
	// Timeout bounds each request and the wait for each ACK. Default 10 s.
	Timeout time.Duration
	// ResendFor is how long a message stafetd did not take (no answer,
	// or an answer that it could not record it) is sent again before the
	// driver gives up on it; meanwhile its sender's later messages wait,
	// in order, as behind a hospital's interface engine. Default 2
	// minutes.
	ResendFor time.Duration
	// Start is the wire time of the first message; zero is now. Start on
	// the evening of 31 December 2026 to run across the reform
	// (docs/reform-2027.md): the pathways before midnight open in the
	// sundhedsklynger, those after in the sundhedsråd, and the regions'
	// worklists are read and answered once tasks have moved to them.
	// Deadlines are kept by stafetd's clock, so a start ahead of it leaves
	// them waiting until then.
	Start time.Time
	// RunID distinguishes this run's message ids from another run's with
	// the same seed (ModelOptions.RunID). Default: the start time.
	RunID string
	// Mix sets the proportions; nil means DefaultMix.
	Mix *Mix
	// Progress, if set, is called about once a second and at the end.
	Progress func(Progress)
	// HTTPClient; nil means a client with Timeout.
	HTTPClient *http.Client
	// Logger; nil discards.
	Logger *slog.Logger
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.TimeScale < 0:
		return errors.New("simulator: time scale must not be negative")
	case c.Rate < 0:
		return errors.New("simulator: rate must not be negative")
	case c.Count < 0 || c.Duration < 0:
		return errors.New("simulator: count and duration must not be negative")
	case c.Concurrency < 0 || c.Concurrency > 1024:
		return errors.New("simulator: concurrency must be 1 to 1024")
	case c.ResendFor < 0:
		return errors.New("simulator: resend time must not be negative")
	}
	return nil
}

func (c *Config) defaults() {
	if c.MLLPAddr == "" {
		c.MLLPAddr = "127.0.0.1:2575"
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://127.0.0.1:8080"
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.PollInterval == 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.ResendFor == 0 {
		c.ResendFor = 2 * time.Minute
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: c.Timeout}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Progress is a snapshot of a running simulation.
type Progress struct {
	Elapsed time.Duration
	// Sim is the simulated time reached.
	Sim time.Time
	// Sent, Acked and Errors count messages; Answers the offers answered.
	Sent, Acked, Errors, Answers uint64
	// Rate is messages sent a second over the last interval.
	Rate float64
}

// Stats is what a run did.
type Stats struct {
	Elapsed time.Duration
	// Pathways is how many pathways the model began.
	Pathways uint64
	// Sent counts messages by channel; Kinds by channel and kind
	// ("hl7v2 A01", "medcom STIN", "api DocumentSent").
	Sent  map[Channel]int
	Kinds map[string]int
	// Acks counts the answers: HL7 MSA-1 codes ("AA"), MedCom
	// acknowledgement codes ("ok") and HTTP statuses of API calls ("201").
	Acks map[string]int
	// Answers counts offers answered from worklists, by the model's draw.
	Answers map[Answer]int
	// Skipped counts steps not sent, by reason: "pathway-unknown" for API
	// steps whose pathway Stafet has not told the driver, "stopped" for
	// steps still queued when the run ended, "unsent" for steps being
	// resent when it ended.
	Skipped map[string]int
	// Errors counts failures (connection, timeout, a negative ACK, an HTTP
	// error); FirstErrors keeps the first few messages.
	Errors      int
	FirstErrors []string
	// Resent counts messages that went through on a resend, after stafetd
	// had not taken them (down, or unable to record them); Retries the
	// attempts that failed so (sends, answers and worklist reads);
	// Outage is the longest time a message waited for stafetd.
	Resent  int
	Retries int
	Outage  time.Duration
}

// Run drives a running stafetd through its real interfaces with the
// model's workload until cfg.Count messages are sent, cfg.Duration has
// passed or ctx ends (which is not an error). HL7 steps go over MLLP, and
// each must be answered with an ACK; MedCom steps are posted to
// /v1/medcom; API steps need the pathway's id in Stafet, which the driver
// learns from the answers to MedCom posts (docs/simulator.md). Meanwhile
// the driver reads the worklists of the municipalities and practices it
// has sent to, and answers each waiting offer as Model.Decide draws: on
// time, late, never, or with a rejection.
func Run(ctx context.Context, cfg Config) (Stats, error) {
	if err := cfg.Validate(); err != nil {
		return Stats{}, err
	}
	cfg.defaults()
	start := time.Now()
	if !cfg.Start.IsZero() {
		start = cfg.Start
	}
	opts := ModelOptions{Start: start, TimeScale: cfg.TimeScale, Clusters: cfg.Clusters, Mix: cfg.Mix, RunID: cfg.RunID}
	if opts.RunID == "" {
		opts.RunID = start.UTC().Format(time.RFC3339Nano)
	}
	if cfg.Rate > 0 {
		probe, err := NewModel(cfg.Seed, opts)
		if err != nil {
			return Stats{}, err
		}
		simHoursPerSecond := probe.opts.TimeScale / 60
		opts.ArrivalsPerHour = cfg.Rate / probe.stepsPerPathway() / simHoursPerSecond
	}
	m, err := NewModel(cfg.Seed, opts)
	if err != nil {
		return Stats{}, err
	}
	d := &driver{cfg: cfg, model: m, start: start, stats: newStats(), pathways: map[string]string{}, tokens: map[events.OrgID]string{}}
	return d.run(ctx)
}

// stepsPerPathway estimates the mean number of steps a pathway yields.
func (m *Model) stepsPerPathway() float64 {
	const n = 2000
	steps := 0
	for i := range n {
		p := m.plan(uint64(i)+1<<40, m.start)
		for _, f := range p.facts {
			if m.visible(f) {
				steps++
			}
		}
	}
	return max(1, float64(steps)/n)
}

// visible reports whether render makes a step of f, without rendering.
func (m *Model) visible(f *fact) bool {
	switch f.kind {
	case fReady, fLetter, fRehabPlan, fCareComm, fReply:
		return true
	case fAck:
		return m.visible(f.ref) && (f.ref.kind == fCareComm || f.ref.kind == fReply || !f.ref.hospital.hl7)
	case fExpected:
		return f.hospital.hl7
	}
	return f.hospital.hl7 || f.p.involved
}

type driver struct {
	cfg   Config
	model *Model
	start time.Time
	stats *stats

	mu       sync.Mutex
	pathways map[string]string // episode → pathway id in Stafet
	tokens   map[events.OrgID]string
	active   []events.OrgID // organisations whose worklists are read
	seen     map[events.OrgID]bool
}

func (d *driver) run(ctx context.Context) (Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d.cfg.Duration > 0 {
		// At the end of the duration, messages still queued are not sent:
		// a slow server must not stretch the run.
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, d.start.Add(d.cfg.Duration))
		defer stop()
	}
	d.seen = map[events.OrgID]bool{}
	queues := make([]chan Step, d.cfg.Concurrency)
	var workers sync.WaitGroup
	for i := range queues {
		queues[i] = make(chan Step, 64)
		workers.Add(1)
		go func() {
			defer workers.Done()
			d.sender(ctx, queues[i])
		}()
	}
	var helpers sync.WaitGroup
	helpers.Add(2)
	helpCtx, stopHelpers := context.WithCancel(ctx)
	go func() { defer helpers.Done(); d.report(helpCtx) }()
	go func() {
		defer helpers.Done()
		if !d.cfg.NoAnswers {
			d.answer(helpCtx)
		}
	}()

	d.dispatch(ctx, queues)
	for _, q := range queues {
		close(q)
	}
	workers.Wait()
	stopHelpers()
	helpers.Wait()
	st := d.stats.snapshot()
	st.Elapsed = time.Since(d.start)
	st.Pathways = d.model.Pathways()
	if d.cfg.Progress != nil {
		d.cfg.Progress(d.progress(0, 0))
	}
	return st, nil
}

// dispatch hands the model's steps to the senders at their wire times,
// until the count or duration is reached or ctx ends.
func (d *driver) dispatch(ctx context.Context, queues []chan Step) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; d.cfg.Count == 0 || n < d.cfg.Count; n++ {
		s := d.model.Next()
		if d.cfg.Duration > 0 && s.At.Sub(d.start) >= d.cfg.Duration {
			// Wait out the duration, answering offers meanwhile.
			s.At = d.start.Add(d.cfg.Duration)
		}
		if wait := time.Until(s.At); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if d.cfg.Duration > 0 && time.Since(d.start) >= d.cfg.Duration {
			return
		}
		d.stats.sim.Store(s.Sim.UnixNano())
		select {
		case <-ctx.Done():
			return
		case queues[s.Pathway%uint64(len(queues))] <- s:
		}
	}
}

// sender sends the steps of its share of pathways, one after the other.
func (d *driver) sender(ctx context.Context, steps <-chan Step) {
	var conn *mllpConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for s := range steps {
		if ctx.Err() != nil {
			d.stats.skip("stopped")
			continue
		}
		err := d.sendHeld(ctx, s, func() error {
			switch s.Channel {
			case HL7:
				return d.sendHL7(ctx, &conn, s)
			case MedCom:
				return d.sendMedCom(ctx, s)
			}
			return d.sendAPI(ctx, s)
		})
		if err != nil && ctx.Err() == nil {
			d.stats.fail(fmt.Sprintf("%s %s: %v", s.Channel, s.Kind, err))
			d.cfg.Logger.Debug("simulator: step failed", "channel", s.Channel, "kind", s.Kind, "err", err)
		}
	}
}

// sendHeld sends a step until stafetd takes it: a failure a resend can
// get past (isTransient) is tried again, backing off from a quarter
// second to five, for up to ResendFor. The step holds its sender
// meanwhile, so a pathway's messages stay in order.
func (d *driver) sendHeld(ctx context.Context, s Step, send func() error) error {
	var first time.Time
	wait := 250 * time.Millisecond
	for {
		err := send()
		if !isTransient(err) || ctx.Err() != nil {
			if err == nil && !first.IsZero() {
				d.stats.resent(time.Since(first))
			}
			return err
		}
		if first.IsZero() {
			first = time.Now()
		}
		if time.Since(first) >= d.cfg.ResendFor {
			return fmt.Errorf("not taken after resending for %s: %w", d.cfg.ResendFor, err)
		}
		d.stats.retry()
		select {
		case <-ctx.Done():
			d.stats.skip("unsent")
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// watchReceivers watches a patient's municipality and, once tasks have
// moved to the regions (events/reference/handoff_receivers.csv), its
// region at the step's wire time.
func (d *driver) watchReceivers(m events.OrgID, at time.Time) {
	d.watch(m)
	w, err := loadWorld()
	if err != nil || m == "" {
		return
	}
	if r := w.dir.ReceiverOf(events.MunicipalBed, m, at); r != m {
		d.watch(r)
	}
}

// watch adds an organisation to the worklists the driver reads.
func (d *driver) watch(org events.OrgID) {
	if d.cfg.NoAnswers || org == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.seen[org] {
		d.seen[org] = true
		d.active = append(d.active, org)
	}
}

func (d *driver) watched() []events.OrgID {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.active)
}

// report calls the progress callback about once a second.
func (d *driver) report(ctx context.Context) {
	if d.cfg.Progress == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last, lastAt := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			p := d.progress(last, now.Sub(lastAt))
			last, lastAt = p.Sent, now
			d.cfg.Progress(p)
		}
	}
}

func (d *driver) progress(last uint64, over time.Duration) Progress {
	s := d.stats
	p := Progress{
		Elapsed: time.Since(d.start), Sim: time.Unix(0, s.sim.Load()),
		Sent: s.sent.Load(), Acked: s.acked.Load(), Errors: s.errors.Load(), Answers: s.answers.Load(),
	}
	if over > 0 {
		p.Rate = float64(p.Sent-last) / over.Seconds()
	} else if p.Elapsed > 0 {
		p.Rate = float64(p.Sent) / p.Elapsed.Seconds()
	}
	return p
}

// stats are the counters a run keeps.
type stats struct {
	sent, acked, errors, answers atomic.Uint64
	sim                          atomic.Int64

	mu sync.Mutex
	st Stats
}

func newStats() *stats {
	return &stats{st: Stats{
		Sent: map[Channel]int{}, Kinds: map[string]int{}, Acks: map[string]int{},
		Answers: map[Answer]int{}, Skipped: map[string]int{},
	}}
}

func (s *stats) sentOne(st Step, ack string, ok bool) {
	s.sent.Add(1)
	if ok {
		s.acked.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Sent[st.Channel]++
	s.st.Kinds[string(st.Channel)+" "+st.Kind]++
	if ack != "" {
		s.st.Acks[ack]++
	}
}

func (s *stats) fail(msg string) {
	s.errors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Errors++
	if len(s.st.FirstErrors) < 10 {
		s.st.FirstErrors = append(s.st.FirstErrors, msg)
	}
}

func (s *stats) retry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Retries++
}

func (s *stats) resent(waited time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Resent++
	s.st.Outage = max(s.st.Outage, waited)
}

func (s *stats) skip(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Skipped[reason]++
}

func (s *stats) answered(a Answer) {
	s.answers.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.Answers[a]++
}

func (s *stats) snapshot() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.st
	out.Sent, out.Kinds, out.Acks = cloneMap(s.st.Sent), cloneMap(s.st.Kinds), cloneMap(s.st.Acks)
	out.Answers, out.Skipped = cloneMap(s.st.Answers), cloneMap(s.st.Skipped)
	out.FirstErrors = slices.Clone(s.st.FirstErrors)
	return out
}

func cloneMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
