package projections

import (
	"bytes"
	"encoding/binary"
	"maps"

	"github.com/google/uuid"
)

// closedDischarges holds the last discharge of every closed pathway: an
// admission on the pathway that follows one (PathwayOpened.Previous) may
// be its readmission, however late it comes. It is the only detail a
// closed pathway leaves in the projections, so it is kept packed: 28
// bytes a pathway in runs sorted by id, against some 90 in a map.
//
// Pathways closed since the last pack wait in recent; every packAt of
// them become a run, and runs of like size merge (a binary counter), so a
// lookup searches at most log2(n/packAt) runs and a record is copied as
// often. Merging the two largest runs holds both and their merge at once:
// for a moment, twice the packed bytes. Only an admission on a pathway
// that follows another looks a closed one up.
type closedDischarges struct {
	places  []place
	placeOf map[place]uint32
	recent  map[uuid.UUID]discharge
	runs    [][]byte
	live    int // records held, recent included
}

// place is where a discharge counts; the packed record holds its index.
type place struct {
	cluster, muni sym
	band          uint8
}

const (
	recordSize = 16 + 8 + 4
	packAt     = 1024 // recent's map costs some 60 bytes a pathway: keep it small
	// The place word's top bits: the discharge was readmitted; the record
	// is gone (a newer one, or none, stands for its pathway).
	flagReadmitted = 1 << 31
	flagGone       = 1 << 30
)

func newClosedDischarges() *closedDischarges {
	return &closedDischarges{placeOf: make(map[place]uint32), recent: make(map[uuid.UUID]discharge)}
}

// get returns the last discharge of a closed pathway.
func (c *closedDischarges) get(id uuid.UUID) (discharge, bool) {
	if d, ok := c.recent[id]; ok {
		return d, true
	}
	if rec := c.find(id); rec != nil {
		return c.unpack(rec), true
	}
	return discharge{}, false
}

// set replaces the last discharge of a closed pathway, or adds it.
func (c *closedDischarges) set(id uuid.UUID, d discharge) {
	if _, ok := c.recent[id]; ok {
		c.recent[id] = d
		return
	}
	if rec := c.find(id); rec != nil {
		c.pack(rec, id, d)
		return
	}
	c.recent[id] = d
	c.live++
	if len(c.recent) >= packAt {
		c.flush()
	}
}

// remove forgets a pathway's discharge (its history is folded again).
func (c *closedDischarges) remove(id uuid.UUID) {
	if _, ok := c.recent[id]; ok {
		delete(c.recent, id)
		c.live--
		return
	}
	if rec := c.find(id); rec != nil {
		w := binary.LittleEndian.Uint32(rec[24:])
		binary.LittleEndian.PutUint32(rec[24:], w|flagGone)
		c.live--
	}
}

// find returns the live packed record of a pathway, or nil.
func (c *closedDischarges) find(id uuid.UUID) []byte {
	for _, run := range c.runs {
		n := len(run) / recordSize
		lo, hi := 0, n
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if bytes.Compare(run[m*recordSize:m*recordSize+16], id[:]) < 0 {
				lo = m + 1
			} else {
				hi = m
			}
		}
		if lo < n {
			rec := run[lo*recordSize : (lo+1)*recordSize]
			if bytes.Equal(rec[:16], id[:]) && binary.LittleEndian.Uint32(rec[24:])&flagGone == 0 {
				return rec
			}
		}
	}
	return nil
}

func (c *closedDischarges) pack(rec []byte, id uuid.UUID, d discharge) {
	p := place{d.cluster, d.muni, d.band}
	i, ok := c.placeOf[p]
	if !ok {
		i = uint32(len(c.places))
		c.places = append(c.places, p)
		c.placeOf[p] = i
	}
	if d.readmitted {
		i |= flagReadmitted
	}
	copy(rec, id[:])
	binary.LittleEndian.PutUint64(rec[16:], uint64(d.at))
	binary.LittleEndian.PutUint32(rec[24:], i)
}

func (c *closedDischarges) unpack(rec []byte) discharge {
	w := binary.LittleEndian.Uint32(rec[24:])
	p := c.places[w&^(flagReadmitted|flagGone)]
	return discharge{at: stamp(binary.LittleEndian.Uint64(rec[16:])), cluster: p.cluster, muni: p.muni, band: p.band, readmitted: w&flagReadmitted != 0}
}

// flush packs the recent discharges into a run and merges runs of like
// size (a binary counter: a pathway is copied log n times).
func (c *closedDischarges) flush() {
	ids := sortedIDs(c.recent)
	run := make([]byte, len(ids)*recordSize)
	for i, id := range ids {
		c.pack(run[i*recordSize:(i+1)*recordSize], id, c.recent[id])
	}
	clear(c.recent)
	c.runs = append(c.runs, run)
	for k := len(c.runs); k >= 2 && len(c.runs[k-2]) <= len(c.runs[k-1]); k = len(c.runs) {
		c.runs[k-2] = merge(c.runs[k-2], c.runs[k-1])
		// The slot past the end would keep the merged run alive.
		c.runs[k-1] = nil
		c.runs = c.runs[:k-1]
	}
}

// merge joins two sorted runs, leaving out the records that are gone (a
// pathway has at most one live record in all runs).
func merge(a, b []byte) []byte {
	n := 0
	for _, run := range [2][]byte{a, b} {
		for i := 0; i < len(run); i += recordSize {
			if binary.LittleEndian.Uint32(run[i+24:])&flagGone == 0 {
				n++
			}
		}
	}
	out := make([]byte, 0, n*recordSize)
	next := func(run []byte) []byte {
		for len(run) > 0 && binary.LittleEndian.Uint32(run[24:])&flagGone != 0 {
			run = run[recordSize:]
		}
		return run
	}
	a, b = next(a), next(b)
	for len(a) > 0 || len(b) > 0 {
		if len(b) == 0 || (len(a) > 0 && bytes.Compare(a[:16], b[:16]) < 0) {
			out, a = append(out, a[:recordSize]...), next(a[recordSize:])
		} else {
			out, b = append(out, b[:recordSize]...), next(b[recordSize:])
		}
	}
	return out
}

// each calls f with every closed pathway's discharge, and with extra's,
// in the order of their ids: what a snapshot writes. extra holds pathways
// not closed.
func (c *closedDischarges) each(extra map[uuid.UUID]discharge, f func(uuid.UUID, discharge)) {
	all := maps.Clone(c.recent)
	maps.Copy(all, extra)
	var heads [][]byte
	for _, run := range c.runs {
		heads = append(heads, run)
	}
	ids := sortedIDs(all)
	for {
		best := -1
		for i, h := range heads {
			for len(h) > 0 && binary.LittleEndian.Uint32(h[24:])&flagGone != 0 {
				h = h[recordSize:]
			}
			heads[i] = h
			if len(h) > 0 && (best < 0 || bytes.Compare(h[:16], heads[best][:16]) < 0) {
				best = i
			}
		}
		if best < 0 && len(ids) == 0 {
			return
		}
		if best < 0 || (len(ids) > 0 && bytes.Compare(ids[0][:], heads[best][:16]) < 0) {
			f(ids[0], all[ids[0]])
			ids = ids[1:]
			continue
		}
		h := heads[best]
		f(uuid.UUID(h[:16]), c.unpack(h[:recordSize]))
		heads[best] = h[recordSize:]
	}
}

// restored adds a snapshot's closed discharges, read in the order of
// their ids, as one run; it reports false if they were not in order.
func (c *closedDischarges) restored(ids []uuid.UUID, ds []discharge) bool {
	run := make([]byte, len(ids)*recordSize)
	for i, id := range ids {
		if i > 0 && bytes.Compare(ids[i-1][:], id[:]) >= 0 {
			return false
		}
		c.pack(run[i*recordSize:(i+1)*recordSize], id, ds[i])
	}
	if len(run) > 0 {
		c.runs = append(c.runs, run)
	}
	c.live += len(ids)
	return true
}
