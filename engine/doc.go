// Package engine is Stafet's event store on NATS JetStream. Open starts
// an embedded nats-server (or connects to a cluster), creates the streams
// and buckets, and returns a Store that hands out one handle per job:
//
//   - Log (Store.Log): the event log. Execute decides a command with the
//     pathway rules and appends it with per-pathway optimistic concurrency
//     and idempotency; Load reads one pathway; Replay reads the log into
//     projections; NewHost keeps a projection current (Host: checkpoints,
//     shadow rebuilds); Commit waits for the group fsync.
//   - Intake (Store.NewIntake): the one call that takes an inbound
//     message in — store raw, translate (the channel's Translate),
//     pseudonymise, resolve the pathway (readmissions included), append,
//     link, commit — or dead-letters it.
//   - Inbox (Store.Inbox): inbound messages stored raw and sealed before
//     anything else, the dead letters, and whether intake is stopped for
//     want of disk space (NoRoom).
//   - PathwayIndex (Store.Index): a patient's open pathway, and the
//     pathway an episode of care or a document belongs to.
//   - Vault (Store.Vault): CPR pseudonyms, sealed identities under
//     per-patient keys, crypto-shredding.
//   - Reactors (Store.Reactors): durable reactions to events shared by
//     every instance, the policies that derive commands from them
//     (RunPolicy), and the deadline scheduler (RunDeadlines).
//   - Subscribers (Store.Subscribers): the NATS users that may subscribe
//     to the alerts on the embedded server.
//   - AccessLog (Store.Access): who read which pathway, broke the glass,
//     or joined a pathway it was not party to.
//   - Journal (Store.Journal) and Bucket (Store.Bucket): an append-only
//     stream and a key-value bucket of an adapter's own beside the log
//     (the alerts and webhooks, the access log and tokens), so no adapter
//     needs a JetStream context.
//   - NATS (Store.NATS): the connection and the embedded server — where
//     it listens and keeps its files — for wiring, the benchmark's raw
//     side, and tests that look behind the handles.
//
// The contracts a projection meets (Projection and its optional
// abilities, Scheduler among them) are in projection.go, Policy in
// react.go: engine declares them and does not import package projections. The layout of streams, subjects and buckets
// is in docs/architecture.md.
package engine
