package engine

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// appendRawJSON must read back, through json.Unmarshal, exactly as what
// json.Marshal writes reads back: raw messages stored before it was
// written are read by the same openRaw.
func TestAppendRawJSON(t *testing.T) {
	at := time.Date(2026, 11, 2, 8, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		m    RawMessage
	}{
		{"plain", RawMessage{System: "hl7v2", Sender: "EPJ^AUH", ControlID: "MSG1", ContentType: "application/hl7-v2", ReceivedAt: at, Body: []byte("MSH|^~\\&|EPJ\r")}},
		{"empty optionals", RawMessage{System: "api", Sender: "x", ControlID: "y", ReceivedAt: at}},
		{"escapes", RawMessage{System: "hl7v2", Sender: "a\"b\\c\x00\x1f<>&\u2028", ControlID: "\t\r\n", ReceivedAt: at.In(time.FixedZone("", 3600)), Replaces: 42}},
		{"not UTF-8", RawMessage{System: "hl7v2", Sender: "\xff\xfeÆ", ControlID: "\xc3", ReceivedAt: at, Body: []byte{0, 0xff, 0x1c}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRawJSON(t, tt.m)
		})
	}
}

func FuzzAppendRawJSON(f *testing.F) {
	f.Add("hl7v2", "EPJ^AUH", "MSG1", "application/hl7-v2", []byte("MSH|"), uint64(0), int64(0))
	f.Add("x", "\"\\\x00", "\xff", "", []byte{}, uint64(7), int64(1<<40))
	f.Fuzz(func(t *testing.T, system, sender, controlID, contentType string, body []byte, replaces uint64, nanos int64) {
		checkRawJSON(t, RawMessage{System: system, Sender: sender, ControlID: controlID, ContentType: contentType,
			Body: body, Replaces: replaces, ReceivedAt: time.Unix(0, nanos).UTC()})
	})
}

func checkRawJSON(t *testing.T, m RawMessage) {
	t.Helper()
	std, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var want, got RawMessage
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	ours := appendRawJSON(nil, &m)
	if err := json.Unmarshal(ours, &got); err != nil {
		t.Fatalf("%s: %v", ours, err)
	}
	if !want.ReceivedAt.Equal(got.ReceivedAt) {
		t.Errorf("received_at: got %v; want %v", got.ReceivedAt, want.ReceivedAt)
	}
	want.ReceivedAt, got.ReceivedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v (from %s)", got, want, ours)
	}
}
