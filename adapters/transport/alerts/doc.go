// Package alerts tells organisations, as it happens, that a handoff needs
// them: an offer was made to them, a gap they can close opened, escalated
// or closed, or a deadline passed.
//
// A Service turns the event log into alerts and delivers them three ways:
//
//   - NATS: every stored alert is republished on
//     stafet.alert.<cluster>.<org-token>.<kind>, so a municipal team can
//     subscribe with any NATS client (`nats sub 'stafet.alert.*.kommune-0751.>'`).
//   - Server-sent events: ServeSSE streams one organisation's alerts
//     (GET /v1/alerts/stream), resumable with Last-Event-ID.
//   - Webhooks: registered per organisation, HMAC-signed, retried with
//     backoff, at least once, with the alert id as idempotency key.
//
// Alerts are made once per event however many stafetd instances share the
// NATS cluster: Run reads the log through the engine's shared durable
// consumer, the alert id is derived from the event, and the alert stream
// de-duplicates on it. Each webhook has its own durable consumer, shared by
// the instances, so a receiver gets each alert once per registration, not
// once per instance, and a slow or dead receiver holds up only itself.
//
// The alert stream, the webhook registrations and their counters are an
// engine.Journal and engine.Buckets: the engine keeps them, the service
// says what goes in. Alerts carry no personal data: organisations by their public register
// codes, pathways and gaps by random or derived ids. docs/alerts.md
// documents subjects, payload, SSE and webhooks. The HTTP endpoints
// (Routes) are mounted on the API server, behind its authentication, by
// Service.Mount.
package alerts
