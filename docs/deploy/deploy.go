// Package deploy holds the NATS configuration Stafet ships for a cluster
// (nats.conf, accounts.conf, subscribers.conf), embedded so that the
// deployment test and the bench's cluster phase run exactly the files an
// operator installs, from wherever they run.
package deploy

import "embed"

// NATS holds nats.conf, accounts.conf and subscribers.conf as shipped.
//
//go:embed nats.conf accounts.conf subscribers.conf
var NATS embed.FS
