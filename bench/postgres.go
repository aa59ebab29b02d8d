package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stafet/stafet/engine"
)

// PeerPostgres is the peer Options.Peer names to measure Stafet against
// PostgreSQL: a plain events table and Message DB's schema (peer.go).
const PeerPostgres = "postgres"

// pgServer is a PostgreSQL server of the bench's own, from the machine's
// packages (Debian's postgresql), in a temporary directory: it listens on
// a Unix socket in that directory only (no TCP port), and its one user
// has a random password. Started by startPostgres, stopped by stop.
type pgServer struct {
	bin, dir, data string
	// cred runs the server's programs as the postgres user when the bench
	// runs as root (PostgreSQL refuses root); nil otherwise.
	cred    *osUser
	connStr string
	version string
}

// pgBin returns the directory of PostgreSQL's server programs: initdb's
// on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin.
func pgBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		return "", errors.New("bench: PostgreSQL not found (no initdb on PATH or in /usr/lib/postgresql/*/bin): install Debian's postgresql")
	}
	slices.SortFunc(dirs, func(a, b string) int { return pgMajor(a) - pgMajor(b) })
	return filepath.Dir(dirs[len(dirs)-1]), nil
}

// pgMajor is the major version in a /usr/lib/postgresql/<major>/bin path.
func pgMajor(path string) int {
	n := 0
	fmt.Sscanf(filepath.Base(filepath.Dir(filepath.Dir(path))), "%d", &n)
	return n
}

// pgSettings are the server's settings in a durability mode. Safe: fsync
// and synchronous_commit on, so a commit returns once its WAL is on disk
// (commits waiting together share a flush: PostgreSQL's group commit);
// bulk: both off, and no full pages in the WAL. The rest gives the server
// room: a checkpoint does not land inside a measured round, and the
// template's tables fit in shared buffers.
func pgSettings(d engine.Durability, dir string, conns int) []string {
	on := "on"
	if d == engine.Bulk {
		on = "off"
	}
	return []string{
		"listen_addresses=''",
		"unix_socket_directories='" + dir + "'",
		"unix_socket_permissions=0700",
		"fsync=" + on,
		"synchronous_commit=" + on,
		"full_page_writes=" + on,
		fmt.Sprintf("max_connections=%d", conns+10),
		"shared_buffers=512MB",
		"max_wal_size=8GB",
		"checkpoint_timeout=30min",
		"log_min_messages=warning",
	}
}

// startPostgres creates a database cluster in a new directory under tmp
// and starts its server in durability mode d for up to conns
// connections. Neither is measured.
func startPostgres(ctx context.Context, tmp string, d engine.Durability, conns int) (*pgServer, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	if cred != nil {
		// The postgres user must reach the directory: as root, make it
		// in the system's temporary directory, not in the bench's own
		// (private to root).
		tmp = ""
	}
	dir, err := os.MkdirTemp(tmp, "stafet-bench-pg-")
	if err != nil {
		return nil, err
	}
	p := &pgServer{bin: bin, dir: dir, data: filepath.Join(dir, "data"), cred: cred}
	if err := p.init(ctx, d, conns); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

func (p *pgServer) init(ctx context.Context, d engine.Durability, conns int) error {
	pw := make([]byte, 24)
	rand.Read(pw)
	password := hex.EncodeToString(pw)
	pwFile := filepath.Join(p.dir, "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	if err := p.cred.own(p.dir); err != nil {
		return err
	}
	if err := p.run(ctx, "initdb", "-D", p.data, "-U", "stafet", "--pwfile", pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		return err
	}
	os.Remove(pwFile)
	conf := strings.Join(pgSettings(d, p.dir, conns), "\n") + "\n"
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := p.run(ctx, "pg_ctl", "-D", p.data, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "120", "start"); err != nil {
		return err
	}
	p.connStr = fmt.Sprintf("host=%s port=5432 user=stafet password=%s dbname=postgres sslmode=disable", p.dir, password)
	conn, err := pgx.Connect(ctx, p.connStr)
	if err != nil {
		p.stop()
		return fmt.Errorf("bench: postgres: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&p.version); err != nil {
		p.stop()
		return fmt.Errorf("bench: postgres: %w", err)
	}
	return nil
}

// run runs one of PostgreSQL's programs, as the postgres user when the
// bench is root.
func (p *pgServer) run(ctx context.Context, prog string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, prog), args...)
	cmd.Dir = p.dir
	p.cred.apply(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bench: %s: %v: %s", prog, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// stop stops the server at once and removes its directory.
func (p *pgServer) stop() error {
	err := p.run(context.Background(), "pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop")
	if rerr := os.RemoveAll(p.dir); err == nil {
		err = rerr
	}
	return err
}

// pool opens a pool of up to conns connections, all of them opened
// before it returns (opening is not measured).
func (p *pgServer) pool(ctx context.Context, conns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(p.connStr)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: postgres: %w", err)
	}
	held := make([]*pgxpool.Conn, 0, conns)
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range conns {
		c, err := pool.Acquire(ctx)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("bench: postgres: %w", err)
		}
		held = append(held, c)
	}
	return pool, nil
}

// exec runs statements in order on a connection of its own.
func (p *pgServer) exec(ctx context.Context, stmts ...string) error {
	conn, err := pgx.Connect(ctx, p.connStr)
	if err != nil {
		return fmt.Errorf("bench: postgres: %w", err)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("bench: postgres: %s: %w", strings.Fields(s)[0], err)
		}
	}
	return nil
}
