package pki

import "crypto/x509"

// Node issues a certificate for a node of a NATS cluster: it serves
// clients and the other nodes' routes, and presents itself when it opens
// its own routes, so it is a server and a client certificate at once.
func (ca *CA) Node(hosts ...string) (Pair, error) {
	return ca.forHosts(hosts, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}
