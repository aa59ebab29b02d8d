// Command stafet is Stafet's command-line tool: it reads pathways, gaps and
// worklists from a running stafetd, manages tokens and dead letters,
// rebuilds projections, translates messages offline, drives the national
// simulator and runs the benchmark.
//
//	stafet pathway show ID
//	stafet gaps [-cluster C] [-municipality M] [-org O] [-kind K] [-status open|closed|all]
//	stafet worklist [-org O] [-identity]
//	stafet offer accept|reject PATHWAY OFFER [-reason R] | release PATHWAY -what W
//	stafet token issue -org ORG [-label L] [-nats FILE] | revoke TOKEN | nats-conf
//	stafet nkey new FILE
//	stafet certs ca | server HOST... | client NAME [-dir DIR]
//	stafet dead-letters list|show SEQ|replay SEQ [-body FILE]
//	stafet messages [-dead] [-sender S] [-code C] … | show SEQ | reprocess | channels
//	stafet quarantine list [-all]|show SEQ|resolve SEQ -take-in|-annul REASON
//	stafet patient erase -reason REASON CPR|-
//	stafet kek add FILE | rewrap
//	stafet verify [-pathway ID] [-nats-url URL -nats-creds FILE] [-trusted-keys FILE]
//	stafet rebuild
//	stafet translate -from hl7v2|medcom FILE...
//	stafet simulate [-rate N] [-duration D] [-seed S] [-time-scale X]
//	stafet bench [-events N] [-phase P]... [-durability safe|bulk] [-rounds R] [-json | -markdown] [-update FILE]
//
// The server is STAFET_URL, else what stafetd's own STAFET_HTTP_ADDR gives
// (default http://127.0.0.1:8080), and the token STAFET_TOKEN (default:
// the operator token, STAFET_ADMIN_TOKEN or the admin-token stafetd wrote
// to its key directory, STAFET_KEY_DIR or ~/.config/stafet/keys). Ids may
// be abbreviated to a unique beginning or end; flags take names as well as
// ids. Tables for people, with names and local time, by default; -json for
// scripts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command gets: its arguments, output streams and settings.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name, usage string
	run         func(ctx context.Context, e env) error
}

func commands() []command {
	return []command{
		{"pathway", "pathway show ID [-as-of T] [-as-of-kind recorded|valid] [-identity]", cmdPathway},
		{"gaps", "gaps [-cluster C] [-municipality M] [-org O] [-kind K] [-status open|closed|all] [-as-of T]", cmdGaps},
		{"worklist", "worklist [-org O] [-identity]", cmdWorklist},
		{"offer", "offer accept|reject PATHWAY OFFER [-reason R] | release PATHWAY -what W: answer from the worklist", cmdOffer},
		{"token", "token issue -org ORG [-label L] [-nats FILE] | revoke TOKEN | nats-conf", cmdToken},
		{"certs", "certs ca | server HOST... | client NAME [-dir DIR]: a local CA for MLLP with mutual TLS", cmdCerts},
		{"nkey", "nkey new FILE: make a NATS user key (seed in FILE, mode 0600) and print its public key", cmdNkey},
		{"dead-letters", "dead-letters list | show SEQ | replay SEQ [-body FILE]", cmdDeadLetters},
		{"messages", "messages [-dead] [-channel C] [-sender S] [-code C] [-from T] … | show SEQ | reprocess [SEQ…|flags] | channels: the message browser", cmdMessages},
		{"quarantine", "quarantine list [-all] | show SEQ | resolve SEQ -take-in | -annul REASON", cmdQuarantine},
		{"patient", "patient erase -reason REASON CPR|-: erase a patient (keys destroyed, raw messages and dead letters erased)", cmdPatient},
		{"kek", "kek add FILE | rewrap: rotate the key-encryption key", cmdKEK},
		{"verify", "verify [-pathway ID] [-nats-url URL] [-nats-nkey FILE|-nats-creds FILE] [-trusted-keys FILE]: check the log against its signed checkpoints", cmdVerify},
		{"rebuild", "rebuild: rebuild the projections beside the serving ones, with progress", cmdRebuild},
		{"translate", "translate -from hl7v2|medcom FILE...: print the events each message yields", cmdTranslate},
		{"simulate", "simulate: drive a running stafetd with a realistic national workload", cmdSimulate},
		{"bench", "bench: measure Stafet against raw JetStream, side by side", cmdBench},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: stafet COMMAND [flags]")
	for _, c := range commands() {
		fmt.Fprintf(w, "  stafet %s\n", c.usage)
	}
	fmt.Fprintln(w, "\nServer: STAFET_URL, else from STAFET_HTTP_ADDR as stafetd has it (default http://127.0.0.1:8080).")
	fmt.Fprintln(w, "Token: STAFET_TOKEN, else the operator's (STAFET_ADMIN_TOKEN, or admin-token in STAFET_KEY_DIR, default ~/.config/stafet/keys).")
	fmt.Fprintln(w, "Every command takes -json for scripts; stafet COMMAND -h lists its flags.")
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "help" || args[0] == "--help" {
		usage(stderr)
		return 2
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env{args: args[1:], stdin: os.Stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv})
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 2
		case errors.As(err, &ee):
			fmt.Fprintln(stderr, "stafet:", ee.err)
			return ee.code
		}
		fmt.Fprintln(stderr, "stafet:", err)
		return 1
	}
	fmt.Fprintf(stderr, "stafet: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}
