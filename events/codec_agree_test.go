package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzDecodeAgreesWithEncodingJSON guards the choice of a faster JSON
// decoder for Decode: whatever it accepts, encoding/json reads the same way.
func FuzzDecodeAgreesWithEncodingJSON(f *testing.F) {
	files, _ := filepath.Glob("testdata/examples/*.json")
	if len(files) == 0 {
		f.Fatal("no seeds in testdata/examples")
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	c := NewCodec()
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, err := c.Decode(b)
		if err != nil {
			return
		}
		var w wire
		if err := json.Unmarshal(b, &w); err != nil {
			t.Fatalf("the fast decoder accepted what encoding/json rejects: %v", err)
		}
		std := NewPayload(fast.Type)
		if err := json.Unmarshal(w.Data, std); err != nil {
			t.Fatalf("the fast decoder accepted a payload encoding/json rejects: %v", err)
		}
		if !reflect.DeepEqual(fast.Payload, std) || !fast.OccurredAt.Equal(w.OccurredAt) || fast.ID != w.ID || fast.Pathway != w.Pathway || fast.Source.MessageID != sourceID(w.Source) {
			t.Fatalf("decoders disagree:\n fast %#v\n std  %#v", fast.Payload, std)
		}
	})
}

func sourceID(s *wireSource) string {
	if s == nil {
		return ""
	}
	return s.MessageID
}
