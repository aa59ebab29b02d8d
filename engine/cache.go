package engine

import (
	"container/list"
	"sync"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

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
	// head is the link of the pathway's last message (chain.go).
	head Link
}

func newStateCache(max int) *stateCache {
	return &stateCache{max: max, order: list.New(), items: make(map[uuid.UUID]*list.Element)}
}

func (c *stateCache) get(id uuid.UUID) (*events.Pathway, Link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cached)
		return e.p, e.head
	}
	return nil, Link{}
}

func (c *stateCache) put(id uuid.UUID, p *events.Pathway, head Link) {
	if id == uuid.Nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		e := el.Value.(*cached)
		e.p, e.head = p, head
		c.order.MoveToFront(el)
		return
	}
	c.items[id] = c.order.PushFront(&cached{id, p, head})
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
