package engine

import (
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/events"
)

// publishBatch appends several messages atomically with JetStream's atomic
// batch publish (server 2.12+): all are stored or none. Only the first
// message may carry the concurrency expectation.
func (s *Store) publishBatch(ctx context.Context, msgs []*nats.Msg, expectedLast uint64, filter string) (*jetstream.PubAck, error) {
	if len(msgs) > 1000 {
		return nil, &events.ValidationError{Field: "data", Reason: "more than 1000 events in one command"}
	}
	id := uuid.NewString()
	for i, m := range msgs {
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
	}
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expectedLast, 10))
	msgs[0].Header.Set("Nats-Expected-Last-Subject-Sequence-Subject", filter)
	last := msgs[len(msgs)-1]
	last.Header.Set("Nats-Batch-Commit", "1")
	for _, m := range msgs[:len(msgs)-1] {
		// No reply: the commit's answer covers the whole batch, and a lost
		// message makes the commit fail as incomplete.
		if err := s.nc.PublishMsg(m); err != nil {
			return nil, err
		}
	}
	reply, err := s.nc.RequestMsgWithContext(ctx, last)
	if err != nil {
		return nil, err
	}
	var resp struct {
		jetstream.PubAck
		Error *jetstream.APIError `json:"error,omitempty"`
	}
	if err := json.Unmarshal(reply.Data, &resp); err != nil {
		return nil, fmt.Errorf("batch commit reply: %w", err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return &resp.PubAck, nil
}

// stateCache keeps the write-side state of recently used pathways, so a
// command on a pathway that was just written needs no load. Bounded, least
// recently used out first.
type stateCache struct {
	mu    sync.Mutex
	max   int
	order *list.List
	items map[uuid.UUID]*list.Element
}

type cached struct {
	id uuid.UUID
	p  *events.Pathway
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, order: list.New(), items: make(map[uuid.UUID]*list.Element)}
}

func (c *stateCache) get(id uuid.UUID) *events.Pathway {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cached).p
	}
	return nil
}

func (c *stateCache) put(id uuid.UUID, p *events.Pathway) {
	if id == uuid.Nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		el.Value.(*cached).p = p
		c.order.MoveToFront(el)
		return
	}
	c.items[id] = c.order.PushFront(&cached{id, p})
	for c.order.Len() > c.max {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.items, old.Value.(*cached).id)
	}
}

func (c *stateCache) drop(id uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
}
