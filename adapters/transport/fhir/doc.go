// Package fhir is Stafet's FHIR R4 (4.0.1) facade, served under /fhir on
// the API's listener: handoffs as Task, each organisation's
// responsibility for a patient as EpisodeOfCare, the hospital stay as
// Encounter, and alerts as topic-based Subscriptions (HL7's Subscriptions
// R5 Backport IG), so a municipal or GP system that speaks FHIR can
// integrate with no Stafet-specific code.
//
// The facade holds no state of its own and no rules of its own. Reads
// fold a pathway's history from the log as the JSON API does; searches
// find candidates in the hosted projections; a Task update runs as the
// JSON API's command (httpapi.Server.Act) under the same authentication
// and the same authorisation (httpapi.Server.MayRead, MaySeePatient,
// ReadPathway); subscriptions are webhooks of the alert service
// (adapters/transport/alerts) with their own notification format,
// signed and held to the same egress policy. Every error is an
// OperationOutcome.
//
// Resources are the structs of github.com/samply/golang-fhir-models
// (generated from the R4 specification); the tests validate everything
// the facade emits against the official R4 JSON schema. docs/fhir.md has
// the mapping tables and examples.
package fhir
