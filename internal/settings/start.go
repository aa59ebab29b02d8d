package settings

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/projections"
)

// NewLogger returns the logger the settings ask for (LogFormat, LogLevel),
// writing to w.
func (c Settings) NewLogger(w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", c.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}

// GC lets the heap grow to three times what is live between collections
// (GOGC=200) unless GOGC is set: replaying and appending allocate
// short-lived envelopes fast, and the default (100) spent 10–15 % more
// CPU per event on collection in stafet bench, for a heap of a few
// hundred MB at most (docs/performance.md).
func GC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// LoadRules returns the deadline rules (RulesFile, else the built-in
// ones) and a short hash of their file, so a change of rules is a new
// projection version.
func (c Settings) LoadRules() (projections.Rules, string, error) {
	raw := projections.DefaultRulesJSON()
	if c.RulesFile != "" {
		b, err := os.ReadFile(c.RulesFile)
		if err != nil {
			return projections.Rules{}, "", fmt.Errorf("rules file: %w", err)
		}
		raw = b
	}
	rules, err := projections.LoadRules(bytes.NewReader(raw))
	if err != nil {
		return projections.Rules{}, "", fmt.Errorf("rules file %s: %w", c.RulesFile, err)
	}
	sum := sha256.Sum256(raw)
	return rules, hex.EncodeToString(sum[:6]), nil
}

// Where says where things are, for the first line stafetd logs: a first
// start spends a while creating its streams, the operator needs the token
// to do anything, and the keys live apart from the data (back both up).
func (c Settings) Where() []any {
	return []any{"data_dir", absPath(c.Engine.DataDir), "operator_token", c.TokenSource(), "key_dir", c.Engine.KeyDir}
}

// TokenSource says where the operator token is, never the token.
func (c Settings) TokenSource() string {
	if c.AdminToken != "" {
		return "STAFET_ADMIN_TOKEN (-admin-token)"
	}
	return absPath(httpapi.OperatorTokenFile(c.Engine.KeyDir))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
