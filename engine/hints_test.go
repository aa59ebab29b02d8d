package engine

import (
	"testing"

	"github.com/google/uuid"
)

func TestEpisodeHints(t *testing.T) {
	h := newEpisodeHints(2)
	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	h.put("a", ids[0])
	h.put("b", ids[1])
	h.put("c", ids[2]) // a and b become the old generation
	if id, ok := h.get("a"); !ok || id != ids[0] {
		t.Errorf("a from the old generation: got %s, %v; want %s", id, ok, ids[0])
	}
	h.put("d", ids[3]) // c and a (moved up by the get) become old; b is gone
	tests := []struct {
		episode string
		want    uuid.UUID
		ok      bool
	}{
		{"a", ids[0], true},
		{"b", uuid.Nil, false},
		{"c", ids[2], true},
		{"d", ids[3], true},
	}
	for _, tt := range tests {
		t.Run(tt.episode, func(t *testing.T) {
			if id, ok := h.get(tt.episode); ok != tt.ok || id != tt.want {
				t.Errorf("got %s, %v; want %s, %v", id, ok, tt.want, tt.ok)
			}
		})
	}
	h.drop("d")
	if _, ok := h.get("d"); ok {
		t.Error("dropped hint still there")
	}
}
