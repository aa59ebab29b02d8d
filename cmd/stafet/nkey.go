package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nkeys"
)

// cmdNkey makes a NATS user key for an external cluster's configuration
// (docs/deploy): stafetd's own user (STAFETD_NKEY) and the system
// account's (NATS_SYSTEM_NKEY). The seed goes to a new file of mode 0600;
// the public key, which the configuration names, is printed.
func cmdNkey(_ context.Context, e env) error {
	if len(e.args) != 2 || e.args[0] != "new" {
		return errors.New("usage: stafet nkey new FILE")
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	f, err := os.OpenFile(e.args[1], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("nkey new: %w (the file must not exist)", err)
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, pub)
	return nil
}
