package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
)

// cmdVerify checks the log against its signed checkpoints, as an auditor
// would (docs/security.md#verification): it reads the event and
// checkpoint streams from NATS itself, trusts only the signing keys'
// public halves it is given, and names the first message or checkpoint
// that does not match. It does not ask stafetd anything.
func cmdVerify(ctx context.Context, e env) error {
	fs, asJSON := newFlags("verify", e)
	url := fs.String("nats-url", envOr(e, "STAFET_NATS_URL", "nats://127.0.0.1:4222"), "NATS server holding the log")
	nkey := fs.String("nats-nkey", "", "NKey seed file of a user that may read the log (default: stafetd's, in STAFET_DATA_DIR)")
	creds := fs.String("nats-creds", "", "NATS credentials file instead of -nats-nkey")
	keys := fs.String("trusted-keys", "", "public keys whose checkpoints count, one base64 key a line (default: signing-key.pub in STAFET_KEY_DIR)")
	pathway := fs.String("pathway", "", "check only this pathway's messages (and anchor them in the checkpoints)")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	opts := engine.VerifyOptions{}
	if *pathway != "" {
		id, err := uuid.Parse(*pathway)
		if err != nil {
			return fmt.Errorf("-pathway %q: want a pathway id", *pathway)
		}
		opts.Pathway = id
	}
	pubs, err := trustedKeys(e, *keys)
	if err != nil {
		return err
	}
	opts.Keys = pubs
	nc, err := connectNATS(e, *url, *nkey, *creds)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	start := time.Now()
	rep, err := engine.Verify(ctx, js, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "Read %d messages in %s; checked %d against their links (%d stored before the chain began at seq %d).\n",
			rep.Messages, time.Since(start).Round(time.Millisecond), rep.Checked, rep.Unchained, rep.ChainedFrom)
		fmt.Fprintf(e.stdout, "%d checkpoints verified; the newest anchors the log through seq %d.\n", rep.Checkpoints, rep.AnchoredTo)
	}
	if rep.Mismatch != nil {
		return &exitError{code: 3, err: fmt.Errorf("verify: the first mismatch: %v", rep.Mismatch)}
	}
	if !*asJSON {
		fmt.Fprintln(e.stdout, "Everything matches.")
	}
	return nil
}

func envOr(e env, name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

// trustedKeys reads the public keys from path, or from the key
// directory's signing-key.pub.
func trustedKeys(e env, path string) ([]ed25519.PublicKey, error) {
	if path == "" {
		dir, err := keyDir(e)
		if err != nil {
			return nil, fmt.Errorf("give -trusted-keys FILE (%v)", err)
		}
		path = filepath.Join(dir, "signing-key.pub")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	return engine.ParsePublicKeys(b)
}

// connectNATS connects with an NKey seed or a credentials file; by
// default with stafetd's NKey in the data directory.
func connectNATS(e env, url, nkey, creds string) (*nats.Conn, error) {
	var auth nats.Option
	switch {
	case creds != "":
		auth = nats.UserCredentials(creds)
	default:
		if nkey == "" {
			nkey = engine.StafetdKeyFile(envOr(e, "STAFET_DATA_DIR", "data"))
		}
		o, err := nats.NkeyOptionFromSeed(nkey)
		if err != nil {
			return nil, fmt.Errorf("NATS key: %w", err)
		}
		auth = o
	}
	nc, err := nats.Connect(url, auth, nats.Name("stafet verify"), nats.MaxReconnects(0))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	return nc, nil
}
