// Package natstest runs NATS JetStream clusters for tests: three (or n)
// nats-servers in the test's process on loopback ports, each on its own
// directory, with the faults a test inflicts on them (Kill, Restart) and
// what it asks of them (StreamLeader); and JetStream, a context on a
// store's own connection for a test that looks behind the engine's
// handles. Only tests import it.
package natstest
