package hl7v2_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
)

func Example() {
	raw := []byte("MSH|^~\\&|PAS|RH|STAFET|KOM|20240311081502+0100||ADT^A01^ADT_A01|PAS0001|P|2.5\r" +
		"EVN|A01|20240311081500+0100\r" +
		"PID|1||0102030405^^^CPR^NNDK~98765^^^RH^MR||Jensen^S\\XF8\\ren\r" +
		"PV1|1|I|KARD^S12^3^RH\r")

	m, err := hl7v2.Parse(raw)
	if err != nil {
		// Answer what cannot be parsed with a reject, so the sender stops resending.
		fmt.Printf("%q\n", hl7v2.AckForUnparsable(raw, err.Error()))
		return
	}
	code, trigger, _ := m.MessageType()
	fmt.Println(code, trigger, m.ControlID())
	fmt.Println(m.Get("PID-3(2).1"), m.Get("PID-5.2"), m.Get("PV1-3.1"))

	cph, _ := time.LoadLocation("Europe/Copenhagen")
	at, _ := hl7v2.ParseTime(m.Get("EVN-2"), cph)
	fmt.Println(at.UTC())

	ack := hl7v2.AckOptions{ControlID: "STAFET0001", Time: at}.Ack(m, "AA")
	fmt.Println(strings.ReplaceAll(string(ack), "\r", "\n"))
	// Output:
	// ADT A01 PAS0001
	// 98765 Søren KARD
	// 2024-03-11 07:15:00 +0000 UTC
	// MSH|^~\&|STAFET|KOM|PAS|RH|20240311081500+0100||ACK^A01^ACK|STAFET0001|P|2.5
	// MSA|AA|PAS0001
}

func ExampleMessage_Get() {
	m, err := hl7v2.Parse([]byte("MSH|^~\\&|PAS|RH|||20240311||ADT^A02|7|P|2.4\n" +
		"PID|1||0102030405^^^CPR~X1^^^RH&1.2.208.176.1.1&ISO\n" +
		"PV1|1|I|KARD^S12\n"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, path := range []string{"MSH-9", "MSH-9.2", "PID-3", "PID-3(2).4.2", "PV1-3.2", "PV2-9"} {
		fmt.Printf("%s=%q\n", path, m.Get(path))
	}
	// Output:
	// MSH-9="ADT^A02"
	// MSH-9.2="A02"
	// PID-3="0102030405^^^CPR~X1^^^RH&1.2.208.176.1.1&ISO"
	// PID-3(2).4.2="1.2.208.176.1.1"
	// PV1-3.2="S12"
	// PV2-9=""
}

func ExampleParse_errors() {
	for _, raw := range []string{
		"hello",
		"MSH|^~\\&|PAS|RH|||20240311||^A01|7|P|2.4",
		"MSH|^~\\&|PAS|RH|||20240311||ADT^A01|7|P|2.4||||||UNICODE UTF-8\rPID|1||1||S\xf8ren",
	} {
		_, err := hl7v2.Parse([]byte(raw))
		fmt.Println(err)
	}
	// Output:
	// hl7v2: input does not start with an MSH segment
	// hl7v2: MSH-9: missing message type
	// hl7v2: MSH-18: invalid UTF-8 at byte 74 (declared "UNICODE UTF-8")
}
