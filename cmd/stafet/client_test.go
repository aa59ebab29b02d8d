package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// A listing item the CLI cannot read stops the command with an error
// naming the item; it does not become a row of zeros.
func TestDecodeItemsRefusesWhatItCannotRead(t *testing.T) {
	items := []json.RawMessage{
		json.RawMessage(`{"raw_seq": 7, "code": "parse"}`),
		json.RawMessage(`{"raw_seq": "seven"}`),
	}
	if _, err := decodeItems[deadLetterJSON](items); err == nil || !strings.Contains(err.Error(), "item 2") {
		t.Fatalf("err = %v; want one naming item 2", err)
	}
	ds, err := decodeItems[deadLetterJSON](items[:1])
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].RawSeq != 7 || ds[0].Code != "parse" {
		t.Fatalf("decoded %+v; want raw seq 7, code parse", ds)
	}
}
