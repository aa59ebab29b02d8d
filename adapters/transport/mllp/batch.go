package mllp

import (
	"bytes"
	"context"
	"log/slog"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
)

// files lets a handler of single HL7 messages take whole frames: a frame
// holding a batch file is split, each message answered by single in
// order, and the frame answered with the batch acknowledgement; a frame
// holding no message is answered AA without going to single. MLLP sends
// one answer per frame, so a batch gets one answer carrying all of them.
func files(single Handler, log *slog.Logger) Handler {
	return func(ctx context.Context, frame []byte, remote string) []byte {
		if isEmptyFrame(frame) {
			log.Info("hl7: empty frame answered AA; nothing stored", "remote", remote, "bytes", len(frame))
			return hl7v2.AckOptions{Text: "empty frame: no message (a byte order mark or white space only); nothing stored"}.Ack(nil, "AA")
		}
		if !hl7v2.IsFile(frame) {
			return single(ctx, frame, remote)
		}
		f, err := hl7v2.SplitFile(frame)
		if err != nil {
			// Not a batch Stafet can split: one message it cannot parse,
			// stored raw and answered AR by single.
			return single(ctx, frame, remote)
		}
		msgs := f.Messages()
		acks := make([][]byte, len(msgs))
		for i, msg := range msgs {
			ack := single(ctx, msg, remote)
			if m, err := hl7v2.Parse(msg); err == nil && !hl7v2.WantsAck(m, hl7v2.AckCode(ack)) {
				continue
			}
			acks[i] = ack
		}
		for _, b := range f.Batches {
			if p := b.Problem(); p != "" {
				log.Warn("hl7: batch count differs", "remote", remote, "problem", p)
			}
		}
		log.Info("hl7: batch answered", "remote", remote, "batches", len(f.Batches), "messages", len(msgs))
		return hl7v2.BatchAck(f, acks, time.Now())
	}
}

// isEmptyFrame reports a frame with no message in it: nothing but byte
// order marks and white space, or an MSH with nothing after its
// delimiters, which is what mllp_send --loose makes of the byte order
// mark at the start of a file.
func isEmptyFrame(frame []byte) bool {
	rest := bytes.TrimSpace(bytes.ReplaceAll(frame, []byte("\xef\xbb\xbf"), nil))
	if len(rest) == 0 {
		return true
	}
	if len(rest) < 8 || string(rest[:3]) != "MSH" {
		return false
	}
	fs := rest[3]
	head := rest[4:]
	if i := bytes.IndexByte(head, fs); i >= 0 {
		if len(bytes.Trim(head[i:], string([]byte{fs}))) > 0 {
			return false
		}
		head = head[:i]
	}
	return len(head) >= 4 && len(head) <= 5
}
