package hl7v2

import (
	"strings"
	"unicode/utf8"
)

// charset is a character set Parse can decode (HL7 table 0211, MSH-18).
type charset uint8

const (
	csUTF8   charset = iota // "UNICODE UTF-8"; also assumed when MSH-18 is empty
	csLatin1                // "8859/1"
	csLatin9                // "8859/15"
	csASCII                 // "ASCII"
)

// lookupCharset maps an MSH-18 value to a charset. Besides the HL7 codes it
// accepts the common spellings senders use for the same sets.
func lookupCharset(name string) (charset, bool) {
	var up [16]byte
	if len(name) > len(up) {
		return 0, false
	}
	for i, c := range []byte(name) {
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	switch string(up[:len(name)]) {
	case "", "UNICODE UTF-8", "UTF-8", "UTF8":
		return csUTF8, true
	case "8859/1", "ISO-8859-1", "ISO8859-1", "ISO_8859-1", "ISO IR100", "ISO_IR 100", "LATIN1", "LATIN-1":
		return csLatin1, true
	case "8859/15", "ISO-8859-15", "ISO8859-15", "ISO_8859-15", "LATIN9", "LATIN-9":
		return csLatin9, true
	case "ASCII", "US-ASCII":
		return csASCII, true
	}
	return 0, false
}

// latin9 lists where ISO 8859-15 differs from ISO 8859-1.
var latin9 = [...]struct {
	b byte
	r rune
}{
	{0xa4, '€'}, {0xa6, 'Š'}, {0xa8, 'š'}, {0xb4, 'Ž'},
	{0xb8, 'ž'}, {0xbc, 'Œ'}, {0xbd, 'œ'}, {0xbe, 'Ÿ'},
}

// singleByteRune returns the rune byte b stands for in cs, one of the single
// byte sets. ASCII input never reaches here with b >= 0x80 except through
// \X..\ escapes, which are read as ISO 8859-1.
func singleByteRune(b byte, cs charset) rune {
	if cs == csLatin9 && b >= 0xa4 && b <= 0xbe {
		for _, x := range latin9 {
			if x.b == b {
				return x.r
			}
		}
	}
	return rune(b)
}

// singleByteToUTF8 converts text in a single byte character set to UTF-8.
func singleByteToUTF8(in []byte, cs charset) string {
	var b strings.Builder
	b.Grow(len(in) + len(in)/8)
	writeSingleByte(&b, in, cs)
	return b.String()
}

func writeSingleByte(b *strings.Builder, in []byte, cs charset) {
	start := 0
	for i, c := range in {
		if c < utf8.RuneSelf {
			continue
		}
		b.Write(in[start:i])
		b.WriteRune(singleByteRune(c, cs))
		start = i + 1
	}
	b.Write(in[start:])
}

// encodeOutput converts UTF-8 text to cs for sending. Characters cs cannot
// represent become '?'.
func encodeOutput(in []byte, cs charset) []byte {
	if cs == csUTF8 {
		return in
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		r, n := utf8.DecodeRune(in[i:])
		i += n
		out = append(out, singleByte(r, cs))
	}
	return out
}

func singleByte(r rune, cs charset) byte {
	switch {
	case r < utf8.RuneSelf:
		return byte(r)
	case cs == csASCII:
		return '?'
	case cs == csLatin9:
		for _, x := range latin9 {
			if x.r == r {
				return x.b
			}
			if rune(x.b) == r {
				return '?' // replaced in 8859-15
			}
		}
	}
	if r <= 0xff {
		return byte(r)
	}
	return '?'
}
