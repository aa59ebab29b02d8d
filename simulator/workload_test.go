package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

func TestWorkloadExecutes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded JetStream")
	}
	const n = 2000
	cmds := Workload(1, n)
	if len(cmds) != n {
		t.Fatalf("Workload(1, %d) gave %d commands", n, len(cmds))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	store, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir(), Durability: engine.Bulk})
	if err != nil {
		t.Fatalf("engine.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	types := map[events.Type]int{}
	for i, cmd := range cmds {
		res, err := store.Log().Execute(ctx, cmd)
		if err != nil {
			t.Fatalf("command %d (%s from %s): Execute: %v", i, describe(cmd), cmd.Source.System, err)
		}
		if res.Duplicate {
			t.Fatalf("command %d (%s): taken for a duplicate of an earlier one", i, describe(cmd))
		}
		for _, p := range cmd.Payloads {
			types[p.Type()]++
		}
	}
	for _, want := range []events.Type{
		events.TypePathwayOpened, events.TypePatientAdmitted, events.TypePatientDischarged, events.TypeHandoffOffered,
		events.TypeHandoffAccepted, events.TypeHandoffRejected, events.TypeDocumentSent, events.TypeDocumentAcknowledged,
		events.TypeDeadlineElapsed, events.TypeReadyForDischarge, events.TypePathwayClosed,
	} {
		if types[want] == 0 {
			t.Errorf("no %s among %d commands", want, n)
		}
	}
	t.Logf("event mix of %d commands: %v", n, types)
}

func describe(cmd events.Command) string {
	s := ""
	for _, p := range cmd.Payloads {
		s += string(p.Type()) + " "
	}
	return s
}

func TestWorkloadShape(t *testing.T) {
	a, b := Workload(7, 5000), Workload(7, 5000)
	opened, closed := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for i, cmd := range a {
		ja, _ := json.Marshal(cmd.Payloads)
		jb, _ := json.Marshal(b[i].Payloads)
		if !bytes.Equal(ja, jb) || cmd.Pathway != b[i].Pathway || cmd.Source != b[i].Source || !cmd.OccurredAt.Equal(b[i].OccurredAt) {
			t.Fatalf("command %d differs between two calls with seed 7", i)
		}
		if _, ok := cmd.Payloads[0].(*events.PathwayOpened); ok {
			opened[cmd.Pathway] = true
		} else if !opened[cmd.Pathway] {
			t.Fatalf("command %d (%s) comes before its pathway's opening", i, describe(cmd))
		}
		if closed[cmd.Pathway] {
			t.Fatalf("command %d (%s) comes after its pathway's close", i, describe(cmd))
		}
		if _, ok := cmd.Payloads[len(cmd.Payloads)-1].(*events.PathwayClosed); ok {
			closed[cmd.Pathway] = true
		}
		for _, p := range cmd.Payloads {
			if err := p.Validate(); err != nil {
				t.Fatalf("command %d: %s: %v", i, p.Type(), err)
			}
		}
		if i > 0 && cmd.OccurredAt.Before(a[i-1].OccurredAt) {
			t.Fatalf("command %d at %s is before the one before it", i, cmd.OccurredAt)
		}
	}
}

func BenchmarkWorkload(b *testing.B) {
	for b.Loop() {
		Workload(1, 10000)
	}
}
