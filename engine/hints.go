package engine

import (
	"sync"

	"github.com/google/uuid"
)

// episodeHints remembers which pathway recent episodes of care are linked
// to, so the next message of a stay needs no lookup in the pathway index.
// A hint is only ever what the index held or what this instance stored in
// it, and an episode's link does not change once made; still, a message
// that fails on a hinted pathway is looked up again in the index before
// it is refused (Intake.appendTranslation).
//
// Bounded by two generations: when the current one is full it becomes
// the old one and the oldest is dropped; a hint found in the old
// generation moves to the current one.
type episodeHints struct {
	mu       sync.Mutex
	max      int
	cur, old map[string]uuid.UUID
}

func newEpisodeHints(max int) *episodeHints {
	return &episodeHints{max: max, cur: make(map[string]uuid.UUID)}
}

func (h *episodeHints) get(episode string) (uuid.UUID, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id, ok := h.cur[episode]; ok {
		return id, true
	}
	id, ok := h.old[episode]
	if ok {
		h.putLocked(episode, id)
	}
	return id, ok
}

func (h *episodeHints) put(episode string, id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.putLocked(episode, id)
}

func (h *episodeHints) putLocked(episode string, id uuid.UUID) {
	if len(h.cur) >= h.max {
		h.old, h.cur = h.cur, make(map[string]uuid.UUID, h.max)
	}
	h.cur[episode] = id
}

func (h *episodeHints) drop(episode string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.cur, episode)
	delete(h.old, episode)
}
