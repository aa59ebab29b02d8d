// Package mllp is an MLLP listener: HL7 v2 messages framed as
// 0x0B message 0x1C 0x0D over TCP (optionally TLS), each answered with an
// ACK before the next is read from the same connection.
package mllp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stafet/stafet/internal/connlimit"
	"github.com/stafet/stafet/internal/ratelimit"
)

// Frame bytes.
const (
	StartBlock = 0x0B
	EndBlock   = 0x1C
	CR         = 0x0D
)

// Handler answers one framed message with the ACK to send back. It must
// not keep msg.
type Handler func(ctx context.Context, msg []byte, remote string) []byte

// Config configures a Server. The zero value means the defaults.
type Config struct {
	// Addr to listen on. Default "127.0.0.1:2575": loopback, until the
	// operator opens it (with TLS, see docs/security.md).
	Addr string
	// TLS, if set, makes the listener speak TLS. Off loopback it must
	// require and verify client certificates (tls.RequireAndVerifyClientCert
	// with ClientCAs): a sender is known by its certificate.
	TLS *tls.Config
	// Senders maps certificates and plaintext addresses to the
	// organisations they speak for (PeerFrom). Needed off loopback.
	Senders *Senders
	// AllowPlaintext lets a listener off loopback take plaintext from the
	// addresses Senders lists (and from no other); without it such a
	// listener needs mutual TLS.
	AllowPlaintext bool
	// IdleTimeout closes a connection that sends nothing for this long,
	// including one that stalls half way through a frame. Default 5 min.
	IdleTimeout time.Duration
	// MaxMessage is the largest frame accepted; a larger one is answered
	// with an AR and the connection closed. Default 4 MiB.
	MaxMessage int
	// MaxConns bounds concurrent connections. Default 1024.
	MaxConns int
	// MaxConnsPerSource bounds concurrent connections from one IP
	// address, so one peer's idle or stalled connections cannot take the
	// slots the other senders need. Default 64.
	MaxConnsPerSource int
	// MaxBuffered bounds the memory all connections together hold for
	// frames being read, beyond the first 64 KiB of each: a frame that
	// would take more is refused (OnBusy) and its connection closed, so
	// many big unterminated frames cannot exhaust memory. Default 64 MiB.
	MaxBuffered int64
	// Logger; nil discards.
	Logger *slog.Logger
	// OnOversize answers a frame that exceeds MaxMessage (the part read so
	// far is given); nil sends nothing.
	OnOversize func(head []byte) []byte
	// Rate is how many messages a second one sender (a certificate or
	// plaintext peer, from one address) may send, Burst how many at once;
	// a faster sender's next ACK is delayed, nothing is refused. Defaults
	// 1000 and 2000: far above a hospital's peak, a bound on a loop.
	Rate  float64
	Burst int
	// OnBusy answers a frame refused because MaxBuffered is taken (the
	// head read so far is given): the sender should resend later. nil
	// sends nothing.
	OnBusy func(head []byte) []byte
}

// Server accepts MLLP connections and hands each frame to its Handler.
type Server struct {
	cfg     Config
	handler Handler
	ln      net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing atomic.Bool
	active  atomic.Int64
	// loopback: the listener is bound to a loopback address, where a
	// connection without a certificate speaks for every organisation.
	loopback bool
	// limited bounds the connections (MaxConns, MaxConnsPerSource).
	limited *connlimit.Listener
	// rate paces each sender (Rate, Burst).
	rate *ratelimit.Keyed
	// buffered is the frame memory taken beyond each connection's free
	// allowance (MaxBuffered).
	buffered atomic.Int64
	// Stats for metrics.
	Accepted, Frames, Oversize, Busy, Timeouts, Refused atomic.Int64
}

// The defaults of Config's limits.
const (
	DefaultIdleTimeout       = 5 * time.Minute
	DefaultMaxMessage        = 4 << 20
	DefaultMaxConns          = 1024
	DefaultMaxConnsPerSource = 64
	DefaultMaxBuffered       = 64 << 20
)

// New returns a server; Listen starts it.
func New(cfg Config, h Handler) *Server {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:2575"
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerSource == 0 {
		cfg.MaxConnsPerSource = DefaultMaxConnsPerSource
	}
	if cfg.MaxBuffered == 0 {
		cfg.MaxBuffered = DefaultMaxBuffered
	}
	if cfg.Rate == 0 {
		cfg.Rate = 1000
	}
	if cfg.Burst == 0 {
		cfg.Burst = 2 * int(cfg.Rate)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, handler: h, conns: make(map[net.Conn]struct{}), rate: ratelimit.New(cfg.Rate, cfg.Burst)}
}

// Listen binds the address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("mllp: listen %s: %w", s.cfg.Addr, err)
	}
	s.loopback = isLoopback(ln.Addr())
	if err := s.checkSecurity(); err != nil {
		ln.Close()
		return err
	}
	s.limited = connlimit.Wrap(ln, connlimit.Limits{Total: s.cfg.MaxConns, PerSource: s.cfg.MaxConnsPerSource}, s.cfg.Logger)
	ln = s.limited
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.ln = ln
	return nil
}

// ErrUnauthenticated is returned by Listen for a listener off loopback
// that would take messages from senders it cannot name.
var ErrUnauthenticated = errors.New("mllp: off loopback, senders must be authenticated")

// checkSecurity refuses a listener open to the network that would not
// know who sends: it needs mutual TLS, or plaintext only from the
// addresses the organisations file names, by the operator's explicit
// choice.
func (s *Server) checkSecurity() error {
	if s.loopback {
		return nil
	}
	t := s.cfg.TLS
	switch {
	case t != nil && (t.ClientAuth != tls.RequireAndVerifyClientCert || t.ClientCAs == nil):
		return fmt.Errorf("%w: %s: TLS without verified client certificates authenticates no one (give the client CA)", ErrUnauthenticated, s.cfg.Addr)
	case t != nil && s.cfg.Senders == nil:
		return fmt.Errorf("%w: %s: no senders mapped to organisations", ErrUnauthenticated, s.cfg.Addr)
	case t == nil && !s.cfg.AllowPlaintext:
		return fmt.Errorf("%w: %s: plaintext needs mutual TLS or the explicit plaintext allowance", ErrUnauthenticated, s.cfg.Addr)
	case t == nil && !s.cfg.Senders.HasAddresses():
		return fmt.Errorf("%w: %s: plaintext allowed, but the organisations file lists no sender address (mllp_clients addr:)", ErrUnauthenticated, s.cfg.Addr)
	}
	return nil
}

func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// Addr returns the bound address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Active returns the number of open connections.
func (s *Server) Active() int64 { return s.active.Load() }

// Held returns the connections held in all and from src's address.
func (s *Server) Held(src net.Addr) (total, fromSource int) { return s.limited.Held(src) }

// Buffered returns the frame memory taken beyond the connections' free
// allowance (Config.MaxBuffered bounds it).
func (s *Server) Buffered() int64 { return s.buffered.Load() }

// RefusedOverLimit returns the connections closed for being over
// MaxConns or MaxConnsPerSource.
func (s *Server) RefusedOverLimit() int64 { return s.limited.Refused.Load() }

// Serve accepts connections until ctx ends, then stops accepting, lets
// each connection finish the message it is on, and returns.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	go func() {
		<-ctx.Done()
		s.closing.Store(true)
		s.ln.Close()
		s.closeIdle()
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				s.wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("mllp: accept: %w", err)
		}
		s.track(c, true)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.track(c, false)
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
		s.active.Add(1)
		s.Accepted.Add(1)
		return
	}
	delete(s.conns, c)
	s.active.Add(-1)
	c.Close()
}

// closeIdle wakes connections blocked in a read so they see the shutdown;
// one in the middle of handling a message finishes it first.
func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.SetReadDeadline(time.Now())
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	remote := c.RemoteAddr().String()
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	peer, err := s.authenticate(hctx, c)
	cancel()
	if err != nil {
		s.Refused.Add(1)
		s.cfg.Logger.Warn("mllp: sender not authenticated; closing", "remote", remote, "err", err)
		return
	}
	ctx = withPeer(ctx, peer)
	sender := peer.Name + "@" + connlimit.Source(c.RemoteAddr())
	r := bufio.NewReaderSize(c, 16<<10)
	buf := &frameBuf{s: s}
	defer buf.release()
	for !s.closing.Load() {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		msg, err := s.readFrame(r, buf)
		if err != nil {
			s.connError(c, remote, err, buf.Bytes())
			return
		}
		s.Frames.Add(1)
		if s.rate.Wait(ctx, sender) != nil {
			return // shutting down
		}
		ack := s.handler(context.WithoutCancel(ctx), msg, remote)
		buf.release() // a big frame's memory goes back before the next one
		if len(ack) == 0 {
			continue
		}
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.Write(frame(ack)); err != nil {
			s.cfg.Logger.Info("mllp: write failed; closing", "remote", remote, "err", err)
			return
		}
	}
}

// handshakeTimeout bounds a new connection's TLS handshake.
const handshakeTimeout = 10 * time.Second

var (
	errOversize = errors.New("mllp: frame larger than the limit")
	errBusy     = errors.New("mllp: frame memory of all connections taken")
)

func (s *Server) connError(c net.Conn, remote string, err error, head []byte) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || s.closing.Load():
	case errors.Is(err, errOversize):
		s.Oversize.Add(1)
		s.cfg.Logger.Warn("mllp: oversize frame; closing", "remote", remote, "limit", s.cfg.MaxMessage)
		answerHead(c, s.cfg.OnOversize, head)
	case errors.Is(err, errBusy):
		s.Busy.Add(1)
		s.cfg.Logger.Warn("mllp: frame memory taken by other connections; refusing the frame and closing", "remote", remote, "max_buffered", s.cfg.MaxBuffered)
		answerHead(c, s.cfg.OnBusy, head)
	case errors.As(err, &ne) && ne.Timeout():
		s.Timeouts.Add(1)
		s.cfg.Logger.Info("mllp: idle or stalled connection closed", "remote", remote)
	default:
		s.cfg.Logger.Info("mllp: connection closed", "remote", remote, "err", err)
	}
}

// answerHead sends what answer (if set) makes of a refused frame's head,
// before the connection is closed.
func answerHead(c net.Conn, answer func(head []byte) []byte, head []byte) {
	if answer == nil {
		return
	}
	if ack := answer(head); len(ack) > 0 {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		c.Write(frame(ack))
	}
}

// readFrame reads up to the next 0x1C 0x0D, skipping anything before the
// start block (some senders send a stray CR/LF between frames). The frame
// is returned in buf; the returned slice is valid until the next call.
func (s *Server) readFrame(r *bufio.Reader, buf *frameBuf) ([]byte, error) {
	buf.Reset()
	for {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b == StartBlock {
			break
		}
	}
	for {
		chunk, err := r.ReadSlice(EndBlock)
		if buf.Len()+len(chunk) > s.cfg.MaxMessage {
			buf.Write(chunk[:min(len(chunk), 512)])
			return nil, errOversize
		}
		if !buf.reserve(buf.Len() + len(chunk) + 1) {
			buf.Write(chunk[:min(len(chunk), 512)])
			return nil, errBusy
		}
		buf.Write(chunk)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return nil, err
		}
		next, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if next == CR {
			b := buf.Bytes()
			return b[:len(b)-1], nil
		}
		// A lone 0x1C inside the message: keep it and read on.
		buf.WriteByte(next)
	}
}

// freeFrame is the frame memory each connection has without taking from
// MaxBuffered: most HL7 messages are a few KiB.
const freeFrame = 64 << 10

// frameBuf is a connection's frame buffer. Beyond freeFrame its memory is
// reserved from the server's MaxBuffered, and given back, with the
// memory itself, after each frame and when the connection ends.
type frameBuf struct {
	bytes.Buffer
	s    *Server
	held int64
}

// reserve makes room for a frame of n bytes, reserving what is beyond
// freeFrame; false if the server's MaxBuffered does not have it.
func (b *frameBuf) reserve(n int) bool {
	if n <= freeFrame || int64(n) <= b.held {
		return true
	}
	// Reserve ahead, doubling, as the buffer itself grows.
	want := min(max(int64(n), 2*b.held, 2*freeFrame), int64(b.s.cfg.MaxMessage)+1)
	if b.s.buffered.Add(want-b.held) > b.s.cfg.MaxBuffered {
		b.s.buffered.Add(b.held - want)
		return false
	}
	b.held = want
	return true
}

// release gives a big frame's memory back (a small buffer is kept).
func (b *frameBuf) release() {
	if b.held == 0 && b.Cap() <= 2*freeFrame {
		return
	}
	b.s.buffered.Add(-b.held)
	b.held = 0
	b.Buffer = bytes.Buffer{}
}

// frame wraps a message in MLLP framing.
func frame(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+3)
	out = append(out, StartBlock)
	out = append(out, msg...)
	return append(out, EndBlock, CR)
}

// Frame wraps a message in MLLP framing, for clients and tests.
func Frame(msg []byte) []byte { return frame(msg) }

// ReadFrame reads one framed message from r, for clients and tests.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	s := &Server{cfg: Config{MaxMessage: 64 << 20, MaxBuffered: 64 << 20}}
	buf := &frameBuf{s: s}
	msg, err := s.readFrame(r, buf)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(msg), nil
}
