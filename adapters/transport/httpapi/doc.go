// Package httpapi is Stafet's HTTP JSON API: commands, MedCom messages,
// pathway reads, gap lists, worklists, figures, dead letters, tokens,
// access logs, projection rebuilds and the health and metrics endpoints.
//
// Every caller presents a bearer token: the operator's, which sees and
// may do everything, or an organisation's, which acts only as that
// organisation and sees only the pathways it is party to (it appears in
// their history as actor, sender or addressee of an offer or a document,
// hospital, municipality or GP) and the figures of its own clusters.
// Every read of a pathway, allowed or refused, is written to the
// STAFET_ACCESS stream once for each party organisation of the pathway,
// before the answer goes out, so each organisation can list who read its
// patients' pathways.
//
// The tokens and the access log are an engine.Bucket and an
// engine.Journal; POST /v1/pathways opens through the engine's intake
// (engine.Intake.Open), as the inbound channels do. RegisterMetrics,
// OperatorToken (and Operator.Tell at first start), Server.HTTPServer
// and Server.Serve are what stafetd wires; Config.Dashboard serves the
// dashboard (package web) beside the API, and other packages' endpoints
// mount with Server.Handle and HandleStream (alerts.Service.Mount).
//
// Errors are application/problem+json (RFC 9457) and name the field and
// the reason. docs/api.md documents the API; the OpenAPI 3.1 document is
// served at /openapi.json.
package httpapi
