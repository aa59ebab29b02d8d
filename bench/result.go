package bench

import (
	"time"

	"github.com/stafet/stafet/engine"
)

// Result is what a run measured: one JSON object with every figure, the
// build and the machine it ran on, the load it ran under and the
// workload. Rates are medians over the alternated rounds; a ratio is the
// median over rounds of the two sides' rates in the same round.
type Result struct {
	// Command is the invocation that produced the result, when the caller
	// sets it (stafet bench does).
	Command    string            `json:"command"`
	Durability engine.Durability `json:"durability"`
	Events     int               `json:"events"`
	Messages   int               `json:"messages"`
	Pathways   int               `json:"pathways"`
	Seed       uint64            `json:"seed"`
	Rounds     int               `json:"rounds"`
	Build      Build             `json:"build"`
	Machine    Machine           `json:"machine"`
	Started    time.Time         `json:"started"`
	// LoadEnd is /proc/loadavg's 1, 5 and 15 minute load averages when
	// the run ended (Machine.LoadAvg: when it started).
	LoadEnd string     `json:"load_avg_end"`
	Phases  []PhaseRun `json:"phases"`

	// The peer (Options.Peer) the append and replay phases ran beside
	// raw JetStream: "postgres", a PostgreSQL server of the bench's own
	// (PeerVersion) with fsync and synchronous_commit on in safe mode and
	// off in bulk mode, holding a plain events table ("pg-table") and
	// Message DB's schema ("message-db").
	Peer        string `json:"peer,omitempty" peer:"postgres"`
	PeerVersion string `json:"peer_version,omitempty" peer:"postgres"`

	// append: the workload appended by Execute, and the very messages
	// Execute stores published with raw JetStream async publish on the
	// same subjects, each side on a fresh server, under the same cap.
	// AppendEvents is the slice every side is given.
	AppendEvents int     `json:"append_events,omitempty"`
	AppendEPS    float64 `json:"append_eps,omitempty"`
	// RawAppendEPS is bare raw publish (subject and body), acknowledged
	// as Stafet's appends are: in safe mode after a file-system sync that
	// began after the server stored the message, one sync for every
	// message waiting (group sync); in bulk mode when stored.
	RawAppendEPS float64 `json:"raw_append_eps,omitempty"`
	// AppendRatio is Stafet over bare raw publish, like for like.
	AppendRatio float64 `json:"append_ratio,omitempty"`
	// RawAppendCheckedEPS is raw publish with Stafet's Stafet-Prev header
	// and expected-sequence checks, acknowledged the same way.
	RawAppendCheckedEPS float64 `json:"raw_append_checked_eps,omitempty"`
	// AppendCheckedRatio is Stafet over checked raw publish: the cost of
	// the engine's own work, the server's share of the checks left out.
	AppendCheckedRatio float64 `json:"append_checked_ratio,omitempty"`
	// The process's CPU time (user and system, the embedded server
	// included) per event, in microseconds, on each side.
	AppendCPUPerEvent           float64 `json:"append_cpu_us_per_event,omitempty"`
	RawAppendCPUPerEvent        float64 `json:"raw_append_cpu_us_per_event,omitempty"`
	RawAppendCheckedCPUPerEvent float64 `json:"raw_append_checked_cpu_us_per_event,omitempty"`
	// The same messages written to the peer's stores from PeerConns
	// connections, each in a transaction of its own with its
	// expected-version check: an insert into the plain table (stream id
	// and version unique), Message DB's write_message; the ratios are
	// Stafet's over theirs.
	PeerConns              int     `json:"peer_conns,omitempty" peer:"postgres"`
	PGTableAppendEPS       float64 `json:"pg_table_append_eps,omitempty" peer:"postgres"`
	AppendRatioVsPGTable   float64 `json:"append_ratio_vs_pg_table,omitempty" peer:"postgres"`
	MessageDBAppendEPS     float64 `json:"message_db_append_eps,omitempty" peer:"postgres"`
	AppendRatioVsMessageDB float64 `json:"append_ratio_vs_message_db,omitempty" peer:"postgres"`
	// Safe mode only: both on a server that fsyncs every message itself
	// (JetStream's sync_always; engine.Config.FsyncEach).
	AppendFsyncEachEPS     float64 `json:"append_fsync_each_eps,omitempty" mode:"safe"`
	RawAppendSyncAlwaysEPS float64 `json:"raw_append_sync_always_eps,omitempty" mode:"safe"`
	// AppendFsyncEachRatio is Stafet over raw publish with one fsync per
	// message on both sides: like for like.
	AppendFsyncEachRatio float64 `json:"append_fsync_each_ratio,omitempty" mode:"safe"`
	// AppendRatioVsSyncAlways is Stafet with group commit over raw
	// publish with sync_always: what grouping the fsyncs buys, not the
	// engine's cost (the append_ratio of builds before the like-for-like
	// baselines).
	AppendRatioVsSyncAlways float64 `json:"append_ratio_vs_sync_always,omitempty" mode:"safe"`

	// replay: the whole log into every production projection, and read
	// by an ordered consumer that only counts; alternated rounds.
	ReplayEPS          float64 `json:"replay_eps,omitempty"`
	RawReadEPS         float64 `json:"raw_read_eps,omitempty"`
	ReplayRatio        float64 `json:"replay_ratio,omitempty"`
	ReplayCPUPerEvent  float64 `json:"replay_cpu_us_per_event,omitempty"`
	RawReadCPUPerEvent float64 `json:"raw_read_cpu_us_per_event,omitempty"`
	// The same, on the workload as a release before the chain stored it
	// (no Stafet-Chain header, nothing to check), in the same rounds;
	// ChainReplayRatio is ReplayRatio over UnchainedReplayRatio: what is
	// left of the replay ratio with the chain (issue 13: ≥ 0.9). Up to
	// 2 000 000 events.
	UnchainedReplayEPS         float64 `json:"unchained_replay_eps,omitempty"`
	UnchainedRawReadEPS        float64 `json:"unchained_raw_read_eps,omitempty"`
	UnchainedReplayRatio       float64 `json:"unchained_replay_ratio,omitempty"`
	UnchainedReplayCPUPerEvent float64 `json:"unchained_replay_cpu_us_per_event,omitempty"`
	ChainReplayRatio           float64 `json:"chain_replay_ratio,omitempty"`
	// The peer's replays: the same log read from its stores (SELECT …
	// ORDER BY position; get_category_messages in batches of 10 000)
	// through the same decoder into the same projections; the ratios are
	// Stafet's over theirs.
	PGTableReplayEPS       float64 `json:"pg_table_replay_eps,omitempty" peer:"postgres"`
	ReplayRatioVsPGTable   float64 `json:"replay_ratio_vs_pg_table,omitempty" peer:"postgres"`
	MessageDBReplayEPS     float64 `json:"message_db_replay_eps,omitempty" peer:"postgres"`
	ReplayRatioVsMessageDB float64 `json:"replay_ratio_vs_message_db,omitempty" peer:"postgres"`

	// restart: engine.Open + NewHost + Run until Ready, from before Open.
	// RestartReadyS: after a clean stop, restoring a checkpoint with
	// RestartTailEvents events after it; RestartOpenS the part in Open.
	RestartReadyS     float64 `json:"restart_ready_s,omitempty"`
	RestartOpenS      float64 `json:"restart_open_s,omitempty"`
	RestartTailEvents int     `json:"restart_tail_events,omitempty"`
	// CheckpointBytes is the size of the projections' checkpoint.
	CheckpointBytes int `json:"checkpoint_bytes,omitempty"`
	// RestartPeakHeapMiB and RestartFullReplayPeakHeapMiB are the most
	// heap (objects live and not yet swept, the embedded server's
	// included) seen during the restart with the checkpoint and the one
	// without; ReplayPeakHeapMiB the most during the replay phase's
	// Stafet side.
	RestartPeakHeapMiB           float64 `json:"restart_peak_heap_mib,omitempty"`
	RestartFullReplayPeakHeapMiB float64 `json:"restart_full_replay_peak_heap_mib,omitempty"`
	ReplayPeakHeapMiB            float64 `json:"replay_peak_heap_mib,omitempty"`
	// RestartFullReplayS: no checkpoint to restore.
	RestartFullReplayS float64 `json:"restart_full_replay_s,omitempty"`
	// RestartAfterImportS: with the checkpoint, on a log an import left
	// with the idempotency index behind (no clean stop), with the default
	// duplicate window; RestartAfterImportOpenS the part in Open, which
	// re-indexes the last two windows of log time.
	RestartAfterImportS     float64 `json:"restart_after_import_s,omitempty"`
	RestartAfterImportOpenS float64 `json:"restart_after_import_open_s,omitempty"`

	// memory: heap after replay into a Set, split between open and closed
	// pathways. A closed pathway without a discharge leaves nothing: a
	// small log's few closed pathways may all be such (zero:"ok").
	BytesPerOpenPathway   float64 `json:"bytes_per_open_pathway,omitempty"`
	BytesPerClosedPathway float64 `json:"bytes_per_closed_pathway" zero:"ok"`
	OpenPathways          int     `json:"open_pathways,omitempty"`
	ClosedPathways        int     `json:"closed_pathways,omitempty"`

	// alert: event recorded → alert at a plain NATS subscriber.
	AlertP50Ms    float64 `json:"alert_p50_ms,omitempty"`
	AlertP99Ms    float64 `json:"alert_p99_ms,omitempty"`
	AlertMaxMs    float64 `json:"alert_max_ms,omitempty"`
	Alerts        int     `json:"alerts,omitempty"`
	AlertEventsPS float64 `json:"alert_events_per_s,omitempty"`

	// mllp: HL7 v2 messages over MLLP to the real handler.
	MLLPMps        float64 `json:"mllp_mps,omitempty"`
	MLLPMessages   int     `json:"mllp_messages,omitempty"`
	MLLPAccepted   int     `json:"mllp_aa,omitempty"`
	MLLPConns      int     `json:"mllp_conns,omitempty"`
	MLLPEventsPerS float64 `json:"mllp_events_per_s,omitempty"`
	// MLLPNATSPerMessage is how many messages (publishes and requests)
	// the store sent its server per HL7 message: the ingest's round
	// trips.
	MLLPNATSPerMessage float64 `json:"mllp_nats_msgs_per_message,omitempty"`
	// MLLPCommitsPerMessage is how many times the ingest waited for a
	// group commit per HL7 message (safe mode; each wait is an fsync's
	// latency, and one covers everything a message wrote).
	MLLPCommitsPerMessage float64 `json:"mllp_commit_waits_per_message,omitempty" mode:"safe"`

	// Cluster is the cluster phase's figures: R1 beside R3.
	Cluster *ClusterResult `json:"cluster,omitempty"`
}

// PhaseRun says how one phase ran.
type PhaseRun struct {
	Name       string            `json:"name"`
	Durability engine.Durability `json:"durability"`
	Seconds    float64           `json:"seconds"`
	// LoadStart and LoadEnd are the 1-minute load average when the phase
	// started and ended: other work on the machine.
	LoadStart float64  `json:"load_start"`
	LoadEnd   float64  `json:"load_end"`
	Notes     []string `json:"notes,omitempty"`
	// Rounds are the alternated phases' measures, one per side a round,
	// in the order they ran.
	Rounds []RoundRun `json:"rounds,omitempty"`
}

// RoundRun is what one side did in one round.
type RoundRun struct {
	Round      int     `json:"round"`
	Side       string  `json:"side"`
	Events     int     `json:"events"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_s"`
	// Capped: Options.MaxWrite stopped the side before its work was done.
	Capped bool `json:"capped,omitempty"`
	// Load is the 1-minute load average when the side finished.
	Load float64 `json:"load"`
}
