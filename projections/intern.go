package projections

import (
	"time"
	"unsafe"

	"github.com/stafet/stafet/events"
)

// sym is an interned string: an organisation id, a cluster, a
// responsibility. Pathways repeat a few thousand distinct values, so a
// 4-byte index keeps the per-pathway state small. 0 is "".
type sym uint32

// symbols interns strings. It only grows: a value seen once (even in an
// event a Correction later annulled) keeps its index. Snapshots write the
// strings themselves, so the indices never leave the process.
type symbols struct {
	names []string
	index map[string]sym
	// cache holds the last string seen in each slot, in front of index
	// for the projections that fold the whole log. The slot is chosen by
	// the address of the string's bytes, not a hash of them: the
	// events.Decoder hands out the same string for a repeated value, so
	// its address finds it and compares equal by pointer, without reading
	// it. A string at another address costs a miss, never a wrong answer:
	// the slot holds the string itself. nil: no cache (a single
	// pathway's view).
	cache []symSlot
}

type symSlot struct {
	name string
	id   sym
}

const (
	symCacheBits  = 12
	symCacheSlots = 1 << symCacheBits
)

func newSymbols() *symbols {
	return &symbols{names: []string{""}, index: map[string]sym{"": 0}}
}

// cached adds the cache to s.
func (s *symbols) cached() *symbols {
	s.cache = make([]symSlot, symCacheSlots)
	return s
}

func (s *symbols) of(v string) sym {
	if s.cache == nil {
		return s.intern(v)
	}
	slot := &s.cache[slotOf(v)]
	if slot.name != v {
		*slot = symSlot{v, s.intern(v)}
	}
	return slot.id
}

// slotOf picks v's cache slot by the address of its bytes (Fibonacci
// hashing: the top bits of the address times 2⁶⁴/φ).
func slotOf(v string) uint64 {
	return uint64(uintptr(unsafe.Pointer(unsafe.StringData(v)))) * 0x9e3779b97f4a7c15 >> (64 - symCacheBits)
}

func (s *symbols) intern(v string) sym {
	if id, ok := s.index[v]; ok {
		return id
	}
	id := sym(len(s.names))
	s.names = append(s.names, v)
	s.index[v] = id
	return id
}

// lookup returns the index of v without interning it.
func (s *symbols) lookup(v string) (sym, bool) {
	id, ok := s.index[v]
	return id, ok
}

func (s *symbols) org(id events.OrgID) sym { return s.of(string(id)) }

func (s *symbols) str(id sym) string { return s.names[id] }

func (s *symbols) orgID(id sym) events.OrgID { return events.OrgID(s.names[id]) }

// stamp is an instant as Unix nanoseconds; 0 is "none". It is 8 bytes
// against time.Time's 24.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}
