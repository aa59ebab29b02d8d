package projections

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Snapshots are a compact binary form: a 4-byte magic naming the
// projection, a version byte, a string table and the body. The body names
// strings by their index in the table, assigned in order of first use
// while the body is written in a fixed order (pathways sorted by id,
// aggregates by key), so the same state always gives the same bytes,
// however the in-memory symbols were numbered.

// Version 2: a Set holds a Board; 3: the Board splits by age band; 4:
// Owner keeps only the count of closed pathways. Restore upcasts from
// oldestSnapshot (3 differs from 4 only in Owner's closed pathways, listed
// then, counted now); an older checkpoint is not read, and the host
// replays the log instead (snapshots can always be rebuilt from it).
const (
	snapshotVersion = 4
	oldestSnapshot  = 3
)

// ErrSnapshot matches every error restoring a snapshot.
var ErrSnapshot = errors.New("projections: bad snapshot")

type writer struct {
	body  []byte
	src   *symbols
	canon map[sym]uint64
	table []string
}

func newWriter(src *symbols) *writer {
	return &writer{src: src, canon: make(map[sym]uint64)}
}

func (w *writer) uvarint(v uint64) { w.body = binary.AppendUvarint(w.body, v) }
func (w *writer) varint(v int64)   { w.body = binary.AppendVarint(w.body, v) }
func (w *writer) byte(v uint8)     { w.body = append(w.body, v) }
func (w *writer) stamp(s stamp)    { w.varint(int64(s)) }
func (w *writer) uuid(id uuid.UUID) {
	w.body = append(w.body, id[:]...)
}

func (w *writer) bool(v bool) {
	if v {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

func (w *writer) string(s string) {
	w.uvarint(uint64(len(s)))
	w.body = append(w.body, s...)
}

// sym writes an interned string as its index in the snapshot's own table.
func (w *writer) sym(s sym) {
	if s == 0 {
		w.uvarint(0)
		return
	}
	c, ok := w.canon[s]
	if !ok {
		w.table = append(w.table, w.src.str(s))
		c = uint64(len(w.table))
		w.canon[s] = c
	}
	w.uvarint(c)
}

// bytes returns magic, version, table and body.
func (w *writer) bytes(magic string) []byte {
	out := make([]byte, 0, len(w.body)+16*len(w.table)+16)
	out = append(out, magic...)
	out = append(out, snapshotVersion)
	out = binary.AppendUvarint(out, uint64(len(w.table)))
	for _, s := range w.table {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, w.body...)
}

// header checks a snapshot's magic and version and returns the rest and
// the version.
func header(b []byte, magic string) ([]byte, byte, error) {
	if len(b) < len(magic)+1 || string(b[:len(magic)]) != magic {
		return nil, 0, fmt.Errorf("%w: not a %s snapshot", ErrSnapshot, magic)
	}
	v := b[len(magic)]
	if v < oldestSnapshot || v > snapshotVersion {
		return nil, 0, fmt.Errorf("%w: %s version %d, this build reads %d to %d", ErrSnapshot, magic, v, oldestSnapshot, snapshotVersion)
	}
	return b[len(magic)+1:], v, nil
}

type reader struct {
	b       []byte
	version byte // the snapshot's: a part that changed upcasts
	dst     *symbols
	table   []sym
	err     error
}

// newReader checks the header and reads the string table, interning it
// into dst.
func newReader(b []byte, magic string, dst *symbols) (*reader, error) {
	body, v, err := header(b, magic)
	if err != nil {
		return nil, err
	}
	r := &reader{b: body, version: v, dst: dst}
	n := r.count()
	r.table = make([]sym, 0, n)
	for range n {
		r.table = append(r.table, dst.of(r.string()))
	}
	return r, r.err
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", ErrSnapshot, what)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("truncated")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length and checks it against what is left, so a corrupt
// snapshot cannot make Restore allocate without bound: every counted item
// takes at least one byte.
func (r *reader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("length beyond the end")
		return 0
	}
	return int(n)
}

func (r *reader) byte() uint8 {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) bool() bool   { return r.byte() != 0 }
func (r *reader) stamp() stamp { return stamp(r.varint()) }
func (r *reader) int32() int32 { return int32(r.varint()) }

func (r *reader) uuid() uuid.UUID {
	var id uuid.UUID
	if r.err != nil {
		return id
	}
	if len(r.b) < 16 {
		r.fail("truncated")
		return id
	}
	copy(id[:], r.b[:16])
	r.b = r.b[16:]
	return id
}

func (r *reader) string() string {
	n := r.count()
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) sym() sym {
	c := r.uvarint()
	if c == 0 || r.err != nil {
		return 0
	}
	if c > uint64(len(r.table)) {
		r.fail("string index out of range")
		return 0
	}
	return r.table[c-1]
}

// done reports the first error, or trailing bytes.
func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail(fmt.Sprintf("%d bytes after the end", len(r.b)))
	}
	return r.err
}
