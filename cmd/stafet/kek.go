package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stafet/stafet/engine"
)

// cmdKEK rotates the key-encryption key (docs/security.md#rotation):
// "add FILE" puts a fresh KEK first in a KEK file on this host (the old
// ones stay, to unwrap what is wrapped under them); "rewrap" asks stafetd
// to wrap every stored key under the current one. Then the old KEK can be
// removed from the file.
func cmdKEK(ctx context.Context, e env) error {
	const usage = "usage: stafet kek add FILE | rewrap"
	if len(e.args) == 0 {
		return errors.New(usage)
	}
	switch e.args[0] {
	case "add":
		if len(e.args) != 2 {
			return errors.New(usage)
		}
		id, err := engine.AddKEK(e.args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "KEK %s is now first in %s. Put the same file on every instance, then run: stafet kek rewrap\n", id, e.args[1])
		return nil
	case "rewrap":
		fs, asJSON := newFlags("kek rewrap", e)
		if err := fs.Parse(e.args[1:]); err != nil {
			return err
		}
		c, err := newClient(e)
		if err != nil {
			return err
		}
		var rep engine.RewrapReport
		if err := c.getJSON(ctx, "POST", "/v1/admin/rewrap-keys", nil, &rep); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, rep)
		}
		fmt.Fprintf(e.stdout, "%d keys stored; %d wrapped anew under KEK %s, %d stale copies erased. Older KEKs may now leave the file.\n", rep.Keys, rep.Rewrapped, rep.KEK, rep.Erased)
		return nil
	}
	return errors.New(usage)
}
