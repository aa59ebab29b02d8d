// Package adapters holds no code of its own: it groups the parts of Stafet
// that face the outside world, by kind.
//
//   - translate/hl7v2, translate/medcom: translators. A raw message in, an
//     events.Translation out; they import events and nothing else of ours.
//   - transport/mllp, transport/httpapi, transport/fhir, transport/alerts:
//     transports. They carry messages in (MLLP, HTTP) and alerts out (NATS,
//     SSE, webhooks), and use the engine's handles and the projections;
//     none holds a NATS connection or a JetStream context.
//   - ingest: which translator reads which channel. The intake itself
//     (store raw, resolve, append, commit) is the engine's, engine.Intake.
//
// The simulator, a client of Stafet rather than a part of it, lives in
// ../simulator.
package adapters
