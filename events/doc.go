// Package events is Stafet's vocabulary and the rules of a pathway.
//
// An Envelope carries one domain event of a cross-sector patient pathway
// (PathwayOpened, PatientAdmitted, HandoffOffered, …; docs/events.md) with
// its valid time (OccurredAt), record time (RecordedAt), source and actor.
// The Codec stores envelopes as versioned JSON and upcasts old schema
// versions on read, so a stored event type never changes meaning.
//
// Decide checks a Command against a pathway's state (built with Fold) and
// returns the events to append or an error naming the field or the rule
// that was broken. Both are pure: no clock, no I/O.
//
// Patients appear only as a keyed pseudonym (PatientRef); the CPR number
// and name, where kept, are sealed with the patient's own key
// (SealedIdentity), so deleting the key shreds them. The Directory knows
// regions, municipalities and health clusters from embedded reference
// data, plus the organisations an operator configures.
//
// Package events imports nothing else of Stafet's.
package events
