// Package natsdeploy runs the NATS cluster Stafet ships (docs/deploy) as
// an operator runs it: three separate nats-server processes with the
// shipped nats.conf and accounts.conf, TLS on client and route
// connections from a CA of its own, routes that authenticate with the
// cluster's certificate and a password, and the stafetd, subscribers and
// system accounts, on loopback ports. The deployment test and the bench's
// cluster phase use it, so both measure what operators install. It is not
// a way to run production: a real cluster has a node a host, and its
// secrets come from the operator's secret store.
package natsdeploy
