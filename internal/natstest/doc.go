// Package natstest runs NATS JetStream clusters for tests: three (or n)
// nats-servers in the test's process on loopback ports, each on its own
// directory, with the faults a test inflicts on them (Kill, Restart) and
// what it asks of them (StreamLeader). Only tests import it.
package natstest
