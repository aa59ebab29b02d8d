// Package connlimit bounds the connections a listener holds: in all, and
// from any one source address, so that one peer holding many connections
// (idle, slow, or half way through a request) cannot take the slots the
// other senders need. The HTTP API and the MLLP listener both use it.
package connlimit
