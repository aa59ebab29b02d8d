package settings

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/adapters/transport/mllp"
)

// parseEnv parses with only env set (and a key directory, so no test
// writes keys into the home directory).
func parseEnv(t *testing.T, env map[string]string) (Settings, error) {
	t.Helper()
	vars := map[string]string{"STAFET_KEY_DIR": t.TempDir()}
	for k, v := range env {
		vars[k] = v
	}
	return Parse(nil, func(k string) string { return vars[k] })
}

// TestLimitDefaultsUnchanged: unset, every limit is the listener
// package's own default.
func TestLimitDefaultsUnchanged(t *testing.T) {
	c, err := parseEnv(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP != httpapi.DefaultLimits {
		t.Errorf("HTTP limits: got %+v; want httpapi.DefaultLimits %+v", c.HTTP, httpapi.DefaultLimits)
	}
	want := MLLPLimits{MaxConnsPerSource: mllp.DefaultMaxConnsPerSource, IdleTimeout: mllp.DefaultIdleTimeout,
		MaxMessage: mllp.DefaultMaxMessage, GarbageQuota: mllp.DefaultGarbageQuota}
	if c.MLLP != want {
		t.Errorf("MLLP limits: got %+v; want mllp's defaults %+v", c.MLLP, want)
	}
}

func TestLimitsSet(t *testing.T) {
	tests := []struct {
		env, value string
		got        func(Settings) any
		want       any
	}{
		{"STAFET_HTTP_READ_TIMEOUT", "30s", func(c Settings) any { return c.HTTP.ReadTimeout }, 30 * time.Second},
		{"STAFET_HTTP_WRITE_TIMEOUT", "5m", func(c Settings) any { return c.HTTP.WriteTimeout }, 5 * time.Minute},
		{"STAFET_HTTP_IDLE_TIMEOUT", "10s", func(c Settings) any { return c.HTTP.IdleTimeout }, 10 * time.Second},
		{"STAFET_HTTP_MAX_CONNS", "8192", func(c Settings) any { return c.HTTP.MaxConns }, 8192},
		{"STAFET_HTTP_CONNS_PER_SOURCE", "16", func(c Settings) any { return c.HTTP.MaxConnsPerSource }, 16},
		{"STAFET_HTTP_MESSAGE_RATE", "2.5", func(c Settings) any { return c.HTTP.MessageRate }, 2.5},
		{"STAFET_HTTP_GARBAGE_QUOTA", "1MiB", func(c Settings) any { return c.HTTP.GarbageQuota }, 1 << 20},
		{"STAFET_MLLP_CONNS_PER_SOURCE", "2", func(c Settings) any { return c.MLLP.MaxConnsPerSource }, 2},
		{"STAFET_MLLP_IDLE_TIMEOUT", "1h", func(c Settings) any { return c.MLLP.IdleTimeout }, time.Hour},
		{"STAFET_MLLP_MAX_MESSAGE", "512KiB", func(c Settings) any { return c.MLLP.MaxMessage }, 512 << 10},
		{"STAFET_MLLP_GARBAGE_QUOTA", "64MiB", func(c Settings) any { return c.MLLP.GarbageQuota }, 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			c, err := parseEnv(t, map[string]string{tt.env: tt.value})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.got(c); got != tt.want {
				t.Errorf("%s=%s: got %v; want %v", tt.env, tt.value, got, tt.want)
			}
		})
	}
}

// TestLimitsRefused: a value that cannot be read, or that would leave a
// listener unbounded or too loosely bounded, stops stafetd at start with
// an error naming the variable and what it accepts.
func TestLimitsRefused(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"read timeout zero", map[string]string{"STAFET_HTTP_READ_TIMEOUT": "0s"}, "STAFET_HTTP_READ_TIMEOUT"},
		{"read timeout unreadable", map[string]string{"STAFET_HTTP_READ_TIMEOUT": "soon"}, "STAFET_HTTP_READ_TIMEOUT"},
		{"write timeout over an hour", map[string]string{"STAFET_HTTP_WRITE_TIMEOUT": "2h"}, "STAFET_HTTP_WRITE_TIMEOUT"},
		{"idle timeout negative", map[string]string{"STAFET_HTTP_IDLE_TIMEOUT": "-1s"}, "STAFET_HTTP_IDLE_TIMEOUT"},
		{"max conns zero", map[string]string{"STAFET_HTTP_MAX_CONNS": "0"}, "STAFET_HTTP_MAX_CONNS"},
		{"per source zero", map[string]string{"STAFET_HTTP_CONNS_PER_SOURCE": "0"}, "STAFET_HTTP_CONNS_PER_SOURCE"},
		{"per source above the total", map[string]string{"STAFET_HTTP_MAX_CONNS": "100", "STAFET_HTTP_CONNS_PER_SOURCE": "200"}, "above STAFET_HTTP_MAX_CONNS"},
		{"message rate zero", map[string]string{"STAFET_HTTP_MESSAGE_RATE": "0"}, "STAFET_HTTP_MESSAGE_RATE"},
		{"message rate not a number", map[string]string{"STAFET_HTTP_MESSAGE_RATE": "NaN"}, "STAFET_HTTP_MESSAGE_RATE"},
		{"http garbage quota zero", map[string]string{"STAFET_HTTP_GARBAGE_QUOTA": "0"}, "STAFET_HTTP_GARBAGE_QUOTA"},
		{"http garbage quota too large", map[string]string{"STAFET_HTTP_GARBAGE_QUOTA": "2GiB"}, "STAFET_HTTP_GARBAGE_QUOTA"},
		{"mllp per source zero", map[string]string{"STAFET_MLLP_CONNS_PER_SOURCE": "0"}, "STAFET_MLLP_CONNS_PER_SOURCE"},
		{"mllp per source above the total", map[string]string{"STAFET_MLLP_CONNS_PER_SOURCE": "5000"}, "STAFET_MLLP_CONNS_PER_SOURCE"},
		{"mllp idle timeout zero", map[string]string{"STAFET_MLLP_IDLE_TIMEOUT": "0"}, "STAFET_MLLP_IDLE_TIMEOUT"},
		{"mllp max message zero", map[string]string{"STAFET_MLLP_MAX_MESSAGE": "0"}, "STAFET_MLLP_MAX_MESSAGE"},
		{"mllp max message above the buffer", map[string]string{"STAFET_MLLP_MAX_MESSAGE": "128MiB"}, "STAFET_MLLP_MAX_MESSAGE"},
		{"mllp garbage quota under one message", map[string]string{"STAFET_MLLP_GARBAGE_QUOTA": "1KiB"}, "STAFET_MLLP_GARBAGE_QUOTA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseEnv(t, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error naming %s", err, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, ": want ") && !strings.Contains(msg, "could take every connection") {
				t.Errorf("got %q; want it to say what the variable accepts", msg)
			}
		})
	}
}

// TestLimitsDocumented: the operator finds every limit's variable in
// docs/operations.md's table of limits.
func TestLimitsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range limits(&httpapi.Limits{}, &MLLPLimits{}) {
		if !strings.Contains(string(doc), "`"+l.env+"`") {
			t.Errorf("%s: not in docs/operations.md", l.env)
		}
	}
}
