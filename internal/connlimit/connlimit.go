package connlimit

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the bounds of a Listener. Zero means no bound.
type Limits struct {
	// Total bounds the connections held at once.
	Total int
	// PerSource bounds the connections held at once from one IP address.
	PerSource int
}

// Listener accepts connections within its Limits. A connection over a
// limit is closed at once and Accept goes on to the next one: the
// listener never stops accepting, so a flood from one source does not
// keep the others waiting in the kernel's queue behind it.
type Listener struct {
	net.Listener
	lim Limits
	log *slog.Logger

	mu       sync.Mutex
	total    int
	bySource map[string]int

	// Refused counts the connections closed for being over a limit.
	Refused atomic.Int64
	// lastLog rate-limits the warning a flood would otherwise repeat.
	lastLog atomic.Int64
}

// Wrap bounds ln's connections; log (nil discards) is told of refusals,
// at most once every ten seconds.
func Wrap(ln net.Listener, lim Limits, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Listener{Listener: ln, lim: lim, log: log, bySource: make(map[string]int)}
}

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		src := source(c.RemoteAddr())
		if which := l.take(src); which != "" {
			l.Refused.Add(1)
			c.Close()
			l.warn(src, which)
			continue
		}
		return &conn{Conn: c, l: l, src: src}, nil
	}
}

// Held returns the connections held in all and from src's address.
func (l *Listener) Held(src net.Addr) (total, fromSource int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.bySource[source(src)]
}

// take reserves a slot for a connection from src, or names the limit
// that refuses it.
func (l *Listener) take(src string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.lim.PerSource > 0 && l.bySource[src] >= l.lim.PerSource:
		return "per-source"
	case l.lim.Total > 0 && l.total >= l.lim.Total:
		return "total"
	}
	l.total++
	l.bySource[src]++
	return ""
}

func (l *Listener) release(src string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.bySource[src]--; l.bySource[src] <= 0 {
		delete(l.bySource, src)
	}
}

func (l *Listener) warn(src, which string) {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	if now-last < int64(10*time.Second) || !l.lastLog.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("connection refused: over the limit", "listener", l.Addr().String(), "source", src, "limit", which,
		"per_source", l.lim.PerSource, "total", l.lim.Total, "refused_so_far", l.Refused.Load())
}

// Source is the IP address of a peer, without its port: the key of the
// per-source limits.
func Source(a net.Addr) string { return source(a) }

func source(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// conn gives its slot back once, on its first Close.
type conn struct {
	net.Conn
	l    *Listener
	src  string
	once sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.src) })
	return err
}
