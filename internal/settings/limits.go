package settings

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/adapters/transport/mllp"
)

// MLLPLimits bound what one sender can hold of the MLLP listener
// (mllp.Config, mllp.HL7Options).
type MLLPLimits struct {
	// MaxConnsPerSource bounds the connections held at once from one IP
	// address; IdleTimeout closes a connection that sends nothing.
	MaxConnsPerSource int
	IdleTimeout       time.Duration
	// MaxMessage is the largest frame taken; GarbageQuota the bytes of
	// unparsable messages one address may have stored in an hour.
	MaxMessage, GarbageQuota int
}

// limit is one of the listeners' limits as a setting: its flag and
// variable, its default, what it accepts (for the error), and set, which
// parses a value into its place and reports whether it is accepted.
type limit struct {
	name, env, def, usage, accepts string
	set                            func(string) bool
	raw                            string
}

// limits are the HTTP and MLLP limits an operator may set. Each refuses
// what would leave the listener unbounded (0 or less: a Limits field's
// zero means its default, not "no limit") or bounded too loosely to
// protect it; the defaults are the packages' own (httpapi.DefaultLimits,
// mllp's Default constants, mllp.DefaultGarbageQuota).
func limits(h *httpapi.Limits, m *MLLPLimits) []*limit {
	return []*limit{
		{name: "http-read-timeout", env: "STAFET_HTTP_READ_TIMEOUT", def: "1m", usage: "longest an HTTP request may take to arrive, body included",
			accepts: "a duration from 1s to 1h", set: durationIn(&h.ReadTimeout, time.Second, time.Hour)},
		{name: "http-write-timeout", env: "STAFET_HTTP_WRITE_TIMEOUT", def: "2m", usage: "longest from the end of an HTTP request's headers to the end of its answer (streams exempt)",
			accepts: "a duration from 1s to 1h", set: durationIn(&h.WriteTimeout, time.Second, time.Hour)},
		{name: "http-idle-timeout", env: "STAFET_HTTP_IDLE_TIMEOUT", def: "1m", usage: "how long a kept-alive HTTP connection may wait for its next request",
			accepts: "a duration from 1s to 1h", set: durationIn(&h.IdleTimeout, time.Second, time.Hour)},
		{name: "http-max-conns", env: "STAFET_HTTP_MAX_CONNS", def: "4096", usage: "HTTP connections held at once in all",
			accepts: "a whole number from 1 to 65536", set: intIn(&h.MaxConns, 1, 1<<16)},
		{name: "http-conns-per-source", env: "STAFET_HTTP_CONNS_PER_SOURCE", def: "256", usage: "HTTP connections held at once from one IP address (more are closed at once)",
			accepts: "a whole number from 1 to 65536, at most -http-max-conns", set: intIn(&h.MaxConnsPerSource, 1, 1<<16)},
		{name: "http-message-rate", env: "STAFET_HTTP_MESSAGE_RATE", def: "100", usage: "MedCom messages a second one token may send (twice as many at once); more are answered 429",
			accepts: "a number of messages a second from 0.01 to 10000", set: rateIn(&h.MessageRate, 0.01, 10000)},
		{name: "http-garbage-quota", env: "STAFET_HTTP_GARBAGE_QUOTA", def: "16MiB", usage: "bytes of bodies that are no MedCom message one token may have stored an hour (each counts at least 4KiB); more are answered 429 unstored",
			accepts: "a size from 4KiB to 1GiB, such as 16MiB", set: sizeIn(&h.GarbageQuota, 4<<10, 1<<30)},
		{name: "mllp-conns-per-source", env: "STAFET_MLLP_CONNS_PER_SOURCE", def: "64", usage: "MLLP connections held at once from one IP address (more are closed at once)",
			accepts: "a whole number from 1 to 1024 (the listener's connections in all)", set: intIn(&m.MaxConnsPerSource, 1, mllp.DefaultMaxConns)},
		{name: "mllp-idle-timeout", env: "STAFET_MLLP_IDLE_TIMEOUT", def: "5m", usage: "how long an MLLP connection may send nothing, or stall within a frame, before it is closed",
			accepts: "a duration from 1s to 24h", set: durationIn(&m.IdleTimeout, time.Second, 24*time.Hour)},
		{name: "mllp-max-message", env: "STAFET_MLLP_MAX_MESSAGE", def: "4MiB", usage: "largest MLLP frame taken; a larger one is answered AR and its connection closed",
			accepts: "a size from 1KiB to 64MiB (what all connections together may buffer), such as 4MiB", set: sizeIn(&m.MaxMessage, 1<<10, mllp.DefaultMaxBuffered)},
		{name: "mllp-garbage-quota", env: "STAFET_MLLP_GARBAGE_QUOTA", def: "16MiB", usage: "bytes of unparsable HL7 messages one address may have stored an hour (each counts at least 4KiB); more are answered AR unstored",
			accepts: "a size from 4KiB to 1GiB, such as 16MiB", set: sizeIn(&m.GarbageQuota, 4<<10, 1<<30)},
	}
}

// define registers the limits' flags, their defaults from the environment.
func define(fs *flag.FlagSet, ls []*limit, getenv func(string) string) {
	for _, l := range ls {
		def := l.def
		if v := getenv(l.env); v != "" {
			def = v
		}
		fs.StringVar(&l.raw, l.name, def, l.usage+" (env "+l.env+")")
	}
}

// check parses the limits' values, naming the variable and what it
// accepts for the first it refuses.
func check(ls []*limit, h *httpapi.Limits) error {
	for _, l := range ls {
		if !l.set(l.raw) {
			return fmt.Errorf("%s (-%s) %q: want %s", l.env, l.name, l.raw, l.accepts)
		}
	}
	if h.MaxConnsPerSource > h.MaxConns {
		return fmt.Errorf("STAFET_HTTP_CONNS_PER_SOURCE (-http-conns-per-source) %d is above STAFET_HTTP_MAX_CONNS (-http-max-conns) %d: one address could take every connection", h.MaxConnsPerSource, h.MaxConns)
	}
	return nil
}

func durationIn(to *time.Duration, lo, hi time.Duration) func(string) bool {
	return func(s string) bool {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		*to = d
		return err == nil && d >= lo && d <= hi
	}
}

func intIn(to *int, lo, hi int) func(string) bool {
	return func(s string) bool {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		*to = n
		return err == nil && n >= lo && n <= hi
	}
}

func rateIn(to *float64, lo, hi float64) func(string) bool {
	return func(s string) bool {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		*to = r
		return err == nil && !math.IsNaN(r) && r >= lo && r <= hi
	}
}

func sizeIn(to *int, lo, hi uint64) func(string) bool {
	return func(s string) bool {
		n, err := parseBytes(s)
		if err != nil || n < lo || n > hi {
			return false
		}
		*to = int(n)
		return true
	}
}
