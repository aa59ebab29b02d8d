package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// HealthStatus is a stafetd's state as a whole (docs/operations.md,
// "Health").
type HealthStatus string

// Health states.
const (
	// HealthStarting: the projections are restoring their checkpoints.
	HealthStarting HealthStatus = "starting"
	// HealthCatchingUp: the projections are applying the log as it stood
	// at start; Projections say how far they are.
	HealthCatchingUp HealthStatus = "catching-up"
	// HealthLive: everything is current and nothing needs the operator.
	HealthLive HealthStatus = "live"
	// HealthDegraded: serving, but something needs the operator; the
	// reasons say what.
	HealthDegraded HealthStatus = "degraded"
	// HealthStopped: a projection stopped; its answers no longer change.
	HealthStopped HealthStatus = "stopped"
)

// Reasons a health report gives (Reason.Code).
const (
	ReasonQuarantined       = "quarantined"
	ReasonProjectionStalled = "projection-stalled"
	ReasonProjectionStale   = "projection-stale"
	ReasonProjectionStopped = "projection-stopped"
	ReasonDeadLetters       = "dead-letters-rising"
	ReasonDiskNearlyFull    = "disk-nearly-full"
	// ReasonNoRoom: free space is under Config.MinFreeBytes; intake
	// refuses every message, and the service is not ready.
	ReasonNoRoom           = "intake-stopped-no-room"
	ReasonNATSDisconnected = "nats-disconnected"
	ReasonReactorStalled   = "reactor-stalled"
	// ReasonIndexPending: idempotency index writes the server refused
	// are being retried; until they are stored, a resend of their
	// messages after the duplicate window could be appended twice.
	ReasonIndexPending = "index-writes-pending"
	// ReasonReceiptsUnwritten: receipts of inbound messages could not be
	// written; the message browser lacks them until the next start.
	ReasonReceiptsUnwritten = "receipts-unwritten"
)

// HealthReasons are every Reason.Code a health report can give, for
// whatever shows them (the dashboard has a text for each).
func HealthReasons() []string {
	return []string{ReasonQuarantined, ReasonProjectionStalled, ReasonProjectionStale, ReasonProjectionStopped,
		ReasonDeadLetters, ReasonDiskNearlyFull, ReasonNoRoom, ReasonNATSDisconnected, ReasonReactorStalled, ReasonIndexPending, ReasonReceiptsUnwritten}
}

// Reason is one thing that keeps a stafetd from being simply live.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
	// Seqs are the log sequences concerned, for quarantined messages.
	Seqs []uint64 `json:"seqs,omitempty"`
}

// Health is a stafetd's report on itself: what /healthz and /readyz
// answer, and what the health metrics show.
type Health struct {
	Status HealthStatus `json:"status"`
	// Ready: the projections are current, so reads answer what the log
	// holds (/readyz answers 200).
	Ready       bool               `json:"ready"`
	Reasons     []Reason           `json:"reasons"`
	Projections []ProjectionHealth `json:"projections"`
	Reactors    []ReactorHealth    `json:"reactors"`
	DeadLetters DeadLetterHealth   `json:"dead_letters"`
	Disk        *DiskHealth        `json:"disk,omitempty"`
	NATS        NATSHealth         `json:"nats"`
	At          time.Time          `json:"at"`
}

// ProjectionHealth is one projection host's Status, for reading.
type ProjectionHealth struct {
	Name           string    `json:"name"`
	State          HostState `json:"state"`
	Applied        uint64    `json:"applied"`
	LogEnd         uint64    `json:"log_end"`
	Progress       float64   `json:"progress"`
	AsOf           time.Time `json:"as_of,omitzero"`
	Stale          bool      `json:"stale"`
	StalledSeconds float64   `json:"stalled_seconds"`
	Quarantined    int       `json:"quarantined"`
	Error          string    `json:"error,omitempty"`
}

// ReactorHealth is how far a shared reactor (a durable consumer) is.
type ReactorHealth struct {
	Name string `json:"name"`
	// Lag counts the events not yet acknowledged: pending, in flight and
	// waiting to be delivered again.
	Lag uint64 `json:"lag"`
	// AckFloor is the sequence through which every event is handled.
	AckFloor       uint64  `json:"ack_floor"`
	StalledSeconds float64 `json:"stalled_seconds"`
	Error          string  `json:"error,omitempty"`
}

// DeadLetterHealth counts the dead letters (all instances').
type DeadLetterHealth struct {
	Total int `json:"total"`
	// Recent counts those written within the monitor's window.
	Recent int `json:"recent"`
	// ByChannel counts them by channel (hl7v2, medcom, api) and code.
	ByChannel []DeadLetterCount `json:"by_channel"`
}

// DeadLetterCount is the number of dead letters of one channel and code.
type DeadLetterCount struct {
	Channel string `json:"channel"`
	Code    string `json:"code"`
	Count   int    `json:"count"`
}

// DiskHealth is the room left for the log.
type DiskHealth struct {
	// FreeBytes and TotalBytes are the data directory's file system (the
	// embedded server), or JetStream's account limit (a cluster with one).
	FreeBytes  uint64  `json:"free_bytes"`
	TotalBytes uint64  `json:"total_bytes"`
	FreeRatio  float64 `json:"free_ratio"`
	Where      string  `json:"where"`
}

// NATSHealth is the store's connection.
type NATSHealth struct {
	Connected bool   `json:"connected"`
	Status    string `json:"status"`
}

// MonitorOptions tunes a Monitor. The zero value means the defaults.
type MonitorOptions struct {
	// Reactors are the durable reactors to watch, by name.
	Reactors []string
	// Every is how often reactors, the disk and JetStream are read.
	// Default 5 s.
	Every time.Duration
	// ReactorStallAfter is how long a reactor may hold events without
	// acknowledging one before it counts as stalled. Default 2 minutes
	// (longer than its backoff between retries of one event).
	ReactorStallAfter time.Duration
	// DeadLetterWindow and DeadLetterRising: that many dead letters
	// written within the window count as rising. Defaults 10 minutes, 5.
	DeadLetterWindow time.Duration
	DeadLetterRising int
	// DiskLowRatio and DiskLowBytes: less free than either is nearly
	// full. Defaults 10 % and 1 GiB.
	DiskLowRatio float64
	DiskLowBytes uint64
}

func (o *MonitorOptions) defaults() {
	o.Every = cmp.Or(o.Every, 5*time.Second)
	o.ReactorStallAfter = cmp.Or(o.ReactorStallAfter, 2*time.Minute)
	o.DeadLetterWindow = cmp.Or(o.DeadLetterWindow, 10*time.Minute)
	o.DeadLetterRising = cmp.Or(o.DeadLetterRising, 5)
	o.DiskLowRatio = cmp.Or(o.DiskLowRatio, 0.10)
	o.DiskLowBytes = cmp.Or(o.DiskLowBytes, 1<<30)
}

// Monitor watches what a stafetd depends on — its projection hosts, the
// shared reactors, the dead letters, the disk and the NATS connection —
// and reports Health.
type Monitor struct {
	s     *Store
	hosts []*Host
	opts  MonitorOptions

	mu       sync.Mutex
	reactors map[string]*reactorWatch
	dead     map[string]deadLetter
	disk     *DiskHealth
}

type reactorWatch struct {
	health  ReactorHealth
	movedAt time.Time
}

type deadLetter struct {
	channel, code string
	at            time.Time
}

// NewMonitor returns a monitor of the store and hosts; Run starts it.
func (s *Store) NewMonitor(hosts []*Host, opts MonitorOptions) *Monitor {
	opts.defaults()
	m := &Monitor{s: s, hosts: hosts, opts: opts, reactors: map[string]*reactorWatch{}, dead: map[string]deadLetter{}}
	for _, name := range opts.Reactors {
		m.reactors[name] = &reactorWatch{health: ReactorHealth{Name: name}, movedAt: time.Now()}
	}
	return m
}

// Run samples until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	go m.watchDeadLetters(ctx)
	t := time.NewTicker(m.opts.Every)
	defer t.Stop()
	for {
		m.sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Monitor) sample(ctx context.Context) {
	for _, name := range m.opts.Reactors {
		h := m.reactor(ctx, name)
		m.mu.Lock()
		w := m.reactors[name]
		if h.Error == "" && (h.AckFloor != w.health.AckFloor || h.Lag == 0) {
			w.movedAt = time.Now()
		}
		if h.Error != "" {
			h.AckFloor, h.Lag = w.health.AckFloor, w.health.Lag
		}
		h.StalledSeconds = time.Since(w.movedAt).Seconds()
		if h.Lag == 0 {
			h.StalledSeconds = 0
		}
		w.health = h
		m.mu.Unlock()
	}
	d := m.diskRoom(ctx)
	m.mu.Lock()
	m.disk = d
	m.mu.Unlock()
}

func (m *Monitor) reactor(ctx context.Context, name string) ReactorHealth {
	h := ReactorHealth{Name: name}
	cctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	cons, err := m.s.eventLog.stream.Consumer(cctx, name)
	if err == nil {
		var info *jetstream.ConsumerInfo
		if info, err = cons.Info(cctx); err == nil {
			// Waiting: not delivered yet, in flight, and given back for a
			// later redelivery (a handler that failed).
			h.Lag = info.NumPending + uint64(info.NumAckPending) + uint64(info.NumRedelivered)
			h.AckFloor = info.AckFloor.Stream
			return h
		}
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return h // not set up yet: nothing to lag behind
	}
	h.Error = err.Error()
	return h
}

// diskRoom reads the room left: the data directory's file system for
// the embedded server, else JetStream's account storage limit if it has
// one.
func (m *Monitor) diskRoom(ctx context.Context) *DiskHealth {
	if dir := m.s.NATS().DataDir(); dir != "" {
		free, total, ok := diskSpace(dir)
		if ok && total > 0 {
			return &DiskHealth{FreeBytes: free, TotalBytes: total, FreeRatio: float64(free) / float64(total), Where: "data directory"}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	info, err := m.s.js.AccountInfo(cctx)
	if err != nil || info.Limits.MaxStore <= 0 {
		return nil
	}
	total := uint64(info.Limits.MaxStore)
	free := total - min(total, info.Store)
	return &DiskHealth{FreeBytes: free, TotalBytes: total, FreeRatio: float64(free) / float64(total), Where: "JetStream account limit"}
}

// watchDeadLetters keeps the dead letters' channels and codes from the
// bucket's updates: every instance sees every dead letter.
func (m *Monitor) watchDeadLetters(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := m.s.inbox.dead.WatchAll(ctx)
		if err == nil {
			m.followDeadLetters(ctx, w)
			w.Stop()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (m *Monitor) followDeadLetters(ctx context.Context, w jetstream.KeyWatcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				continue // the initial values are in
			}
			m.mu.Lock()
			if e.Operation() == jetstream.KeyValuePut {
				var d DeadLetter
				if json.Unmarshal(e.Value(), &d) == nil {
					m.dead[e.Key()] = deadLetter{channel: d.System, code: d.Code, at: e.Created()}
				}
			} else {
				delete(m.dead, e.Key())
			}
			m.mu.Unlock()
		}
	}
}

// Health reports on the stafetd now.
func (m *Monitor) Health() Health {
	now := time.Now()
	h := Health{At: now.UTC(), Reasons: []Reason{}, Reactors: []ReactorHealth{}}
	status := HealthLive
	worse := func(s HealthStatus) {
		if rank(s) > rank(status) {
			status = s
		}
	}
	ready := true
	for _, host := range m.hosts {
		st := host.Status()
		ph := ProjectionHealth{
			Name: host.Name(), State: st.State, Applied: st.Applied, LogEnd: st.LogEnd, Progress: st.Progress(),
			AsOf: st.AsOf, Stale: st.Stale, StalledSeconds: st.StalledFor.Seconds(), Quarantined: st.Quarantined, Error: st.Err,
		}
		h.Projections = append(h.Projections, ph)
		ready = ready && !st.Stale
		switch st.State {
		case Starting:
			worse(HealthStarting)
		case CatchingUp:
			worse(HealthCatchingUp)
		case Stopped:
			worse(HealthStopped)
			h.Reasons = append(h.Reasons, Reason{Code: ReasonProjectionStopped, Detail: fmt.Sprintf("projection %s stopped at seq %d: %s", host.Name(), st.Applied, st.Err)})
		case Stalled:
			h.Reasons = append(h.Reasons, Reason{Code: ReasonProjectionStalled,
				Detail: fmt.Sprintf("projection %s has applied seq %d and not moved for %s while the log holds %d", host.Name(), st.Applied, st.StalledFor.Round(time.Second), st.LogEnd)})
		case Live:
			if st.Stale {
				h.Reasons = append(h.Reasons, Reason{Code: ReasonProjectionStale,
					Detail: fmt.Sprintf("projection %s last held the whole log at %s: %s", host.Name(), st.AsOf.UTC().Format(time.RFC3339), cmp.Or(st.Err, "the log's end is not known"))})
			}
		}
		if st.Quarantined > 0 {
			h.Reasons = append(h.Reasons, quarantineReason(host.Quarantine()))
		}
	}
	m.mu.Lock()
	for _, name := range m.opts.Reactors {
		r := m.reactors[name].health
		h.Reactors = append(h.Reactors, r)
		if r.Lag > 0 && r.StalledSeconds >= m.opts.ReactorStallAfter.Seconds() {
			h.Reasons = append(h.Reasons, Reason{Code: ReasonReactorStalled,
				Detail: fmt.Sprintf("reactor %s has handled through seq %d and not moved for %s with %d events waiting", name, r.AckFloor, (time.Duration(r.StalledSeconds) * time.Second).Round(time.Second), r.Lag)})
		}
	}
	h.DeadLetters = m.deadLetters(now)
	h.Disk = m.disk
	m.mu.Unlock()
	if h.DeadLetters.Recent >= m.opts.DeadLetterRising {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonDeadLetters,
			Detail: fmt.Sprintf("%d dead letters in the last %s (%d in all): stafet dead-letters list", h.DeadLetters.Recent, m.opts.DeadLetterWindow, h.DeadLetters.Total)})
	}
	if d := h.Disk; d != nil && (d.FreeRatio < m.opts.DiskLowRatio || d.FreeBytes < m.opts.DiskLowBytes) {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonDiskNearlyFull,
			Detail: fmt.Sprintf("%s: %.1f %% free (%d MiB); intake stops when it is full", d.Where, 100*d.FreeRatio, d.FreeBytes>>20)})
	}
	if low, free := m.s.inbox.NoRoom(); low {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonNoRoom,
			Detail: fmt.Sprintf("%d MiB free on the data directory's file system, under the %d MiB intake needs: every inbound message is refused (resend later) until room is made", free>>20, m.s.cfg.MinFreeBytes>>20)})
		ready = false
	}
	if n := m.s.eventLog.IndexWritesPending(); n > 0 {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonIndexPending,
			Detail: fmt.Sprintf("%d idempotency index writes that NATS refused or that could not be sent, being retried: until they are stored, a resend of those messages after the %s duplicate window could be appended twice (stafet_index_write_failures_total; the log says why)", n, m.s.cfg.DuplicateWindow)})
	}
	if n := m.s.inbox.ReceiptsUnwritten(); n > 0 {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonReceiptsUnwritten,
			Detail: fmt.Sprintf("%d receipts of inbound messages could not be written (stafet_receipts_unwritten_total; the log says why): the message browser and the channel counters lack those messages until the next start, which makes their receipts again from the raw messages; the messages themselves were stored and answered", n)})
	}
	h.NATS.Status = m.s.nc.Status().String()
	h.NATS.Connected = m.s.nc.Status() == nats.CONNECTED
	if !h.NATS.Connected {
		h.Reasons = append(h.Reasons, Reason{Code: ReasonNATSDisconnected, Detail: "the connection to NATS is " + strings.ToLower(h.NATS.Status) + ": no intake, no appends, no live updates"})
	}
	if len(h.Reasons) > 0 {
		worse(HealthDegraded)
	}
	h.Status = status
	h.Ready = ready && (status == HealthLive || status == HealthDegraded)
	return h
}

// rank orders the states from best to worst as a whole: a stopped
// projection outweighs everything, catching up outweighs what it may
// catch up with.
func rank(s HealthStatus) int {
	return map[HealthStatus]int{HealthLive: 0, HealthDegraded: 1, HealthCatchingUp: 2, HealthStarting: 3, HealthStopped: 4}[s]
}

func quarantineReason(qs []Quarantine) Reason {
	r := Reason{Code: ReasonQuarantined}
	var parts []string
	for _, q := range qs {
		if !q.Open() {
			continue
		}
		r.Seqs = append(r.Seqs, q.Seq)
		if len(parts) < 10 {
			parts = append(parts, strconv.FormatUint(q.Seq, 10)+" ("+string(q.Reason)+")")
		}
	}
	more := ""
	if len(r.Seqs) > len(parts) {
		more = fmt.Sprintf(" and %d more", len(r.Seqs)-len(parts))
	}
	r.Detail = fmt.Sprintf("%d stored messages quarantined, the projections go on without them: seq %s%s; stafet quarantine list", len(r.Seqs), strings.Join(parts, ", "), more)
	return r
}

func (m *Monitor) deadLetters(now time.Time) DeadLetterHealth {
	d := DeadLetterHealth{Total: len(m.dead), ByChannel: []DeadLetterCount{}}
	counts := map[[2]string]int{}
	for _, x := range m.dead {
		counts[[2]string{x.channel, x.code}]++
		if now.Sub(x.at) <= m.opts.DeadLetterWindow {
			d.Recent++
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(counts), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		d.ByChannel = append(d.ByChannel, DeadLetterCount{Channel: k[0], Code: k[1], Count: counts[k]})
	}
	return d
}
