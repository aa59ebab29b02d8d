package medcom

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse feeds Parse arbitrary input. Parse must not panic and must fail
// only with its typed errors; a message it accepts must yield a notification
// code or an *Error, and, unless it is itself an acknowledgement, an
// acknowledgement that Parse reads back as answering it (the round trip).
func FuzzParse(f *testing.F) {
	for _, name := range []string{
		goldenSTIN,
		goldenMORS,
		"hospitalnotification/hn_touchstone_STIN_a5e5b880.xml",
		"hospitalnotification/hn_dkmedcom_2020_example.json",
		"acknowledgement/Ack_3.3.3.4_A_AR.xml",
		"carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json",
	} {
		f.Add(readFile(f, name))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) && !errors.Is(err, ErrNotMedCom) {
				t.Fatalf("Parse error %T %v is neither *Error nor ErrNotMedCom", err, err)
			}
			if m != nil {
				t.Fatalf("Parse returned a message with error %v", err)
			}
			return
		}
		if m.BundleID == "" || m.HeaderID == "" || m.Kind == "" {
			t.Fatalf("Parse accepted a message without ids: %+v", m)
		}
		if code, err := m.NotificationCode(); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("NotificationCode error %T %v is not an *Error", err, err)
			}
		} else if code == "" {
			t.Fatal("NotificationCode returned no code and no error")
		}
		_ = m.LogValue()
		if m.Kind == KindAcknowledgement {
			return
		}
		ack, err := Acknowledge(m, "fatal-error", "fuzzed", time.Unix(0, 0).UTC(), counter())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Acknowledge error %T %v is not an *Error", err, err)
			}
			return
		}
		a, err := Parse(ack)
		if err != nil {
			t.Fatalf("Parse(Acknowledge(m)): %v\n%s", err, ack)
		}
		if a.Acknowledgement.ResponseTo != m.HeaderID || a.Acknowledgement.Code != "fatal-error" {
			t.Fatalf("acknowledgement answers %q with %q; want %q with fatal-error", a.Acknowledgement.ResponseTo, a.Acknowledgement.Code, m.HeaderID)
		}
		if a.Receiver.SOR != m.Sender.SOR || a.Sender.SOR != m.Receiver.SOR || a.Receiver.Endpoint != m.SourceEndpoint {
			t.Fatalf("acknowledgement goes %s -> %s at %q; want %s -> %s at %q",
				a.Sender.SOR, a.Receiver.SOR, a.Receiver.Endpoint, m.Receiver.SOR, m.Sender.SOR, m.SourceEndpoint)
		}
	})
}
