package bench

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/stafet/stafet/engine"
)

// restartPhase times a restart as stafetd starts — engine.Open, NewHost,
// Run until Ready — from before Open:
//
//   - restart_ready_s: after a clean stop, with the checkpoint of the head
//     of the log and the template's tail after it to apply (a minute of
//     traffic by default: the host checkpoints every minute);
//   - restart_full_replay_s: the same with no checkpoint to restore;
//   - restart_after_import_s: with the checkpoint, on a log that an
//     import left with the idempotency index behind (no clean stop marked
//     it complete), with the default duplicate window: Open re-indexes
//     the last two windows of log time, here the whole log.
func (b *bencher) restartPhase(ctx context.Context) error {
	dir, t, err := b.copyTemplate(ctx, "restart")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if t.checkpoint == "" {
		return fmt.Errorf("the template holds no checkpoint")
	}
	cfg := b.config(dir, b.o.Durability)
	// The run before the restart, stopped cleanly: its Open reconciles
	// the index and marks it complete.
	s, err := engine.Open(ctx, cfg)
	if err != nil {
		return err
	}
	s.Close()

	var warm restarted
	err = b.profileIf(true, PhaseRestart, func() error {
		warm, err = b.restart(ctx, cfg, t.checkpoint, t)
		return err
	})
	if err != nil {
		return err
	}
	if st := warm.status; st.CheckpointSeq != t.headSeq || st.Applied != t.lastSeq {
		return fmt.Errorf("the host restored sequence %d and applied through %d; want %d and %d", st.CheckpointSeq, st.Applied, t.headSeq, t.lastSeq)
	}
	b.progress("restart: ready in %s with the checkpoint and %d events after it (%s in engine.Open)", warm.ready.Round(time.Millisecond), t.tailEvents, warm.opened.Round(time.Millisecond))
	full, err := b.restart(ctx, cfg, checkpointHost+"-none", t)
	if err != nil {
		return err
	}
	// No checkpoint is restored: none was ever written under this host's
	// name. HostStatus.CheckpointSeq is not the proof, as it names the
	// checkpoint last written too, and a long replay writes some as it
	// goes (one at 8 M of a 10 M-event log).
	b.progress("restart: ready in %s by full replay", full.ready.Round(time.Millisecond))

	imported, err := b.restartAfterImport(ctx)
	if err != nil {
		return err
	}
	r := b.res
	r.RestartReadyS, r.RestartOpenS = round(warm.ready.Seconds(), 3), round(warm.opened.Seconds(), 3)
	r.RestartTailEvents, r.CheckpointBytes = t.tailEvents, warm.status.CheckpointBytes
	r.RestartFullReplayS = round(full.ready.Seconds(), 3)
	r.RestartPeakHeapMiB, r.RestartFullReplayPeakHeapMiB = mib(warm.peak), mib(full.peak)
	r.RestartAfterImportS = round(imported.ready.Seconds(), 3)
	r.RestartAfterImportOpenS = round(imported.opened.Seconds(), 3)
	return nil
}

// restartAfterImport restarts on a fresh copy of the template, which no
// clean stop has marked indexed, with the default duplicate window.
func (b *bencher) restartAfterImport(ctx context.Context) (restarted, error) {
	dir, t, err := b.copyTemplate(ctx, "restart-import")
	if err != nil {
		return restarted{}, err
	}
	defer os.RemoveAll(dir)
	cfg := b.config(dir, b.o.Durability)
	cfg.DuplicateWindow = 0 // the default
	got, err := b.restart(ctx, cfg, t.checkpoint, t)
	if err != nil {
		return got, err
	}
	reread := "the whole log"
	if t.took > 2*got.window {
		reread = fmt.Sprintf("its last %s of log time", 2*got.window)
	}
	b.note("after an import, engine.Open re-read %s (written in %s) to re-index openings", reread, t.took.Round(time.Second))
	b.progress("restart: ready in %s after an import (%s in engine.Open)", got.ready.Round(time.Millisecond), got.opened.Round(time.Millisecond))
	return got, nil
}

// restarted is how one restart went.
type restarted struct {
	// ready is the time from before engine.Open to the host's Ready;
	// opened the part of it Open took.
	ready, opened time.Duration
	// peak is the most heap seen meanwhile (peakHeap).
	peak uint64
	// status is the host's when ready.
	status engine.HostStatus
	// window is the store's duplicate window.
	window time.Duration
}

// restart opens the store in cfg's directory and runs a host named name
// until it is ready.
func (b *bencher) restart(ctx context.Context, cfg engine.Config, name string, t *template) (r restarted, err error) {
	r.peak, err = peakHeap(func() error {
		r, err = b.restartOnce(ctx, cfg, name, t)
		return err
	})
	return r, err
}

func (b *bencher) restartOnce(ctx context.Context, cfg engine.Config, name string, t *template) (restarted, error) {
	start := time.Now()
	s, err := engine.Open(ctx, cfg)
	if err != nil {
		return restarted{}, err
	}
	defer s.Close()
	r := restarted{opened: time.Since(start), window: s.Config().DuplicateWindow}
	var readyAt time.Time
	readyAt, r.status, err = b.startHost(ctx, s, name, t.pathways, false)
	r.ready = readyAt.Sub(start)
	return r, err
}
