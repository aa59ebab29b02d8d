package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
)

func TestClusterR3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	c, err := natstest.Start(natstest.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	secret, keys := []byte("0123456789abcdef0123456789abcdef"), t.TempDir()
	a := openStore(t, engine.Config{URL: c.URL(), Replicas: 3, Secret: secret, KeyDir: keys})
	b := openStore(t, engine.Config{URL: c.URL(), Replicas: 3, Secret: secret, KeyDir: keys})
	ctx := context.Background()
	pw := admitted(t, a)
	if _, err := b.Log().Execute(ctx, cmd(pw, aarhus, t0.Add(time.Hour), &events.HandoffAccepted{Offer: "o1", By: aarhus})); err != nil {
		t.Fatal(err)
	}
	h, err := a.Log().Load(ctx, pw)
	if err != nil || len(h) != 4 {
		t.Fatalf("got %d events, %v; want 4 through either instance", len(h), err)
	}
	leader := c.StreamLeader(engine.EventStream)
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	c.Kill(leader)
	// The two remaining nodes elect a new leader; appends go on.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := a.Log().Execute(ctx, cmd(pw, hospital, t0.Add(2*time.Hour), &events.DischargeExpected{Hospital: hospital, Expected: t0.Add(48 * time.Hour)}))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no append after the leader died: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
}
