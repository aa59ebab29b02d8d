package natstest

import (
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream is a JetStream context on nc (a store's own connection,
// engine.Store.NATS().Conn), for tests that look behind the engine's handles or
// write what no handle writes: a forged or undecodable message, a raw
// baseline to compare against.
func JetStream(tb testing.TB, nc *nats.Conn) jetstream.JetStream {
	tb.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}
