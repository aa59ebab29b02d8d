// Package pki is a small local certificate authority for MLLP: it issues
// the server certificate stafetd's MLLP (and HTTPS) listener presents and
// the client certificates HL7 senders present, so a trial, a test or the
// simulator runs with mutual TLS as production does. Production uses the
// region's own CA; this one is for trials and tests (docs/operations.md).
// ServerTLS and MutualTLS read any CA's files into a listener's TLS.
package pki
