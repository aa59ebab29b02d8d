package engine

import (
	"path/filepath"
	"sync"
	"time"
)

// DefaultMinFreeBytes is the free space below which intake stops
// (Config.MinFreeBytes): enough for JetStream to finish what it has
// begun, write its indexes and let an operator act.
const DefaultMinFreeBytes = 256 << 20

// room watches the free space of the embedded server's data directory,
// so that intake refuses cleanly (ErrNoRoom) before the disk is full
// rather than JetStream failing half way through a write. An external
// cluster watches its own disks; room then always has some.
type room struct {
	dir string
	min uint64
	// free reads the file system; diskSpace but for tests.
	free func(dir string) (free, total uint64, ok bool)

	mu        sync.Mutex
	checkedAt time.Time
	low       bool
	freeBytes uint64
}

// roomEvery bounds how often the file system is asked: often enough to
// stop within the writes of a second.
const roomEvery = 250 * time.Millisecond

func newRoom(cfg Config) *room {
	r := &room{min: cfg.MinFreeBytes, free: diskSpace}
	if cfg.URL == "" {
		r.dir, _ = filepath.Abs(cfg.DataDir)
	}
	return r
}

// lowOn reports whether free space is under the minimum, as of at most
// roomEvery ago, and the free bytes seen.
func (r *room) lowOn(now time.Time) (bool, uint64) {
	if r == nil || r.dir == "" {
		return false, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.checkedAt) >= roomEvery {
		r.checkedAt = now
		if free, _, ok := r.free(r.dir); ok {
			r.low, r.freeBytes = free < r.min, free
		}
	}
	return r.low, r.freeBytes
}

// NoRoom reports whether intake is stopped for want of disk space
// (Config.MinFreeBytes), and the free bytes last seen.
func (s *Inbox) NoRoom() (bool, uint64) { return s.room.lowOn(time.Now()) }
