package events

import (
	"encoding/json"
	"fmt"
)

// The reference encoder: Encode and EncodeCommit as they were when
// encoding/json wrote every stored message. The stored form is what this
// writes, for ever; encode.go must write the same bytes
// (TestEncodeMatchesReference, FuzzEncodeMatchesReference).

// wireOut is wire as the reference writes it: its Data shadows wire.Data,
// so the payload is marshalled in the same pass as the envelope, into the
// same bytes.
type wireOut struct {
	wire
	Data Payload `json:"data"`
}

// EncodeReference is Encode through encoding/json.
func (c *Codec) EncodeReference(e *Envelope) ([]byte, error) {
	if e.Payload == nil {
		return nil, &ValidationError{Field: "data", Reason: "missing payload"}
	}
	t := e.Payload.Type()
	w := wireOut{wire: wire{
		ID: e.ID, Pathway: e.Pathway, Type: t, Schema: c.current[t],
		OccurredAt: e.OccurredAt.UTC(), RecordedAt: e.RecordedAt.UTC(),
		Correlation: e.Correlation, Causation: e.Causation,
	}, Data: e.Payload}
	if e.Source != (Source{}) {
		w.Source = &wireSource{e.Source.System, e.Source.Org, e.Source.MessageID}
	}
	if e.Actor != (Actor{}) {
		w.Actor = &wireActor{e.Actor.Org, e.Actor.Role}
	}
	b, err := json.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("events: encode %s: %w", t, err)
	}
	return b, nil
}

// EncodeCommitReference is EncodeCommit through encoding/json.
func (c *Codec) EncodeCommitReference(evs []Envelope) ([]byte, error) {
	if len(evs) == 1 {
		return c.EncodeReference(&evs[0])
	}
	out := []byte{'['}
	for i := range evs {
		b, err := c.EncodeReference(&evs[i])
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, b...)
	}
	return append(out, ']'), nil
}
