package alerts

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery channels and failure outcomes, the only label values besides
// the alert kind: labels never carry organisations, pathways or URLs.
const (
	channelSSE     = "sse"
	channelWebhook = "webhook"

	outcomeRetry        = "retry"        // a webhook attempt failed; it will be retried
	outcomeExpired      = "expired"      // a webhook delivery was given up after WebhookRetryFor
	outcomeDisconnected = "disconnected" // an SSE client could not be written to
)

type metrics struct {
	published  *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	failures   *prometheus.CounterVec
	delay      prometheus.Histogram
	loads      prometheus.Counter
	conflicts  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stafet_alerts_published_total",
			Help: "Alerts stored in STAFET_ALERTS, by kind.",
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stafet_alert_deliveries_total",
			Help: "Alerts delivered, by channel (sse, webhook).",
		}, []string{"channel"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stafet_alert_delivery_failures_total",
			Help: "Failed alert deliveries, by channel and outcome (retry, expired, disconnected).",
		}, []string{"channel", "outcome"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stafet_alert_publish_delay_seconds",
			Help:    "Time from an event's recording to its alert being stored.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stafet_alert_history_loads_total",
			Help: "Events whose pathway history was not in the alert service's cache and was loaded from the log.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stafet_alert_publish_conflicts_total",
			Help: "Alerts whose addressee's next number another instance took first: the write was refused and made again with the next number.",
		}),
	}
	for _, k := range Kinds() {
		m.published.WithLabelValues(string(k))
	}
	for _, ch := range []string{channelSSE, channelWebhook} {
		m.deliveries.WithLabelValues(ch)
	}
	m.failures.WithLabelValues(channelWebhook, outcomeRetry)
	m.failures.WithLabelValues(channelWebhook, outcomeExpired)
	m.failures.WithLabelValues(channelSSE, outcomeDisconnected)
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.published, m.deliveries, m.failures, m.delay, m.loads, m.conflicts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("alerts: metrics (one Service per registry): %w", err)
		}
	}
	return m, nil
}
