package httpapi

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/projections"
)

// RegisterMetrics registers the service's metrics on r, for /metrics:
// the Go runtime and the process, the event log's counters, how far the
// hosted projections are, and the open gaps by kind and cluster (read
// from the host's projections.Set at scrape time). Labels never hold
// patient data.
func RegisterMetrics(r prometheus.Registerer, log *engine.Log, host *engine.Host) error {
	st := log.Stats()
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counter("stafet_appends_total", "Commands appended to the log.", st.Appends.Load),
		counter("stafet_events_appended_total", "Events appended to the log.", st.Events.Load),
		counter("stafet_append_conflicts_total", "Appends that met a concurrent change and were decided again.", st.Conflicts.Load),
		counter("stafet_duplicates_total", "Resent messages recognised and not appended again.", st.Duplicates.Load),
		counter("stafet_commands_rejected_total", "Commands rejected by the pathway rules or validation.", st.Rejected.Load),
		counter("stafet_replay_reader_restarts_total", "Consumers a replay's reader replaced after the server ended one, skipped a delivery or fell silent.", st.ReaderRestarts.Load),
		counter("stafet_index_write_failures_total", "Idempotency index writes the server refused or did not acknowledge; each is retried until stored.", st.IndexWriteFailures.Load),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stafet_index_writes_pending", Help: "Idempotency index writes being retried."},
			func() float64 { return float64(log.IndexWritesPending()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stafet_projection_applied_seq", Help: "Log sequence the projections reflect."},
			func() float64 { return float64(host.Applied()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stafet_projection_lag_events", Help: "Events in the log not yet applied to the projections."},
			func() float64 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				lag, _ := host.Lag(ctx)
				return float64(lag)
			}),
		&gapCollector{host: host, desc: prometheus.NewDesc("stafet_open_gaps", "Open gaps by kind and cluster.", []string{"kind", "cluster"}, nil)},
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// gapCollector reports open gaps by kind and cluster at scrape time.
type gapCollector struct {
	host *engine.Host
	desc *prometheus.Desc
}

func (c *gapCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *gapCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int{}
	now := time.Now()
	engine.View(c.host, func(set *projections.Set) {
		for _, g := range set.Gaps.List(projections.GapFilter{}, now) {
			counts[[2]string{string(g.Kind), g.Cluster}]++
		}
	})
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// RegisterInboxMetrics registers the inbound channels' counters, read
// from the message browser's index at scrape time: answers by channel
// and code, and each channel's last message. Every instance's index holds
// every receipt, so every instance reports the same totals (aggregate
// with max). Senders are not labels: an MLLP sender names itself, and a
// label per sender could grow without bound; they are in GET /v1/channels.
func RegisterInboxMetrics(r prometheus.Registerer, x *engine.ReceiptIndex) error {
	return r.Register(&inboxCollector{x: x,
		answers:   prometheus.NewDesc("stafet_inbound_messages_total", "Inbound messages answered, by channel and answer (AA, AE, AR), from the receipts; the same on every instance.", []string{"channel", "answer"}, nil),
		last:      prometheus.NewDesc("stafet_inbound_last_message_timestamp_seconds", "When each channel's last inbound message came, in Unix seconds.", []string{"channel"}, nil),
		unwritten: prometheus.NewDesc("stafet_receipts_unwritten_total", "Receipts of inbound messages this instance could not write; the message browser lacks them until the next start.", nil, nil),
	})
}

type inboxCollector struct {
	x                        *engine.ReceiptIndex
	answers, last, unwritten *prometheus.Desc
}

func (c *inboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.answers
	ch <- c.last
	ch <- c.unwritten
}

func (c *inboxCollector) Collect(ch chan<- prometheus.Metric) {
	answers := map[[2]string]int{}
	last := map[string]time.Time{}
	for _, s := range c.x.Senders("") {
		for a, n := range s.Answers {
			answers[[2]string{s.System, a}] += n
		}
		if s.LastSeen.After(last[s.System]) {
			last[s.System] = s.LastSeen
		}
	}
	for k, n := range answers {
		ch <- prometheus.MustNewConstMetric(c.answers, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	for channel, t := range last {
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, float64(t.UnixNano())/1e9, channel)
	}
	ch <- prometheus.MustNewConstMetric(c.unwritten, prometheus.CounterValue, float64(c.x.Unwritten()))
}
