package settings

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
)

// Settings are everything stafetd can be told.
type Settings struct {
	Engine           engine.Config
	HTTPAddr         string
	MLLPAddr         string
	TLSCert          string
	TLSKey           string
	MLLPTLS          bool
	MLLPClientCA     string
	MLLPCert         string
	MLLPKey          string
	MLLPPlaintext    bool
	WebhooksLoopback bool
	WebhookProxy     *url.URL
	FHIRBase         string
	AdminToken       string
	MetricsToken     string
	RulesFile        string
	OrgsFile         string
	LogFormat        string
	LogLevel         string
	Timezone         string
	Drain            time.Duration
	// HTTP and MLLP are the listeners' limits (limits.go).
	HTTP httpapi.Limits
	MLLP MLLPLimits
}

// Parse reads the settings from the command line args over the
// environment (getenv) over the defaults, checks them, and reads the key
// material they name. It returns flag.ErrHelp after printing the flags
// for -h.
func Parse(args []string, getenv func(string) string) (Settings, error) {
	var c Settings
	var keys keyFiles
	fs := flag.NewFlagSet("stafetd", flag.ContinueOnError)
	str := func(p *string, name, env, def, usage string) {
		if v := getenv(env); v != "" {
			def = v
		}
		fs.StringVar(p, name, def, usage+" (env "+env+")")
	}
	var durability, drain, natsAddr, replicas, stateCache, fsync, webhookProxy, checkpointEvery, minFree, chainVersion string
	str(&c.HTTPAddr, "http-addr", "STAFET_HTTP_ADDR", "127.0.0.1:8080", "HTTP API address (:8080 for every interface); empty = none")
	str(&c.MLLPAddr, "mllp-addr", "STAFET_MLLP_ADDR", "127.0.0.1:2575", "MLLP (HL7 v2) address (:2575 for every interface, with mutual TLS: docs/security.md); empty = none")
	str(&natsAddr, "nats-addr", "STAFET_NATS_ADDR", "127.0.0.1:4222", "embedded NATS client address; \"none\" = in-process only")
	str(&c.Engine.DataDir, "data-dir", "STAFET_DATA_DIR", "data", "directory of the embedded JetStream files and the operator token's hash")
	str(&c.Engine.URL, "nats-url", "STAFET_NATS_URL", "", "external NATS cluster URL instead of the embedded server")
	str(&c.Engine.Credentials, "nats-creds", "STAFET_NATS_CREDS", "", "NATS credentials file for -nats-url")
	str(&c.Engine.NkeyFile, "nats-nkey", "STAFET_NATS_NKEY", "", "NATS NKey seed file for -nats-url (stafetd's user in the STAFET account, docs/deploy)")
	str(&c.Engine.CAFile, "nats-ca", "STAFET_NATS_CA", "", "CA certificate for NATS TLS")
	str(&c.Engine.CertFile, "nats-cert", "STAFET_NATS_CERT", "", "certificate for NATS TLS")
	str(&c.Engine.KeyFile, "nats-key", "STAFET_NATS_KEY", "", "key for -nats-cert")
	str(&durability, "durability", "STAFET_DURABILITY", "safe", "safe (fsync before every ack) or bulk (fsync on the server's interval)")
	str(&fsync, "fsync", "STAFET_FSYNC", "group", "safe mode on the embedded server: group (one fsync for all writers waiting) or each (the server fsyncs every message)")
	str(&replicas, "replicas", "STAFET_REPLICAS", "1", "replication of streams and buckets on a cluster (3 for production)")
	str(&stateCache, "state-cache", "STAFET_STATE_CACHE", "32768", "pathways whose write-side state is kept in memory (above the open pathways)")
	str(&c.TLSCert, "tls-cert", "STAFET_TLS_CERT", "", "certificate for HTTPS (and MLLP with -mllp-tls)")
	str(&c.TLSKey, "tls-key", "STAFET_TLS_KEY", "", "key for -tls-cert")
	str(&c.MLLPCert, "mllp-tls-cert", "STAFET_MLLP_TLS_CERT", "", "MLLP's own server certificate, if not -tls-cert's (HTTPS may end at a load balancer)")
	str(&c.MLLPKey, "mllp-tls-key", "STAFET_MLLP_TLS_KEY", "", "key for -mllp-tls-cert")
	str(&c.MLLPClientCA, "mllp-client-ca", "STAFET_MLLP_CLIENT_CA", "", "CA certificate(s) of MLLP senders' client certificates: with -mllp-tls every sender must present one (mapped to organisations by mllp_clients in the organisations file)")
	str(&c.AdminToken, "admin-token", "STAFET_ADMIN_TOKEN", "", "operator token; if unset, generated at first start: its hash kept in the data dir, the token in the key dir (admin-token)")
	str(&c.MetricsToken, "metrics-token", "STAFET_METRICS_TOKEN", "", "a token that may read /metrics only, for Prometheus; the operator token always may")
	str(&keys.dir, "key-dir", "STAFET_KEY_DIR", "", "directory of the keys stafetd makes at first start (pseudonym secret, KEK, signing key); outside the data dir; default $XDG_CONFIG_HOME/stafet/keys or ~/.config/stafet/keys")
	str(&keys.secret, "secret-file", "STAFET_SECRET_FILE", "", "pseudonym secret file (≥ 32 bytes); default: the key dir keeps one")
	str(&keys.kek, "kek-file", "STAFET_KEK_FILE", "", "key-encryption keys, one base64 key a line, the current first; default: the key dir keeps them")
	str(&keys.signing, "signing-key-file", "STAFET_SIGNING_KEY_FILE", "", "Ed25519 seed (base64) that signs the log's checkpoints; default: the key dir keeps it")
	str(&keys.trusted, "trusted-keys", "STAFET_TRUSTED_KEYS", "", "file of earlier signing keys' public halves, after a rotation")
	str(&checkpointEvery, "checkpoint-every", "STAFET_CHECKPOINT_EVERY", "5m", "how often the log is signed (a checkpoint)")
	str(&chainVersion, "chain-version", "STAFET_CHAIN_VERSION", "2", "the Stafet-Chain version appends write: 2, or 1 while an instance of a release before 2026-12-08 still serves the log (docs/operations.md#upgrades)")
	str(&c.RulesFile, "rules", "STAFET_RULES", "", "deadline rules file (JSON); default: the built-in rules")
	str(&c.OrgsFile, "organisations", "STAFET_ORGANISATIONS", "", "organisations file (JSON) adding hospitals, departments, practices")
	str(&c.LogFormat, "log-format", "STAFET_LOG_FORMAT", "text", "text or json")
	str(&c.LogLevel, "log-level", "STAFET_LOG_LEVEL", "info", "debug, info, warn or error")
	str(&c.Timezone, "timezone", "STAFET_TIMEZONE", "Europe/Copenhagen", "zone of HL7 times without an offset")
	str(&drain, "drain", "STAFET_DRAIN", "20s", "how long to let requests finish on shutdown")
	str(&minFree, "min-free", "STAFET_MIN_FREE", "256MiB", "free space on the data directory's file system below which intake refuses messages (resend later) and /readyz answers 503")
	str(&webhookProxy, "webhook-proxy", "STAFET_WEBHOOK_PROXY", "", "HTTP proxy for webhook deliveries; HTTPS_PROXY and the like are never used")
	str(&c.FHIRBase, "fhir-base", "STAFET_FHIR_BASE", "", "the FHIR facade's URL as clients reach it (https://stafet.example.dk/fhir), for links and notifications; default the request's host")
	fs.BoolVar(&c.WebhooksLoopback, "webhooks-allow-loopback", getenv("STAFET_WEBHOOKS_ALLOW_LOOPBACK") == "true", "let webhooks point at loopback addresses over plain http, for single-host trials (env STAFET_WEBHOOKS_ALLOW_LOOPBACK)")
	fs.BoolVar(&c.Engine.AllowPlaintextNATS, "nats-allow-plaintext", getenv("STAFET_NATS_ALLOW_PLAINTEXT") == "true", "let the embedded NATS client port listen off loopback without TLS (env STAFET_NATS_ALLOW_PLAINTEXT)")
	fs.BoolVar(&c.MLLPTLS, "mllp-tls", getenv("STAFET_MLLP_TLS") == "true", "serve MLLP over TLS with -tls-cert (env STAFET_MLLP_TLS)")
	fs.BoolVar(&c.MLLPPlaintext, "mllp-allow-plaintext", getenv("STAFET_MLLP_ALLOW_PLAINTEXT") == "true", "let MLLP listen off loopback without TLS, taking plaintext only from the addresses the organisations file names (mllp_clients addr:) (env STAFET_MLLP_ALLOW_PLAINTEXT)")
	lims := limits(&c.HTTP, &c.MLLP)
	define(fs, lims, getenv)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if natsAddr != "none" {
		c.Engine.ListenAddr = natsAddr
	}
	c.Engine.Durability = engine.Durability(durability)
	c.Engine.Exports = alerts.Exports
	if _, err := fmt.Sscan(replicas, &c.Engine.Replicas); err != nil {
		return c, fmt.Errorf("replicas %q: want a number", replicas)
	}
	switch fsync {
	case "group":
	case "each":
		c.Engine.FsyncEach = true
	default:
		return c, fmt.Errorf("fsync %q: want group or each", fsync)
	}
	if _, err := fmt.Sscan(stateCache, &c.Engine.StateCache); err != nil {
		return c, fmt.Errorf("state-cache %q: want a number", stateCache)
	}
	if err := check(lims, &c.HTTP); err != nil {
		return c, err
	}
	var err error
	if c.Engine.MinFreeBytes, err = parseBytes(minFree); err != nil {
		return c, fmt.Errorf("min-free %q: %w", minFree, err)
	}
	d, err := time.ParseDuration(drain)
	if err != nil {
		return c, fmt.Errorf("drain %q: %w", drain, err)
	}
	c.Drain = d
	if c.Engine.CheckpointEvery, err = time.ParseDuration(checkpointEvery); err != nil || c.Engine.CheckpointEvery <= 0 {
		return c, fmt.Errorf("checkpoint-every %q: want a positive duration such as 5m", checkpointEvery)
	}
	switch chainVersion {
	case "1":
		c.Engine.ChainVersion = 1
	case "2":
		c.Engine.ChainVersion = 2
	default:
		return c, fmt.Errorf("chain-version %q (STAFET_CHAIN_VERSION): want 1 or 2", chainVersion)
	}
	if webhookProxy != "" {
		if c.WebhookProxy, err = url.Parse(webhookProxy); err != nil || c.WebhookProxy.Host == "" {
			return c, fmt.Errorf("webhook-proxy %q: want a URL such as http://proxy.example:3128", webhookProxy)
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return c, errors.New("-tls-cert and -tls-key go together")
	}
	if (c.MLLPCert == "") != (c.MLLPKey == "") {
		return c, errors.New("-mllp-tls-cert and -mllp-tls-key go together")
	}
	if c.MLLPClientCA != "" && !c.MLLPTLS {
		return c, errors.New("-mllp-client-ca needs -mllp-tls")
	}
	// The keys are part of the engine's settings: read them before they
	// are checked (a cluster needs the secret).
	if err := loadKeys(&c.Engine, keys, getenv); err != nil {
		return c, err
	}
	return c, c.Engine.Validate()
}

// parseBytes reads a size: a number of bytes, or one with KiB, MiB or GiB.
func parseBytes(s string) (uint64, error) {
	num, unit := strings.TrimSpace(s), uint64(1)
	for suffix, u := range map[string]uint64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(num, suffix); ok {
			num, unit = strings.TrimSpace(n), u
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || n == 0 {
		return 0, errors.New("want a size such as 256MiB, 2GiB or a number of bytes")
	}
	return n * unit, nil
}
