// Package bench measures Stafet against raw JetStream, side by side, on
// the same data, stream configuration and durability: `stafet bench`
// (cmd/stafet) parses its flags into Options and calls Run;
// docs/performance.md holds the method and the results, its tables
// written by WriteMarkdown and Splice.
//
// Every phase opens fresh embedded servers with engine.Open. Stafet's side
// goes through the engine's handles (Store.Log, Reactors, Subscribers and
// the projection Host); the raw baselines (raw.go) are a bare JetStream
// client on the store's own NATS connection, as stafetd's user — the
// embedded server has no anonymous access and the bench opens none.
//
// The append and replay phases alternate their sides over rounds (Stafet,
// raw, …; then starting one side further on) and report medians, so that
// load from elsewhere on the machine does not land on one side only. A
// side is one contestant doing the same work from the same start each
// round; a new baseline (another store, say) is one more side.
//
// With Options.Peer "postgres" the append and replay phases get two more
// sides (peer.go): a plain PostgreSQL events table and Message DB's
// schema, on a PostgreSQL server the bench starts from the machine's
// packages in a temporary directory (postgres.go), written and read with
// the same messages, decoder and projections.
//
// The phases that read a log copy one template log, written once per run
// in bulk mode with what Execute would store (template.go).
package bench
