package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestChannels checks the one thing Ingest adds to the engine's intake:
// each channel's messages reach that channel's translator, and a message
// of a channel without one is stored and dead-lettered, not lost.
func TestChannels(t *testing.T) {
	s, err := engine.Open(context.Background(), engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir, err := events.NewDirectory(nil)
	if err != nil {
		t.Fatal(err)
	}
	hospital := events.SOR("6620000000001")
	var read []string
	translator := func(name string) ingest.Translator {
		return func(body []byte) (*events.Translation, error) {
			read = append(read, name+":"+string(body))
			return &events.Translation{
				Patient: events.Identity{CPR: "0102030405"}, Hospital: hospital,
				Source: events.Source{System: name, Org: hospital}, Actor: events.Actor{Org: hospital}, OccurredAt: time.Now(),
				Payloads: []events.Payload{&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}},
			}, nil
		}
	}
	in := ingest.New(s, dir, map[string]ingest.Translator{"a": translator("a"), "b": translator("b")}, nil)
	ctx := context.Background()
	tests := []struct {
		name, system, code string
	}{
		{"channel a", "a", ""},
		{"channel b", "b", ""},
		{"a channel without a translator", "c", "unknown-channel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read = nil
			out, err := in.Receive(ctx, engine.RawMessage{System: tt.system, Sender: "x", ControlID: tt.name, Body: []byte("m")})
			var de *engine.DeadLetterError
			switch {
			case tt.code == "" && (err != nil || len(read) != 1 || read[0] != tt.system+":m"):
				t.Errorf("got %v, translators read %v; want %s's translator to read it", err, read, tt.system)
			case tt.code != "" && (!errors.As(err, &de) || de.DeadLetter.Code != tt.code || len(read) != 0):
				t.Errorf("got %v, translators read %v; want a dead letter %s", err, read, tt.code)
			}
			if _, err := s.Inbox().Message(ctx, out.RawSeq); err != nil {
				t.Errorf("raw message %d: %v; want it stored", out.RawSeq, err)
			}
		})
	}
}
