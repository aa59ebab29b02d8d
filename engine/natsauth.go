package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The embedded server has no anonymous access. Its clients live in two
// accounts, which NATS keeps apart as if they were separate servers:
//
//   - STAFET holds the streams and buckets — the log, raw messages, patient
//     keys — and has one user, stafetd itself (an NKey whose seed is in the
//     data directory, mode 0600).
//   - SUBSCRIBERS holds the alert subscribers: organisations' NATS users.
//     It imports only the subjects STAFET exports (the alert subjects), has
//     no JetStream, and each user may subscribe to its own organisation's
//     alerts and do nothing else: no publish, no $JS API, no buckets, no
//     inboxes, no event or raw subjects, no other organisation.
//
// SYS is the system account, with no users.
const (
	AccountStafet      = "STAFET"
	AccountSubscribers = "SUBSCRIBERS"
	accountSystem      = "SYS"
)

// Subscriber is a NATS user of the subscribers' account: it may subscribe
// to Subjects and to nothing else, and publish nothing.
type Subscriber struct {
	// Key is the user's public NKey (starts with U).
	Key string `json:"key"`
	// Subjects are the subject filters it may subscribe to; each must lie
	// under an exported subject.
	Subjects []string `json:"subjects"`
}

// Validate checks the key and the subjects.
func (s Subscriber) Validate(exports []string) error {
	if !nkeys.IsValidPublicUserKey(s.Key) {
		return errors.New("engine: subscriber key is not a public user NKey")
	}
	if len(s.Subjects) == 0 {
		return errors.New("engine: a subscriber needs a subject")
	}
	for _, sub := range s.Subjects {
		if !underAny(sub, exports) {
			return fmt.Errorf("engine: subscriber subject %q is not exported to subscribers", sub)
		}
	}
	return nil
}

// underAny reports whether the filter sub lies within one of the filters.
func underAny(sub string, filters []string) bool {
	for _, f := range filters {
		if server.SubjectMatchesFilter(sub, f) {
			return true
		}
	}
	return false
}

// stafetdKeyFile is where the embedded server's stafetd user keeps its
// NKey seed, in the data directory.
const stafetdKeyFile = "nats/stafetd.nk"

// StafetdKeyFile returns the path of stafetd's own NKey seed file in a
// data directory: the key to the whole store. Operators use it with the
// nats CLI (nats --nkey FILE stream ls) on the host, as root.
func StafetdKeyFile(dataDir string) string { return filepath.Join(dataDir, stafetdKeyFile) }

// loadOrCreateUserKey reads an NKey user seed from path, or creates one
// there (mode 0600, in a directory of mode 0700) at first start.
func loadOrCreateUserKey(path string) (nkeys.KeyPair, error) {
	if b, err := os.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return nil, fmt.Errorf("engine: %s: %w", path, err)
		}
		return kp, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("engine: %w", err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := writeFileExcl(path, append(seed, '\n')); err != nil {
		return nil, err
	}
	return kp, nil
}

// writeFileExcl writes a new file of mode 0600, refusing to overwrite one.
func writeFileExcl(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("engine: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: %w", err)
	}
	return f.Close()
}

// accountsConf is the accounts section of the embedded server's
// configuration, in the JSON form nats-server's parser reads.
type accountsConf struct {
	Accounts      map[string]accountConf `json:"accounts"`
	SystemAccount string                 `json:"system_account"`
}

type accountConf struct {
	JetStream string       `json:"jetstream,omitempty"`
	Users     []userConf   `json:"users"`
	Exports   []exportConf `json:"exports,omitempty"`
	Imports   []importConf `json:"imports,omitempty"`
}

type userConf struct {
	Nkey        string     `json:"nkey"`
	Permissions *permsConf `json:"permissions,omitempty"`
}

type permsConf struct {
	Publish   subjectsConf `json:"publish"`
	Subscribe subjectsConf `json:"subscribe"`
}

type subjectsConf struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

type exportConf struct {
	Stream string `json:"stream"`
}

type importConf struct {
	Stream importStream `json:"stream"`
}

type importStream struct {
	Account string `json:"account"`
	Subject string `json:"subject"`
}

// buildAccountsConf lays out the accounts for stafetd's key, the subjects
// it exports to subscribers, and the subscribers.
func buildAccountsConf(stafetd string, exports []string, subs []Subscriber) accountsConf {
	st := accountConf{JetStream: "enabled", Users: []userConf{{Nkey: stafetd}}}
	sb := accountConf{Users: []userConf{}}
	for _, e := range exports {
		st.Exports = append(st.Exports, exportConf{Stream: e})
		sb.Imports = append(sb.Imports, importConf{Stream: importStream{Account: AccountStafet, Subject: e}})
	}
	for _, s := range subs {
		sb.Users = append(sb.Users, subscriberUser(s))
	}
	return accountsConf{
		Accounts:      map[string]accountConf{AccountStafet: st, AccountSubscribers: sb, accountSystem: {Users: []userConf{}}},
		SystemAccount: accountSystem,
	}
}

// subscriberUser is a subscriber's user entry: its subjects, and no
// publish at all.
func subscriberUser(s Subscriber) userConf {
	return userConf{Nkey: s.Key, Permissions: &permsConf{
		// An empty publish list would mean "no restriction" to
		// nats-server: deny everything explicitly.
		Publish:   subjectsConf{Deny: []string{">"}},
		Subscribe: subjectsConf{Allow: s.Subjects},
	}}
}

// confJSON writes v in the JSON form nats-server's parser reads, which
// knows no \u escapes: > and & are written as they are.
func confJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// accountOptions writes the accounts configuration to dir/nats/accounts.conf
// and parses it into server options. The file is rewritten at every start
// and every change of subscribers; it holds public keys only.
func accountOptions(dir string, conf accountsConf) (*server.Options, error) {
	path := filepath.Join(dir, "nats", "accounts.conf")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	b, err := confJSON(conf)
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		return nil, fmt.Errorf("engine: embedded nats accounts: %w", err)
	}
	return opts, nil
}

// migrateGlobalAccount moves JetStream data written before the accounts
// existed (in the global account, $G) to stafetd's account, once, before
// the server starts: the same streams and buckets, under their new owner.
func migrateGlobalAccount(storeDir string) error {
	old := filepath.Join(storeDir, "jetstream", server.DEFAULT_GLOBAL_ACCOUNT)
	to := filepath.Join(storeDir, "jetstream", AccountStafet)
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("engine: both %s and %s exist: move the one you do not want away before starting", old, to)
	}
	if err := os.Rename(old, to); err != nil {
		return fmt.Errorf("engine: move JetStream data into the %s account: %w", AccountStafet, err)
	}
	return nil
}

// checkListenSecurity refuses a client port off loopback without TLS,
// unless the configuration allows it explicitly: the port carries alerts
// to subscribers, and NKey authentication does not hide what travels.
func checkListenSecurity(cfg Config) error {
	if cfg.ListenAddr == "" || cfg.CertFile != "" || cfg.AllowPlaintextNATS {
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("engine: nats listen address %q: %w", cfg.ListenAddr, err)
	}
	if isLoopback(host) {
		return nil
	}
	return fmt.Errorf("engine: the NATS client port %s is not on loopback and has no TLS: give a certificate (STAFET_NATS_CERT, STAFET_NATS_KEY), listen on 127.0.0.1, or allow plaintext explicitly (STAFET_NATS_ALLOW_PLAINTEXT=true) on a network you trust", cfg.ListenAddr)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
