// Package ratelimit keeps a token bucket per sender: for the rate of
// messages a sender may send (MLLP waits, HTTP answers 429) and for the
// bytes of unreadable messages it may have stored (a quota, so a broken
// or hostile sender cannot fill the disk with garbage).
package ratelimit
