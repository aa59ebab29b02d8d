package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/events"
)

// TestCheckpointPullNotAnswered: a checkpoint's read of the log whose pull
// requests the server answers with "no responders" acts on the answer at
// once, and a stop's checkpoint gives up within its bound and says what
// it left unsigned. On a cluster that answer comes when a pull request
// reaches a server that does not know its new consumer yet (scanLog);
// here a subject mapping sends every pull request of the event stream
// where nothing listens, so the embedded server answers every one so. The
// ordered consumer this read used before waited two missed heartbeats,
// 10 s, after each answer.
func TestCheckpointPullNotAnswered(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, logs := openLogged(ctx, t)
	for i := range 3 {
		c := events.Command{Pathway: events.NewID(), Actor: events.Actor{Org: "sor:6620000000001"}, OccurredAt: time.Now(),
			Payloads: []events.Payload{&events.PathwayOpened{Patient: events.PatientRef(fmt.Sprintf("p%032x", i)), Cluster: "aarhus", Municipality: "kommune:0751"}}}
		if _, err := s.Log().Execute(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	acc, err := s.ns.LookupAccount(AccountStafet)
	if err != nil {
		t.Fatal(err)
	}
	next := "$JS.API.CONSUMER.MSG.NEXT." + EventStream + ".*"
	if err := acc.AddMapping(next, "stafet.unanswered.{{wildcard(1)}}"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = s.Log().Checkpoint(cctx)
	ccancel()
	if took := time.Since(start); err == nil || took > 3*time.Second {
		t.Fatalf("checkpoint with every pull request unanswered: %v after %v; want an error within 3 s", err, took)
	}
	if !strings.Contains(err.Error(), "503") {
		t.Errorf("checkpoint with every pull request unanswered: %v; want the server's answer (503) named", err)
	}

	stopped, stop := context.WithCancel(ctx)
	stop()
	start = time.Now()
	s.Log().RunCheckpoints(stopped)
	if took := time.Since(start); took > stopCheckpointWait+time.Second {
		t.Errorf("the checkpoint at a stop took %v; want at most %v", took, stopCheckpointWait)
	}
	if !strings.Contains(logs.String(), "checkpoint at shutdown skipped") || !strings.Contains(logs.String(), "signed_through=0") {
		t.Errorf("no line saying what the stop's checkpoint left unsigned; logs:\n%s", logs.String())
	}

	// Answered again, the log is signed through its end.
	acc.RemoveMapping(next)
	c, err := s.Log().Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.Log().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.To != last || c.N != 1 {
		t.Errorf("checkpoint %d through %d; want checkpoint 1 through %d", c.N, c.To, last)
	}
}
