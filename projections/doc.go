// Package projections answers Stafet's two questions from the event log:
// who is responsible for this patient now, and where has the baton been
// dropped?
//
// Every projection is a pure, deterministic fold: it reads events, never a
// clock, the network or the disk, and the same events in the same order
// give the same state and the same snapshot bytes. Where an answer depends
// on the time (is this offer overdue yet?), "now" is an argument of the
// query.
//
//   - Owner: per open pathway, who holds each responsibility since when,
//     and the chain of custody (every offer with its offered, answered and
//     ended times).
//   - Board: the monthly figures, and the last discharge of each pathway
//     for readmissions (packed once the pathway closes).
//   - Gaps: the gaps of every open pathway (no-owner, offer-overdue,
//     offer-rejected, discharged-before-accept, document-overdue,
//     ready-but-waiting), the deadlines still running (Due), and the
//     aggregates behind the figures.
//   - Worklists and Figures: read-only views of Gaps per organisation, per
//     cluster and per municipality.
//   - Set bundles them, so a host replays into one value.
//
// A host (package engine) feeds events in log order through Apply, and may
// check for the optional abilities Snapshot/Restore (checkpoints) and
// Refold: after applying a Correction it calls Refold with the pathway's
// history up to and including it, and the projection rebuilds that
// pathway as if the annulled events never happened. Apply, Refold,
// Snapshot and Restore must not run concurrently with each other or with
// queries; the query methods do not modify state, so a host may run them
// concurrently with each other under a read lock.
//
// Deadlines and severities come from Rules (LoadRules reads the operator's
// file; rules.default.json holds the defaults and their Danish sources).
// Policies turn facts into the handoff offers they imply, with
// deterministic ids, for the engine to execute. AsOfRecorded and AsOfValid
// cut a history as Stafet knew it at a time and as it is now known to have
// been at a time; PathwayView folds one.
//
// Memory follows the open pathways: a closed pathway leaves the
// projections but for its share of the aggregates and its packed last
// discharge, and its detail is folded from its events on demand (the host
// reads them from the log). docs/projections.md explains each
// gap kind with a timeline.
//
// Package projections imports only package events of Stafet's.
package projections
