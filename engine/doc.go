// Package engine is Stafet's event store on NATS JetStream: it starts an
// embedded nats-server (or connects to a cluster), appends events with
// per-pathway optimistic concurrency and idempotency, loads one pathway by
// subject, and replays the log into projections.
//
// The layout of streams, subjects and buckets is in docs/architecture.md.
// Engine hosts projections through the Projection interface it declares;
// it does not import package projections.
package engine
