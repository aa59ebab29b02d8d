package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stafet/stafet/internal/pki"
)

// cmdCerts runs a local certificate authority for MLLP with mutual TLS
// (internal/pki; docs/operations.md): a CA, stafetd's server certificate,
// and a client certificate per sender, whose name the organisations file
// maps to the organisations it may send for.
func cmdCerts(_ context.Context, e env) error {
	const use = "usage: stafet certs ca | server HOST... | client NAME  [-dir DIR]"
	if len(e.args) == 0 {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("certs", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	dir := fs.String("dir", "certs", "directory of the CA and the certificates")
	if err := fs.Parse(e.args[1:]); err != nil {
		return err
	}
	args := fs.Args()
	switch e.args[0] {
	case "ca":
		if _, err := os.Stat(filepath.Join(*dir, "ca.key")); err == nil {
			return fmt.Errorf("certs ca: %s already holds a CA", *dir)
		}
		ca, err := pki.NewCA("Stafet MLLP CA")
		if err != nil {
			return err
		}
		if err := ca.Save(*dir); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: give stafetd -mllp-client-ca %s\n", filepath.Join(*dir, "ca.crt"), filepath.Join(*dir, "ca.crt"))
		return nil
	case "server":
		if len(args) == 0 {
			return errors.New(use)
		}
		ca, err := pki.LoadCA(*dir)
		if err != nil {
			return err
		}
		p, err := ca.Server(args...)
		if err != nil {
			return err
		}
		if err := p.Write(*dir, "server"); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "give stafetd -tls-cert %s -tls-key %s -mllp-tls\n", filepath.Join(*dir, "server.crt"), filepath.Join(*dir, "server.key"))
		return nil
	case "client":
		if len(args) != 1 {
			return errors.New(use)
		}
		ca, err := pki.LoadCA(*dir)
		if err != nil {
			return err
		}
		p, err := ca.Client(args[0])
		if err != nil {
			return err
		}
		if err := p.Write(*dir, args[0]); err != nil {
			return err
		}
		fp, err := p.Fingerprint()
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s.crt, %s.key: in the organisations file, add to each organisation it sends for\n  \"mllp_clients\": [\"cn:%s\"]  (or, for this certificate only, \"%s\")\n",
			filepath.Join(*dir, args[0]), filepath.Join(*dir, args[0]), args[0], fp)
		return nil
	}
	return errors.New(use)
}
