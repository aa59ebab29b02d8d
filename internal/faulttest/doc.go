// Package faulttest is the harness of the fault tests (cmd/stafetd): a
// stafetd child process to kill (StartChild, started from the test binary
// itself), an HL7 v2 load over real MLLP connections whose senders resend
// until answered AA and keep a Ledger of what was sent and acknowledged,
// and a Tally of what the log holds, checked against the Ledger: every
// acknowledged message there, none twice. Only tests import it.
package faulttest
