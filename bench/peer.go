package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// The PostgreSQL peers (Options.Peer "postgres"): the same messages
// Execute stores (one command's events, encoded by the engine's codec)
// written to and read from two stores on one PostgreSQL server of the
// bench's own (postgres.go), and read back through the same decoder into
// the same projections. Their sides join the append and replay phases'
// rounds beside the raw JetStream ones.
const (
	// A plain events table: stream id and version unique (the
	// expected-version check), a global position; read with one SELECT
	// … ORDER BY position.
	sidePGTable = "pg-table"
	// Message DB's schema and server functions, written here from its
	// documentation: write_message with the expected version (which
	// locks the stream's category), get_category_messages in batches.
	sideMessageDB = "message-db"
)

// pgTableSchema creates a fresh plain events table.
var pgTableSchema = []string{
	`DROP TABLE IF EXISTS events`,
	`CREATE TABLE events (
		position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		stream_id uuid NOT NULL,
		version integer NOT NULL,
		data bytea NOT NULL,
		UNIQUE (stream_id, version)
	)`,
}

// messageDBSchema creates Message DB's messages table, indexes and the
// server functions the bench calls, as its documentation describes them
// (https://docs.eventide-project.org/user-guide/message-db/): a stream
// name is "category-id"; a writer takes a transaction-scoped advisory
// lock on a hash of the stream's category, reads the stream's version,
// checks the expected version and inserts at the next position; a
// category is read by global position in batches.
var messageDBSchema = []string{
	`DROP TABLE IF EXISTS messages`,
	`CREATE TABLE messages (
		global_position bigserial PRIMARY KEY,
		position bigint NOT NULL,
		time timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
		stream_name text NOT NULL,
		type text NOT NULL,
		data jsonb,
		metadata jsonb,
		id uuid NOT NULL
	)`,
	`CREATE OR REPLACE FUNCTION category(stream_name varchar) RETURNS varchar
		LANGUAGE sql IMMUTABLE AS $$ SELECT split_part($1, '-', 1) $$`,
	`CREATE UNIQUE INDEX messages_id ON messages (id)`,
	`CREATE UNIQUE INDEX messages_stream ON messages (stream_name, position)`,
	`CREATE INDEX messages_category ON messages
		(category(stream_name), global_position, category(metadata->>'correlationStreamName'))`,
	`CREATE OR REPLACE FUNCTION hash_64(v varchar) RETURNS bigint
		LANGUAGE sql IMMUTABLE AS $$ SELECT ('x' || left(md5($1), 16))::bit(64)::bigint $$`,
	`CREATE OR REPLACE FUNCTION stream_version(stream_name varchar) RETURNS bigint
		LANGUAGE sql AS $$ SELECT max(m.position) FROM messages m WHERE m.stream_name = $1 $$`,
	`CREATE OR REPLACE FUNCTION write_message(msg_id varchar, stream varchar, msg_type varchar,
			body jsonb, meta jsonb DEFAULT NULL, expected_version bigint DEFAULT NULL) RETURNS bigint
		LANGUAGE plpgsql AS $$
	DECLARE
		current bigint;
	BEGIN
		PERFORM pg_advisory_xact_lock(hash_64(category(stream)));
		current := coalesce(stream_version(stream), -1);
		IF expected_version IS NOT NULL AND expected_version <> current THEN
			RAISE EXCEPTION 'Wrong expected version: % (Stream: %, Stream Version: %)', expected_version, stream, current;
		END IF;
		INSERT INTO messages (id, stream_name, position, type, data, metadata)
			VALUES (msg_id::uuid, stream, current + 1, msg_type, body, meta);
		RETURN current + 1;
	END $$`,
	`DROP TYPE IF EXISTS message CASCADE`,
	`CREATE TYPE message AS (id varchar, stream_name varchar, type varchar, position bigint,
		global_position bigint, data varchar, metadata varchar, time timestamp)`,
	`CREATE OR REPLACE FUNCTION get_category_messages(category_name varchar, from_position bigint DEFAULT 1,
			batch_size bigint DEFAULT 1000) RETURNS SETOF message
		LANGUAGE plpgsql AS $$
	BEGIN
		RETURN QUERY EXECUTE
			'SELECT id::varchar, stream_name::varchar, type::varchar, position, global_position,
				data::varchar, metadata::varchar, time
			FROM messages WHERE category(stream_name) = $1 AND global_position >= $2
			ORDER BY global_position LIMIT $3'
			USING category_name, from_position, batch_size;
	END $$`,
}

// messageDBCategory is the category of every pathway's stream.
const messageDBCategory = "pathway"

// peerMsg is one stored message as a PostgreSQL peer writes it: its
// pathway's stream and the message's version in it (0 for a pathway's
// first), a message id for Message DB, the body.
type peerMsg struct {
	stream  uuid.UUID
	version int
	id      uuid.UUID
	data    []byte
	events  int
}

// versions numbers messages in their streams.
type versions map[uuid.UUID]int

// next returns the next message of pathway's stream.
func (v versions) next(pathway uuid.UUID, data []byte, evs int) peerMsg {
	n := v[pathway]
	v[pathway] = n + 1
	return peerMsg{stream: pathway, version: n, id: uuid.New(), data: data, events: evs}
}

// peerMsgs numbers msgs in their streams.
func peerMsgs(msgs []stored) []peerMsg {
	v := make(versions)
	out := make([]peerMsg, len(msgs))
	for i, m := range msgs {
		out[i] = v.next(m.pathway, m.data, m.events)
	}
	return out
}

// peer is one PostgreSQL store: its schema, how it appends one message
// with its concurrency check, and how it reads the whole log.
type peer struct {
	name   string
	schema []string
	write  func(ctx context.Context, c *pgxpool.Conn, m peerMsg) error
	read   func(ctx context.Context, c *pgxpool.Conn, emit func(pos int64, body []byte) error) error
	copyTo func(ctx context.Context, c *pgxpool.Conn, ms []peerMsg) error
}

func peers() []peer {
	return []peer{
		{
			name:   sidePGTable,
			schema: pgTableSchema,
			write: func(ctx context.Context, c *pgxpool.Conn, m peerMsg) error {
				// The unique (stream_id, version) refuses a second writer
				// of the same version: the expected-version check.
				_, err := c.Exec(ctx, `INSERT INTO events (stream_id, version, data) VALUES ($1, $2, $3)`, m.stream, m.version, m.data)
				return err
			},
			read: func(ctx context.Context, c *pgxpool.Conn, emit func(int64, []byte) error) error {
				rows, err := c.Query(ctx, `SELECT position, data FROM events ORDER BY position`)
				if err != nil {
					return err
				}
				return emitRows(rows, emit)
			},
			copyTo: func(ctx context.Context, c *pgxpool.Conn, ms []peerMsg) error {
				_, err := c.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"stream_id", "version", "data"},
					pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) {
						return []any{ms[i].stream, ms[i].version, ms[i].data}, nil
					}))
				return err
			},
		},
		{
			name:   sideMessageDB,
			schema: messageDBSchema,
			write: func(ctx context.Context, c *pgxpool.Conn, m peerMsg) error {
				_, err := c.Exec(ctx, `SELECT write_message($1, $2, 'Commit', $3, NULL, $4)`,
					m.id.String(), streamName(m.stream), m.data, int64(m.version-1))
				return err
			},
			read: func(ctx context.Context, c *pgxpool.Conn, emit func(int64, []byte) error) error {
				// Batches of 10 000, as the raw read's pulls.
				const batch = 10_000
				from := int64(1)
				for {
					rows, err := c.Query(ctx, `SELECT global_position, data FROM get_category_messages($1, $2, $3)`,
						messageDBCategory, from, batch)
					if err != nil {
						return err
					}
					n, last := 0, from
					err = emitRows(rows, func(pos int64, body []byte) error {
						n, last = n+1, pos
						return emit(pos, body)
					})
					if err != nil || n < batch {
						return err
					}
					from = last + 1
				}
			},
			copyTo: func(ctx context.Context, c *pgxpool.Conn, ms []peerMsg) error {
				_, err := c.CopyFrom(ctx, pgx.Identifier{"messages"}, []string{"id", "stream_name", "position", "type", "data"},
					pgx.CopyFromSlice(len(ms), func(i int) ([]any, error) {
						return []any{ms[i].id, streamName(ms[i].stream), int64(ms[i].version), "Commit", ms[i].data}, nil
					}))
				return err
			},
		},
	}
}

func streamName(pathway uuid.UUID) string { return messageDBCategory + "-" + pathway.String() }

// emitRows hands each row's position and body to emit; the body is the
// row's own copy.
func emitRows(rows pgx.Rows, emit func(int64, []byte) error) error {
	defer rows.Close()
	for rows.Next() {
		var pos int64
		var body []byte
		if err := rows.Scan(&pos, &body); err != nil {
			return err
		}
		if err := emit(pos, body); err != nil {
			return err
		}
	}
	return rows.Err()
}

// peerAppend is the append side of one PostgreSQL store: msgs written
// from Options.PeerConns connections, each pathway's messages in order on
// one of them, each in a transaction of its own, until all are written
// or MaxWrite passes. Each round starts with a fresh table.
func (b *bencher) peerAppend(pg *pgServer, pool *pgxpool.Pool, p peer, msgs []peerMsg) side {
	return side{name: p.name, run: func(ctx context.Context, _ int) (measure, error) {
		// A fresh table, and the server's dirty pages written out, as a
		// fresh JetStream server has none (not measured).
		if err := pg.exec(ctx, append(p.schema, "CHECKPOINT")...); err != nil {
			return measure{}, err
		}
		return timed(func() (int, bool, error) {
			evs, done, err := writeShards(ctx, pool, msgs, b.o.PeerConns, time.Now().Add(b.o.MaxWrite), p.write)
			return evs, done < len(msgs), err
		})
	}}
}

// writeShards writes msgs from conns connections, sharded by stream,
// until all are written or stop passes (zero: no limit). It returns the events and
// messages written.
func writeShards(ctx context.Context, pool *pgxpool.Pool, msgs []peerMsg, conns int, stop time.Time,
	write func(context.Context, *pgxpool.Conn, peerMsg) error) (evs, done int, err error) {
	shards := make([][]peerMsg, conns)
	for _, m := range msgs {
		i := shard(m.stream, conns)
		shards[i] = append(shards[i], m)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var nEvs, nDone atomic.Int64
	var wg sync.WaitGroup
	for _, sh := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pool.Acquire(ctx)
			if err != nil {
				cancel(err)
				return
			}
			defer c.Release()
			for _, m := range sh {
				if ctx.Err() != nil || (!stop.IsZero() && time.Now().After(stop)) {
					return
				}
				if err := write(ctx, c, m); err != nil {
					cancel(fmt.Errorf("%s version %d: %w", m.stream, m.version, err))
					return
				}
				nEvs.Add(int64(m.events))
				nDone.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, 0, err
	}
	return int(nEvs.Load()), int(nDone.Load()), nil
}

// loadPeers copies the log s holds, up to sequence last, into both
// stores' fresh tables with COPY, a batch at a time, then vacuums and
// checkpoints them, so that each read round reads settled tables from
// shared buffers (not measured).
func loadPeers(ctx context.Context, pg *pgServer, pool *pgxpool.Pool, s *engine.Store, last uint64) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	for _, p := range peers() {
		if err := pg.exec(ctx, p.schema...); err != nil {
			return err
		}
	}
	const size = 50_000
	batch := make([]peerMsg, 0, size)
	flush := func() error {
		for _, p := range peers() {
			if err := p.copyTo(ctx, c, batch); err != nil {
				return fmt.Errorf("bench: %s: copy: %w", p.name, err)
			}
		}
		batch = batch[:0]
		return nil
	}
	v := make(versions)
	var ferr error
	err = readAll(ctx, s, last, func(m jetstream.Msg) {
		if ferr != nil {
			return
		}
		_, pw, _ := engine.SubjectPathway(m.Subject())
		if batch = append(batch, v.next(pw, m.Data(), 0)); len(batch) == size {
			ferr = flush()
		}
	})
	if err == nil {
		err = ferr
	}
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	return pg.exec(ctx, "VACUUM (FREEZE, ANALYZE)", "CHECKPOINT")
}

// peerReplay is the replay side of one PostgreSQL store: the whole log
// read into a fresh projections.Set, the bodies decoded on every core and
// applied in order, as Log.Replay does.
func (b *bencher) peerReplay(pool *pgxpool.Pool, p peer, want int) side {
	return side{name: p.name, run: func(ctx context.Context, _ int) (measure, error) {
		set, err := projections.NewSet(projections.DefaultRules())
		if err != nil {
			return measure{}, err
		}
		c, err := pool.Acquire(ctx)
		if err != nil {
			return measure{}, err
		}
		defer c.Release()
		m, err := timed(func() (int, bool, error) {
			n, err := decodeApply(ctx, set, func(emit func(int64, []byte) error) error { return p.read(ctx, c, emit) })
			return n, false, err
		})
		if err == nil && m.events != want {
			err = fmt.Errorf("%s: replayed %d events; want %d", p.name, m.events, want)
		}
		return m, err
	}}
}

// peerBatch is a run of bodies read, decoded by one of the decoders.
type peerBatch struct {
	pos    []int64
	bodies [][]byte
	evs    [][]events.Envelope
	err    error
	done   chan struct{}
}

// decodeApply reads bodies with read, decodes them in batches on every
// core with the engine's codec, and applies their events to set in the
// order read, each with its position as its sequence, checked as the
// engine checks what it reads. It returns the events applied.
func decodeApply(ctx context.Context, set *projections.Set, read func(emit func(int64, []byte) error) error) (int, error) {
	const size = 512
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	codec := events.NewCodec()
	work := make(chan *peerBatch, 64)
	ordered := make(chan *peerBatch, 64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dec := codec.NewDecoder()
			for b := range work {
				b.decode(dec)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		cur := &peerBatch{done: make(chan struct{})}
		send := func() error {
			select {
			case ordered <- cur:
			case <-ctx.Done():
				return ctx.Err()
			}
			work <- cur
			cur = &peerBatch{done: make(chan struct{})}
			return nil
		}
		err := read(func(pos int64, body []byte) error {
			cur.pos, cur.bodies = append(cur.pos, pos), append(cur.bodies, body)
			if len(cur.bodies) < size {
				return nil
			}
			return send()
		})
		if err == nil && len(cur.bodies) > 0 {
			err = send()
		}
		readErr <- err
	}()
	n, err := applyBatches(set, ordered)
	cancel()
	for range ordered {
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && !errors.Is(rerr, context.Canceled) {
		err = rerr
	}
	return n, err
}

func (b *peerBatch) decode(dec *events.Decoder) {
	defer close(b.done)
	b.evs = make([][]events.Envelope, len(b.bodies))
	for i, body := range b.bodies {
		evs, err := dec.DecodeCommit(nil, body)
		for j := range evs {
			evs[j].Seq = uint64(b.pos[i])
			if err == nil {
				err = evs[j].Validate()
			}
		}
		if err != nil {
			b.err = fmt.Errorf("position %d: %w", b.pos[i], err)
			return
		}
		b.evs[i] = evs
	}
}

// applyBatches applies the batches' events in order until the channel
// closes or one fails.
func applyBatches(set *projections.Set, ordered <-chan *peerBatch) (int, error) {
	n := 0
	for b := range ordered {
		<-b.done
		if b.err != nil {
			return n, b.err
		}
		for _, evs := range b.evs {
			if err := applyEvents(set, evs); err != nil {
				return n, err
			}
			n += len(evs)
		}
	}
	return n, nil
}

// applyEvents applies one message's events, sequences set, to set.
func applyEvents(set *projections.Set, evs []events.Envelope) error {
	for j := range evs {
		e := &evs[j]
		if _, ok := e.Annuls(); ok {
			return fmt.Errorf("seq %d: a Correction needs the engine's refold; the bench applies none", e.Seq)
		}
		if err := set.Apply(*e); err != nil {
			return fmt.Errorf("seq %d: %w", e.Seq, err)
		}
	}
	return nil
}

// pgVersion is the server's version, short: "15.18 (Debian …)" → "15.18".
func pgVersion(v string) string {
	f, _, _ := strings.Cut(v, " ")
	return f
}

// postgres returns the run's PostgreSQL server, starting it the first
// time in the run's durability mode, and a pool of conns connections to
// it for the caller to close.
func (b *bencher) postgres(ctx context.Context, conns int) (*pgServer, *pgxpool.Pool, error) {
	if b.pg == nil {
		start := time.Now()
		pg, err := startPostgres(ctx, b.tmp, b.o.Durability, b.o.PeerConns)
		if err != nil {
			return nil, nil, err
		}
		b.pg = pg
		b.res.PeerVersion = pgVersion(pg.version)
		b.progress("postgres: PostgreSQL %s started in %s (not measured)", b.res.PeerVersion, time.Since(start).Round(time.Millisecond))
	}
	pool, err := b.pg.pool(ctx, conns)
	return b.pg, pool, err
}

// stopPeer stops the PostgreSQL server, if the run started one.
func (b *bencher) stopPeer() {
	if b.pg != nil {
		if err := b.pg.stop(); err != nil {
			b.progress("postgres: %v", err)
		}
		b.pg = nil
	}
}

// peerAppendSides returns the peers' append sides, or none when the run
// has no peer.
func (b *bencher) peerAppendSides(ctx context.Context, msgs []stored) ([]side, func(), error) {
	if b.o.Peer == "" {
		return nil, func() {}, nil
	}
	pg, pool, err := b.postgres(ctx, b.o.PeerConns)
	if err != nil {
		return nil, nil, err
	}
	pm := peerMsgs(msgs)
	var ss []side
	for _, p := range peers() {
		ss = append(ss, b.peerAppend(pg, pool, p, pm))
	}
	b.res.PeerConns = b.o.PeerConns
	return ss, pool.Close, nil
}

// peerReplaySides loads the template log s holds into the peers' tables
// and returns their replay sides, or none when the run has no peer.
func (b *bencher) peerReplaySides(ctx context.Context, s *engine.Store, t *template) ([]side, func(), error) {
	if b.o.Peer == "" {
		return nil, func() {}, nil
	}
	pg, pool, err := b.postgres(ctx, 1)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	if err := loadPeers(ctx, pg, pool, s, t.lastSeq); err != nil {
		pool.Close()
		return nil, nil, err
	}
	b.progress("replay: the log copied into PostgreSQL in %s (not measured)", time.Since(start).Round(time.Millisecond))
	var ss []side
	for _, p := range peers() {
		ss = append(ss, b.peerReplay(pool, p, t.events))
	}
	return ss, pool.Close, nil
}
