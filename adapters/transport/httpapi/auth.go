package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TokenBucket holds organisation tokens, keyed by the SHA-256 of the
// token: the bucket never holds a usable token.
const TokenBucket = "stafet_tokens"

// Principal is who is calling: the operator, or an organisation.
type Principal struct {
	Operator bool
	Org      events.OrgID
	Label    string
	// NATSKey is the public key of the NATS user issued with the token,
	// if any: revoked with it.
	NATSKey string
	// Reason is the reason the request states for reading what its
	// organisation's care relationships do not let it read (the
	// Stafet-Access-Reason header): a break-the-glass read (ReadPathway).
	Reason string
}

// Name is how access logs name the caller.
func (p Principal) Name() string {
	if p.Operator {
		return "operator"
	}
	return string(p.Org)
}

type tokenRecord struct {
	Org     events.OrgID `json:"org"`
	Label   string       `json:"label,omitempty"`
	Issued  time.Time    `json:"issued"`
	NATSKey string       `json:"nats_key,omitempty"`
}

// Tokens checks bearer tokens: the operator's, and organisation tokens
// issued by the operator. It holds hashes only.
type Tokens struct {
	admin [sha256.Size]byte
	kv    *engine.Bucket
}

// NewTokens opens the token bucket. adminToken is the operator's token.
func NewTokens(ctx context.Context, store *engine.Store, adminToken string) (*Tokens, error) {
	if len(adminToken) < 16 {
		return nil, errors.New("httpapi: the operator token must be at least 16 characters")
	}
	return NewTokensHashed(ctx, store, sha256.Sum256([]byte(adminToken)))
}

// NewTokensHashed is NewTokens with the operator token's SHA-256 only
// (OperatorToken): a stafetd that restarts does not need the token itself.
func NewTokensHashed(ctx context.Context, store *engine.Store, adminHash [sha256.Size]byte) (*Tokens, error) {
	kv, err := store.Bucket(ctx, TokenBucket, "organisation API tokens (hashed)")
	if err != nil {
		return nil, fmt.Errorf("httpapi: token bucket: %w", err)
	}
	return &Tokens{admin: adminHash, kv: kv}, nil
}

// NewToken returns a fresh random token.
func NewToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "stf_" + base64.RawURLEncoding.EncodeToString(b)
}

func tokenKey(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// Issue makes a token for an organisation and returns it; only its hash is
// stored, so it is shown once. natsKey names the NATS user issued with it,
// if any.
func (t *Tokens) Issue(ctx context.Context, org events.OrgID, label, natsKey string) (string, error) {
	if err := org.Validate(); err != nil {
		return "", err
	}
	tok := NewToken()
	rec, _ := json.Marshal(tokenRecord{Org: org, Label: label, Issued: time.Now().UTC(), NATSKey: natsKey})
	if err := t.kv.Create(ctx, tokenKey(tok), rec); err != nil {
		return "", fmt.Errorf("httpapi: issue token: %w", err)
	}
	return tok, nil
}

// Revoke deletes an organisation token.
func (t *Tokens) Revoke(ctx context.Context, tok string) error {
	return t.kv.Purge(ctx, tokenKey(tok))
}

var errUnauthenticated = errors.New("missing or unknown bearer token")

// Check returns the principal of a bearer token.
func (t *Tokens) Check(ctx context.Context, tok string) (Principal, error) {
	if tok == "" {
		return Principal{}, errUnauthenticated
	}
	if sum := sha256.Sum256([]byte(tok)); subtle.ConstantTimeCompare(sum[:], t.admin[:]) == 1 {
		return Principal{Operator: true}, nil
	}
	v, ok, err := t.kv.Get(ctx, tokenKey(tok))
	if err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{}, errUnauthenticated
	}
	var rec tokenRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Principal{}, err
	}
	return Principal{Org: rec.Org, Label: rec.Label, NATSKey: rec.NATSKey}, nil
}

// bearer returns the request's token: from the Authorization header, or,
// where query is true (the streams), from ?access_token=, because
// EventSource cannot set headers.
func bearer(r *http.Request, query bool) string {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(tok)
	}
	if query {
		return r.URL.Query().Get("access_token")
	}
	return ""
}

type principalKey struct{}

// PrincipalOf returns who is calling, for a handler mounted with Handle
// behind authentication (the zero Principal otherwise).
func PrincipalOf(r *http.Request) Principal { return principalFrom(r.Context()) }

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}
