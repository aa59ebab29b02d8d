// Package hl7v2 parses HL7 version 2 messages (v2.3 to v2.8 and their
// neighbours) and builds the acknowledgments that answer them.
//
// It reads the message syntax only: segments, fields, repetitions,
// components, subcomponents, escape sequences and character sets. What an
// ADT trigger means for a patient pathway is decided elsewhere, by code that
// reads messages through this package.
//
// # Parsing
//
// Parse takes the delimiters from MSH-1 and MSH-2, including the v2.7
// truncation character, and accepts segments that end in CR (the standard),
// LF or CRLF. It skips a UTF-8 byte order mark, leading white space and blank
// lines, accepts any segment ID including Z-segments, and checks that MSH-9,
// MSH-10 and MSH-12 are present. MSH-18 picks the character set: UTF-8 when
// it is empty or "UNICODE UTF-8", ISO 8859-1 for "8859/1", ISO 8859-15 for
// "8859/15" and ASCII for "ASCII". Single byte text is converted to UTF-8;
// text that is not valid in the declared set is rejected with an error that
// names MSH-18, as is a set the package does not know.
//
// A Message keeps one copy of the input and the position of each segment in
// it. Fields are found, and escape sequences decoded, only when they are
// read, so parsing costs a few allocations whatever the size of the message.
//
// # Reading values
//
// Values are read by path or by walking the structure:
//
//	m.Get("PV1-3.1")                           // point of care
//	m.Get("PID-3(2).1")                        // id of the second patient identifier
//	m.Segment("PV1")                           // first PV1
//	m.Segments("OBX")                          // all OBX segments
//	pid.Field(3).Repetitions()[1].Component(1) // the same as PID-3(2).1
//
// Numbering follows the standard: fields, repetitions, components and
// subcomponents count from 1, and in MSH field 1 is the field separator and
// field 2 the encoding characters, so MSH-9 is the message type. Escape
// sequences \F\ \S\ \T\ \R\ \E\ (and \P\ with a truncation character) become
// the delimiters they stand for, \.br\ a line break and \Xhh..\ the bytes it
// spells in the message's character set; \H\ and \N\ are dropped and
// sequences the package does not know are kept as written. ParseTime reads
// HL7 date and time values.
//
// # Acknowledgments
//
// Ack builds an original-mode ACK (MSA-1 AA, AE or AR; MSA-2 the control id
// of the message acknowledged) with ERR segments in the form the message's
// version expects. AckForUnparsable builds a best-effort AR for input that
// Parse rejects, from whatever can be read of its MSH. AckOptions sets the
// ACK's control id, time and text.
//
// # Patient data
//
// Message, Segment, Field and Component implement slog.LogValuer so that
// logging one never logs patient data, and errors never quote field values.
package hl7v2
