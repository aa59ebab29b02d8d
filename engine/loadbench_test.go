package engine_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

// BenchmarkLoad compares, on one store, loading a pathway of 10 events
// among 5 000 interleaved pathways by following each message's link to
// the previous one (what Load does) with reading next-by-subject.
func BenchmarkLoad(b *testing.B) {
	s := benchStore(b, engine.Bulk)
	ctx := context.Background()
	const pathways, per = 5000, 10
	ids := make([]uuid.UUID, pathways)
	for i := range ids {
		ids[i] = events.NewID()
	}
	ref := patient(b, "0102030405")
	for r := range per {
		for _, id := range ids {
			var p events.Payload = &events.DocumentSent{Document: fmt.Sprint(r), Kind: events.CareCommunication, From: hospital, To: aarhus}
			if r == 0 {
				p = &events.PathwayOpened{Patient: ref, Cluster: "aarhus"}
			}
			if _, err := s.Log().Execute(ctx, cmd(id, hospital, t0, p)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("linked", func(b *testing.B) {
		for i := range b.N {
			if h, err := s.Log().Load(ctx, ids[i%pathways]); err != nil || len(h) != per {
				b.Fatalf("got %d events, %v", len(h), err)
			}
		}
	})
	b.Run("scan-by-subject", func(b *testing.B) {
		st, err := natstest.JetStream(b, s.NATS().Conn()).Stream(ctx, engine.EventStream)
		if err != nil {
			b.Fatal(err)
		}
		for i := range b.N {
			n := 0
			for seq := uint64(1); ; seq++ {
				m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(engine.PathwayFilter(ids[i%pathways])))
				if err != nil {
					break
				}
				seq = m.Sequence
				n++
			}
			if n != per {
				b.Fatalf("got %d", n)
			}
		}
	})
}
