package hl7v2

import (
	"fmt"
	"strconv"
)

// Path names a value in a message, written as in "PID-3(2).1.2":
//
//	SEG[(occurrence)]-field[(repetition)][.component[.subcomponent]]
//
// Numbers count from 1; a '.' may stand for the '-'. Without a repetition, a
// path that stops at the field means the whole field with all its
// repetitions, and a path with a component means the first repetition.
type Path struct {
	Segment      string // segment ID, such as "PID"
	Occurrence   int    // which segment with that ID; 0 means the first
	Field        int    // from 1
	Repetition   int    // 0: see above
	Component    int    // 0: the whole repetition
	SubComponent int    // 0: the whole component
}

// ParsePath parses a path such as "PV1-3.1" or "OBX(2)-5(1).2".
func ParsePath(s string) (Path, error) {
	var p Path
	bad := func(why string) (Path, error) {
		return Path{}, fmt.Errorf("hl7v2: invalid path %q: %s", s, why)
	}
	if len(s) < 3 || !isSegmentID(s[:3], 0) {
		return bad("want a segment ID such as PID")
	}
	p.Segment, s = s[:3], s[3:]
	var ok bool
	if p.Occurrence, s, ok = index(s); !ok {
		return bad("bad segment occurrence")
	}
	if s == "" || (s[0] != '-' && s[0] != '.') {
		return bad("want '-' and a field number after the segment")
	}
	if p.Field, s, ok = number(s[1:]); !ok {
		return bad("bad field number")
	}
	if p.Repetition, s, ok = index(s); !ok {
		return bad("bad repetition")
	}
	for _, n := range []*int{&p.Component, &p.SubComponent} {
		if s == "" {
			break
		}
		if s[0] != '.' {
			return bad("want '.' before a component")
		}
		if *n, s, ok = number(s[1:]); !ok {
			return bad("bad component number")
		}
	}
	if s != "" {
		return bad("trailing text")
	}
	return p, nil
}

// number reads a positive number at the start of s.
func number(s string) (int, string, bool) {
	i := 0
	for i < len(s) && i < 6 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil || n < 1 {
		return 0, s, false
	}
	return n, s[i:], true
}

// index reads an optional "(n)" at the start of s; 0 when there is none.
func index(s string) (int, string, bool) {
	if s == "" || s[0] != '(' {
		return 0, s, true
	}
	n, rest, ok := number(s[1:])
	if !ok || rest == "" || rest[0] != ')' {
		return 0, s, false
	}
	return n, rest[1:], true
}

// String formats p as ParsePath reads it.
func (p Path) String() string {
	b := []byte(p.Segment)
	if p.Occurrence > 0 {
		b = fmt.Appendf(b, "(%d)", p.Occurrence)
	}
	b = fmt.Appendf(b, "-%d", p.Field)
	if p.Repetition > 0 {
		b = fmt.Appendf(b, "(%d)", p.Repetition)
	}
	if p.Component > 0 {
		b = fmt.Appendf(b, ".%d", p.Component)
		if p.SubComponent > 0 {
			b = fmt.Appendf(b, ".%d", p.SubComponent)
		}
	}
	return string(b)
}

// Get returns the decoded value at path, such as "PV1-3.1" or "PID-3(2).1"
// (see Path). It returns "" when the message has no such value and when path
// is malformed; programs that build paths at run time should use ParsePath
// and Value to tell the two apart.
func (m *Message) Get(path string) string {
	p, err := ParsePath(path)
	if err != nil {
		return ""
	}
	return m.Value(p)
}

// Value returns the decoded value at p, or "" when the message has none.
func (m *Message) Value(p Path) string {
	s, ok := m.nth(p.Segment, max(p.Occurrence, 1))
	if !ok {
		return ""
	}
	f := s.Field(p.Field)
	if p.Repetition == 0 && p.Component == 0 {
		return f.String()
	}
	f = f.Repetition(max(p.Repetition, 1))
	switch {
	case p.Component == 0:
		return f.String()
	case p.SubComponent == 0:
		return f.Component(p.Component).String()
	}
	return f.SubComponent(p.Component, p.SubComponent)
}
