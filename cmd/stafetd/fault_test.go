package main

// The fault tests of issue 8: each TestFault… breaks something under load
// (a NATS node, a stafetd process, the timing of two writers, the
// scheduler's instance) and checks what an operator is promised in
// docs/operations.md: nothing acknowledged is lost, nothing is appended
// twice, the pathway rules hold, projections converge. Each prints its
// figures (t.Logf); docs/operations.md "Fault tests and their figures"
// records them from this machine kind.
//
// Tests 2 and 3 kill a real stafetd process: TestMain runs this test
// binary as stafetd when faulttest.ChildEnv is 1, configured by the
// STAFET_* environment like the real binary. The harness — the child
// process, the HL7 load and its ledger, the tally of the log — is
// internal/faulttest; this file holds the scenarios.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/natstest"
	"github.com/stafet/stafet/internal/settings"
)

func TestMain(m *testing.M) {
	if os.Getenv(faulttest.ChildEnv) == "1" {
		os.Exit(runAsStafetd())
	}
	os.Exit(m.Run())
}

// runAsStafetd is main() for a child process: the configuration comes
// from the STAFET_* environment, and once serving it prints its addresses
// on stdout for the parent.
func runAsStafetd() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := settings.Parse(nil, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "stafetd:", err)
		return 2
	}
	started := make(chan *service, 1)
	go func() {
		select {
		case svc := <-started:
			fmt.Printf("ready mllp=%s http=%s\n", addrString(svc.mllpAddr), addrString(svc.httpAddr))
		case <-ctx.Done():
		}
	}()
	if err := run(ctx, cfg, os.Stderr, started); err != nil {
		fmt.Fprintln(os.Stderr, "stafetd:", err)
		return 1
	}
	return 0
}

// startInstance is startService for the fault tests: stafetd in-process,
// configured by env (over the defaults of startService), returned once its
// projections have caught up. stop stops it gracefully; the test's end
// stops it too. Projections that stop at start fail the test: the host
// retries passing start-up errors itself.
func startInstance(t *testing.T, env map[string]string) (svc *service, stop func()) {
	t.Helper()
	svc, stop = startOnce(t, env)
	if waitHostReady(t, svc) {
		t.Fatal("the projections stopped at start")
	}
	return svc, stop
}

// waitHostReady waits until a service's projections have caught up with
// the log as it stood at start, or have stopped (failed).
func waitHostReady(t *testing.T, svc *service) (failed bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case <-svc.host.Ready():
			return false
		case <-deadline:
			t.Fatal("projections not ready in 20s")
		case <-time.After(20 * time.Millisecond):
		}
		if svc.host.Status().State == engine.Stopped {
			return true
		}
	}
}

func startOnce(t *testing.T, env map[string]string) (svc *service, stop func()) {
	t.Helper()
	vars := map[string]string{
		"STAFET_DATA_DIR": t.TempDir(), "STAFET_HTTP_ADDR": "127.0.0.1:0", "STAFET_MLLP_ADDR": "127.0.0.1:0",
		"STAFET_NATS_ADDR": "127.0.0.1:0", "STAFET_LOG_LEVEL": "warn", "STAFET_DRAIN": "2s",
	}
	for k, v := range env {
		vars[k] = v
	}
	faulttest.WithKeyDir(vars)
	cfg, err := settings.Parse(nil, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &faulttest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("FAULT_LOGS") != "" {
			t.Logf("log of stafetd %s:\n%s", vars["STAFET_DATA_DIR"], logs)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *service, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logs, started) }()
	select {
	case svc = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("stafetd stopped: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("stafetd did not start in 30s")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("stafetd: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("stafetd did not stop in 30s")
			}
		})
	}
	t.Cleanup(stop)
	return svc, stop
}

const faultAdminToken = "fault-test-operator-token-0123456789"

// clusterEnv is the configuration of a stafetd instance on an external
// NATS (cluster) with replicated streams.
func clusterEnv(t *testing.T, url, secret string, replicas int) map[string]string {
	orgs, err := filepath.Abs("testdata/organisations.json")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"STAFET_NATS_URL": url, "STAFET_REPLICAS": fmt.Sprint(replicas), "STAFET_SECRET_FILE": secret,
		// Every instance of the deployment shares its keys.
		"STAFET_KEY_DIR":     filepath.Join(filepath.Dir(secret), "keys"),
		"STAFET_ADMIN_TOKEN": faultAdminToken, "STAFET_NATS_ADDR": "none", "STAFET_ORGANISATIONS": orgs,
		"STAFET_DRAIN": "2s",
	}
}

func startCluster(t *testing.T) *natstest.Cluster {
	t.Helper()
	start := time.Now()
	c, err := natstest.Start(natstest.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Shutdown)
	// stafetd's start-up calls have 5 s timeouts and not all of them
	// retry (see startInstance).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReplicated(ctx, 3); err != nil {
		t.Fatal(err)
	}
	t.Logf("3-node NATS cluster ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// startPair starts a 3-node cluster and two stafetd instances on it,
// replicas 3, and waits until both have their projections ready.
func startPair(t *testing.T) (cluster *natstest.Cluster, env map[string]string, a, b *service, stopA func()) {
	t.Helper()
	cluster = startCluster(t)
	env = clusterEnv(t, cluster.URL(), faulttest.Secret(t), 3)
	a, stopA = startInstance(t, env)
	b, _ = startInstance(t, env)
	return cluster, env, a, b, stopA
}

// projectionBytes returns a service's projection state, byte for byte.
func projectionBytes(t *testing.T, svc *service) []byte {
	t.Helper()
	var b []byte
	var err error
	svc.host.Read(func(engine.Projection) { b, err = svc.set.Snapshot() })
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- 1 ---

// TestFaultStreamLeaderLoss kills the NATS node leading STAFET_EVENTS
// while two stafetd instances take a steady HL7 load, and brings it back:
// every acknowledged message is in the log once, nothing is stored twice,
// and the projections of both instances end byte for byte the same.
func TestFaultStreamLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cluster, _, a, b, _ := startPair(t)

	ld := faulttest.NewLoad(ctx)
	for i := range 8 {
		// Half the senders start on each instance.
		targets := faulttest.Fixed(a.mllpAddr.String(), b.mllpAddr.String())
		if i%2 == 1 {
			targets = faulttest.Fixed(b.mllpAddr.String(), a.mllpAddr.String())
		}
		ld.Add("L", targets, 3*time.Second, 80*time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	leader := cluster.StreamLeader(engine.EventStream)
	if leader < 0 {
		t.Fatal("no stream leader")
	}
	sentBefore, ackedBefore := ld.Ledger.Counts()
	killed := time.Now()
	cluster.Kill(leader)
	t.Logf("killed node %d (leader of %s) after %d messages sent, %d acknowledged", leader+1, engine.EventStream, sentBefore, ackedBefore)
	time.Sleep(3 * time.Second)
	newLeader := cluster.StreamLeader(engine.EventStream)
	restarted := time.Now()
	if err := cluster.Restart(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("node %d back after %v (new leader node %d); restart took %v", leader+1, restarted.Sub(killed).Round(time.Millisecond), newLeader+1, time.Since(restarted).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond)
	ld.Finish()
	loadEnd := time.Now()

	last := faulttest.Settle(ctx, t, a.store, a.host, b.host)
	settled := time.Now()
	got := faulttest.ReadLog(ctx, t, a.store)
	t.Logf("settled %v after the load; log read in %v", settled.Sub(loadEnd).Round(time.Millisecond), time.Since(settled).Round(time.Millisecond))
	found := got.Check(t, ld.Ledger)
	discharges := got.CheckOffers(t, ld.Ledger)
	recovered, ok := ld.Ledger.Recovery(killed)
	if !ok {
		t.Errorf("a sender got no AA after the leader was killed")
	}
	sa, sb := projectionBytes(t, a), projectionBytes(t, b)
	if !bytes.Equal(sa, sb) {
		t.Errorf("projections differ at seq %d: %d bytes on instance a, %d on b; want the same bytes", last, len(sa), len(sb))
	}
	l := ld.Ledger
	t.Logf("sent %d HL7 messages (%d attempts: %d resends after %d ACK timeouts and %d 'resend' answers), acknowledged %d, found %d, duplicated %d, rejected %d",
		len(l.Sent), l.Attempts, l.Resends, l.Timeouts, l.Refused, len(l.Acked), found, len(got.Duplicated()), len(l.Rejected))
	t.Logf("log: %d events in %d messages; %d offers implied by %d discharges; %d messages in flight at the end of the load",
		got.Events, last, got.ByType[events.TypeHandoffOffered], discharges, len(l.Unacked()))
	t.Logf("time to recover (kill to every sender's next AA) %v; longest wait for one AA %v; load ran %v",
		recovered.Round(time.Millisecond), l.MaxWait.Round(time.Millisecond), loadEnd.Sub(killed.Add(-1500*time.Millisecond)).Round(time.Millisecond))
	t.Logf("projections: both instances applied seq %d; snapshots %d bytes, equal %v", last, len(sa), bytes.Equal(sa, sb))
}

// --- 2 ---

// TestFaultInstanceKilledMidIngest kills (SIGKILL) one of two stafetd
// processes on a 3-node cluster while senders have MLLP connections open
// to it. The senders resend what got no ACK to the other instance; the
// killed one is restarted and takes traffic again. Afterwards every
// message sent is in the log once.
func TestFaultInstanceKilledMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster and a stafetd process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cluster := startCluster(t)
	env := clusterEnv(t, cluster.URL(), faulttest.Secret(t), 3)
	started := time.Now()
	a := faulttest.StartChild(t, env)
	t.Logf("stafetd process a serving in %v", time.Since(started).Round(time.Millisecond))
	b, _ := startInstance(t, env)

	var mu sync.Mutex
	aAddr := a.MLLP
	toA := func() []string { // a first, then b
		mu.Lock()
		defer mu.Unlock()
		return []string{aAddr, b.mllpAddr.String()}
	}
	ld := faulttest.NewLoad(ctx)
	var onA []int
	for range 6 {
		onA = append(onA, ld.Add("K", toA, 3*time.Second, 20*time.Millisecond))
	}
	ld.Add("K", faulttest.Fixed(b.mllpAddr.String()), 3*time.Second, 20*time.Millisecond)
	time.Sleep(1500 * time.Millisecond)

	sentBefore, ackedBefore := ld.Ledger.Counts()
	inFlight := len(ld.Ledger.Unacked())
	killed := time.Now()
	a.Kill()
	t.Logf("SIGKILLed process a after %d messages sent, %d acknowledged, %d in flight", sentBefore, ackedBefore, inFlight)
	time.Sleep(time.Second)
	restarted := time.Now()
	a2 := faulttest.StartChild(t, env)
	mu.Lock()
	aAddr = a2.MLLP
	mu.Unlock()
	back := time.Since(restarted)
	// New connections reach the restarted process.
	for range 2 {
		onA = append(onA, ld.Add("K", toA, 3*time.Second, 20*time.Millisecond))
	}
	time.Sleep(1500 * time.Millisecond)
	ld.Finish()

	last := faulttest.Settle(ctx, t, b.store, b.host)
	got := faulttest.ReadLog(ctx, t, b.store)
	found := got.Check(t, ld.Ledger)
	discharges := got.CheckOffers(t, ld.Ledger)
	l := ld.Ledger
	if un := l.Unacked(); len(un) > 0 {
		t.Errorf("%d messages never acknowledged after resends, e.g. %v", len(un), un[:min(len(un), 5)])
	}
	if found != len(l.Sent) {
		t.Errorf("found %d of the %d messages sent; want all", found, len(l.Sent))
	}
	recovered, ok := l.Recovery(killed, onA[:6]...)
	if !ok {
		t.Error("a sender of process a got no AA after the kill")
	}
	t.Logf("sent %d HL7 messages over %d connections (%d attempts, %d resends, %d ACK timeouts), acknowledged %d, found %d, duplicated %d, rejected %d",
		len(l.Sent), ld.Senders.Load(), l.Attempts, l.Resends, l.Timeouts, len(l.Acked), found, len(got.Duplicated()), len(l.Rejected))
	t.Logf("time to recover: every sender of process a had its next AA (from b) %v after the kill; process a serving again %v after its restart began",
		recovered.Round(time.Millisecond), back.Round(time.Millisecond))
	t.Logf("log: %d events in %d messages; %d offers implied by %d discharges", got.Events, last, got.ByType[events.TypeHandoffOffered], discharges)
}

// --- 3 ---

// TestFaultSIGKILLUnderLoad kills (SIGKILL) a single-node stafetd with its
// embedded NATS, safe durability, under MLLP load, and restarts it on the
// same data directory: every message acknowledged AA is in the log. The
// messages in flight at the kill are then resent and appended once.
func TestFaultSIGKILLUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stafetd process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	orgs, _ := filepath.Abs("testdata/organisations.json")
	env := map[string]string{
		"STAFET_DATA_DIR": t.TempDir(), "STAFET_DURABILITY": "safe", "STAFET_NATS_ADDR": "none",
		"STAFET_ORGANISATIONS": orgs, "STAFET_ADMIN_TOKEN": faultAdminToken,
	}
	c := faulttest.StartChild(t, env)
	ld := faulttest.NewLoad(ctx)
	for range 8 {
		ld.Add("S", faulttest.Fixed(c.MLLP), 5*time.Second, 0)
	}
	time.Sleep(2 * time.Second)
	killed := time.Now()
	c.Kill()
	ld.Abort()
	ld.Finish()
	l := ld.Ledger
	acked := len(l.Acked)
	inFlight := l.Unacked()

	svc, _ := startInstance(t, env)
	recovered := time.Since(killed)
	got := faulttest.ReadLog(ctx, t, svc.store)
	found := got.Check(t, l)
	landed := 0
	for _, id := range inFlight {
		if _, ok := got.HL7[id]; ok {
			landed++
		}
	}

	// The senders resend what got no ACK.
	resender := &faulttest.Sender{Targets: faulttest.Fixed(svc.mllpAddr.String()), AckTimeout: 5 * time.Second, Ledger: l}
	defer resender.Close()
	for _, id := range inFlight {
		if !resender.Send(ctx, faulttest.Msg{ID: id, Body: l.Bodies[id]}) {
			t.Fatalf("resend of %s not acknowledged", id)
		}
	}
	faulttest.Settle(ctx, t, svc.store, svc.host)
	after := faulttest.ReadLog(ctx, t, svc.store)
	foundAfter := after.Check(t, l)
	if foundAfter != len(l.Sent) {
		t.Errorf("after the resends %d of %d messages are in the log; want all", foundAfter, len(l.Sent))
	}
	t.Logf("sent %d HL7 messages over 8 connections in 2s (safe durability), acknowledged %d before the SIGKILL, found %d of them after restart (missing %d), duplicated %d",
		len(l.Sent), acked, found-landed, acked-(found-landed), len(got.Duplicated()))
	t.Logf("in flight at the kill %d: %d had landed without an ACK; resent after restart, all %d appended once (duplicated %d)",
		len(inFlight), landed, len(inFlight), len(after.Duplicated()))
	t.Logf("time to recover (SIGKILL to restarted stafetd serving with projections caught up) %v; log %d events", recovered.Round(time.Millisecond), after.Events)
}

// --- 4 ---

// apiProblem is the part of an API problem the tests read.
type apiProblem struct {
	Type string `json:"type"`
	Rule string `json:"rule"`
}

// postCommand posts a command as the operator acting for actor; it retries
// while the answer is 409 conflict ("the pathway changed concurrently,
// retry"), as a client should, and counts those retries.
func postCommand(ctx context.Context, t *testing.T, base, path string, body map[string]any, key string, retries *atomic.Int64) (int, apiProblem) {
	t.Helper()
	for {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+faultAdminToken)
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("POST %s: %v", path, err)
			return 0, apiProblem{}
		}
		var p apiProblem
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode == http.StatusConflict && strings.HasSuffix(p.Type, "/conflict") && ctx.Err() == nil {
			retries.Add(1)
			continue
		}
		return resp.StatusCode, p
	}
}

const (
	faultHospital = "sor:100011000016001"
	faultKommune  = "kommune:0751"
)

// TestFaultRaceOnOnePathway has two stafetd instances on a 3-node cluster
// race commands on one pathway: the addressee accepts an offer through one
// instance while rejecting it through the other (exactly one answer may
// win, the other must meet rule offer-not-pending), and documents are sent
// concurrently through both, each twice (a resend racing its original).
// The pathway rules hold and everything lands once.
func TestFaultRaceOnOnePathway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	// Generous: 25 rounds and 120 documents through a 3-node cluster take
	// 10-20 s on a quiet machine; at a load of 20 on two cores 40 s ran
	// out (context deadline exceeded) with nothing wrong.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, a, b, _ := startPair(t)
	bases := []string{"http://" + a.httpAddr.String(), "http://" + b.httpAddr.String()}
	var retries atomic.Int64

	var opened struct {
		Pathway string `json:"pathway"`
	}
	if code := apiJSON(t, "POST", bases[0]+"/v1/pathways", faultAdminToken, map[string]any{
		"actor": faultHospital, "patient": map[string]string{"cpr": "0102030405"}, "municipality": faultKommune,
	}, &opened); code != http.StatusCreated {
		t.Fatalf("open pathway: got %d; want 201", code)
	}
	pw := "/v1/pathways/" + opened.Pathway
	start := time.Now()

	// Documents: each sent through both instances at once with the same
	// id and idempotency key, while the offers race below.
	const docs = 60
	var docWG sync.WaitGroup
	var docAcked, docDup atomic.Int64
	docQueue := make(chan int)
	for range 6 {
		docWG.Add(1)
		go func() {
			defer docWG.Done()
			for i := range docQueue {
				var wg sync.WaitGroup
				for _, base := range bases {
					wg.Add(1)
					go func() {
						defer wg.Done()
						code, p := postCommand(ctx, t, base, pw+"/documents", map[string]any{
							"actor": faultHospital, "document": fmt.Sprintf("doc-%d", i), "kind": "care-communication", "to": faultKommune,
						}, fmt.Sprintf("doc-%d", i), &retries)
						switch code {
						case http.StatusCreated:
							docAcked.Add(1)
						case http.StatusOK:
							docAcked.Add(1)
							docDup.Add(1)
						default:
							t.Errorf("document %d: got %d %+v; want 201 or 200", i, code, p)
						}
					}()
				}
				wg.Wait()
			}
		}()
	}
	go func() {
		defer close(docQueue)
		for i := range docs {
			select {
			case docQueue <- i:
			case <-ctx.Done():
				return
			}
		}
	}()

	// Offers: accept through one instance, reject through the other, at
	// the same moment; the offer is made through either.
	const rounds = 25
	name := map[string]string{bases[0]: "a", bases[1]: "b"}
	winners := map[string]string{}
	var acceptWins, rejectWins, lostByRule int
	var wrongRule []string
	// rule checks a command that must succeed; a pathway rule refusing it
	// can only come from a stale view of the pathway.
	rule := func(what, base string, code int, p apiProblem) bool {
		if code == http.StatusCreated {
			return true
		}
		if p.Rule != "" {
			wrongRule = append(wrongRule, fmt.Sprintf("%s through instance %s: 409 %s", what, name[base], p.Rule))
		} else {
			t.Errorf("%s through instance %s: got %d %+v; want 201", what, name[base], code, p)
		}
		return false
	}
	for r := range rounds {
		offer := fmt.Sprintf("race-%d", r)
		acc, rej := bases[r/2%2], bases[(r/2+1)%2]
		code, p := postCommand(ctx, t, bases[r%2], pw+"/offers", map[string]any{
			"actor": faultHospital, "offer": offer, "to": faultKommune, "what": "home-care",
		}, "", &retries)
		if !rule("offer "+offer, bases[r%2], code, p) {
			continue
		}
		var wg sync.WaitGroup
		var accCode, rejCode int
		var accP, rejP apiProblem
		ready := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-ready
			accCode, accP = postCommand(ctx, t, acc, pw+"/offers/"+offer+"/accept", map[string]any{"actor": faultKommune}, "", &retries)
		}()
		go func() {
			defer wg.Done()
			<-ready
			rejCode, rejP = postCommand(ctx, t, rej, pw+"/offers/"+offer+"/reject", map[string]any{"actor": faultKommune, "reason": "no capacity"}, "", &retries)
		}()
		close(ready)
		wg.Wait()
		loser, loserBase, loserCode, loserP := "reject", rej, rejCode, rejP
		switch {
		case accCode == http.StatusCreated && rejCode == http.StatusCreated:
			t.Errorf("offer %s: accepted and rejected, both appended; want exactly one answer", offer)
			continue
		case accCode == http.StatusCreated:
			winners[offer] = "accepted"
			acceptWins++
		case rejCode == http.StatusCreated:
			winners[offer] = "rejected"
			rejectWins++
			loser, loserBase, loserCode, loserP = "accept", acc, accCode, accP
		default:
			t.Errorf("offer %s: accept got %d %+v, reject got %d %+v; want one of them 201", offer, accCode, accP, rejCode, rejP)
			continue
		}
		switch {
		case loserCode == http.StatusConflict && loserP.Rule == "offer-not-pending":
			lostByRule++
		case loserCode == http.StatusConflict && loserP.Rule != "":
			wrongRule = append(wrongRule, fmt.Sprintf("%s of %s through instance %s: 409 %s", loser, offer, name[loserBase], loserP.Rule))
		default:
			t.Errorf("offer %s: the losing %s got %d %+v; want 409 offer-not-pending", offer, loser, loserCode, loserP)
		}
		if winners[offer] == "accepted" {
			// Hand home care back so the next round can offer it again.
			for _, base := range []string{rej, acc} {
				code, p := postCommand(ctx, t, base, pw+"/release", map[string]any{"actor": faultKommune, "what": "home-care"}, "", &retries)
				if rule("release after "+offer, base, code, p) {
					break
				}
			}
		}
	}
	docWG.Wait()
	raced := time.Since(start)

	faulttest.Settle(ctx, t, a.store, a.host, b.host)
	history, err := a.store.Log().Load(ctx, uuid.MustParse(opened.Pathway))
	if err != nil {
		t.Fatal(err)
	}
	docsFound := map[string]int{}
	answers := map[string][]string{}
	for _, e := range history {
		switch v := e.Payload.(type) {
		case *events.DocumentSent:
			docsFound[v.Document]++
		case *events.HandoffAccepted:
			answers[v.Offer] = append(answers[v.Offer], "accepted")
		case *events.HandoffRejected:
			answers[v.Offer] = append(answers[v.Offer], "rejected")
		}
	}
	for offer, want := range winners {
		if got := answers[offer]; len(got) != 1 || got[0] != want {
			t.Errorf("offer %s: answers in the log %v; want [%s] (the answer that got 201)", offer, got, want)
		}
	}
	docDups := 0
	for i := range docs {
		switch n := docsFound[fmt.Sprintf("doc-%d", i)]; {
		case n == 0:
			t.Errorf("doc-%d: not in the log; want once", i)
		case n > 1:
			docDups += n - 1
			t.Errorf("doc-%d: %d times in the log; want once", i, n)
		}
	}
	if dups := faulttest.ReadLog(ctx, t, a.store).Duplicated(); len(dups) > 0 {
		t.Errorf("source messages stored twice: %v", dups)
	}
	conflicts := a.store.Log().Stats().Conflicts.Load() + b.store.Log().Stats().Conflicts.Load()
	if len(wrongRule) > 0 {
		t.Errorf("%d commands refused by a pathway rule that did not apply, e.g. %q: the instance decided on its cached state of the pathway, "+
			"which misses the other instance's appends; engine.Store.Execute returns a rule error decided on cached state without reloading "+
			"(only an append meets the concurrency check)", len(wrongRule), wrongRule[:min(len(wrongRule), 5)])
	}
	t.Logf("offers: %d rounds of accept (one instance) against reject (the other): accept won %d, reject won %d; losers refused with 409 offer-not-pending %d; commands refused by a rule that did not apply (stale cache) %d",
		rounds, acceptWins, rejectWins, lostByRule, len(wrongRule))
	t.Logf("documents: %d sent twice each through both instances at once (%d requests), acknowledged %d (%d as duplicates), found %d, duplicated %d",
		docs, 2*docs, docAcked.Load(), docDup.Load(), len(docsFound), docDups)
	t.Logf("concurrency: %d appends decided again after meeting the other instance's write, %d client retries after 409 conflict; races took %v",
		conflicts, retries.Load(), raced.Round(time.Millisecond))
}

// TestFaultRaceOnNewPatient sends the first message of each of many new
// patients to two stafetd instances at once (a resend racing its
// original): both try to reserve and open the patient's pathway. Each
// message must be acknowledged and appended once, in one pathway per
// patient.
func TestFaultRaceOnNewPatient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	// Generous: 25 rounds and 120 documents through a 3-node cluster take
	// 10-20 s on a quiet machine; at a load of 20 on two cores 40 s ran
	// out (context deadline exceeded) with nothing wrong.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, _, a, b, _ := startPair(t)
	const rounds, patients = 3, 100
	ld := faulttest.NewLoad(ctx)
	start := time.Now()
	for r := range rounds {
		var wg sync.WaitGroup
		fire := make(chan struct{})
		for i := range patients {
			n := r*patients + i
			m := faulttest.ADT("A01", fmt.Sprintf("N%d", n), faulttest.CPR(900_000+n), fmt.Sprintf("N%d", n), faulttest.T0, nil)
			for _, addr := range []string{a.mllpAddr.String(), b.mllpAddr.String()} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := &faulttest.Sender{Targets: faulttest.Fixed(addr), AckTimeout: 5 * time.Second, Ledger: ld.Ledger}
					defer s.Close()
					<-fire
					s.Send(ctx, m)
				}()
			}
		}
		close(fire)
		wg.Wait()
	}
	raced := time.Since(start)
	faulttest.Settle(ctx, t, a.store, a.host, b.host)
	got := faulttest.ReadLog(ctx, t, a.store)
	found := got.Check(t, ld.Ledger)
	opens := got.ByType[events.TypePathwayOpened]
	if opens != rounds*patients {
		t.Errorf("got %d pathways opened; want %d, one per patient", opens, rounds*patients)
	}
	l := ld.Ledger
	t.Logf("%d new patients, the first message of each sent to both instances at once (%d sends in %v, %d of them resends after %v): acknowledged AA %d, refused %d, found %d, duplicated %d, pathways opened %d",
		rounds*patients, l.Attempts, raced.Round(time.Millisecond), l.Resends, l.ResendWhy, len(l.Acked), len(l.Rejected), found, len(got.Duplicated()), opens)
}

// --- 5 ---

// TestFaultDeadlineWhileDown stops the instance an offer was made through
// before the offer's deadline; the other instance (same cluster) records
// DeadlineElapsed once; the first, restarted, adds none.
func TestFaultDeadlineWhileDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	_, env, a, b, stopA := startPair(t)
	var retries atomic.Int64

	var opened struct {
		Pathway string `json:"pathway"`
	}
	if code := apiJSON(t, "POST", "http://"+a.httpAddr.String()+"/v1/pathways", faultAdminToken, map[string]any{
		"actor": faultHospital, "patient": map[string]string{"cpr": "0102030405"}, "municipality": faultKommune,
	}, &opened); code != http.StatusCreated {
		t.Fatalf("open pathway: got %d; want 201", code)
	}
	pathway := uuid.MustParse(opened.Pathway)
	// offer makes an offer through svc whose answer is due in d.
	offer := func(svc *service, id string, d time.Duration) time.Time {
		deadline := time.Now().Add(d).UTC().Truncate(time.Millisecond)
		if code, p := postCommand(ctx, t, "http://"+svc.httpAddr.String(), "/v1/pathways/"+opened.Pathway+"/offers", map[string]any{
			"actor": faultHospital, "offer": id, "to": faultKommune, "what": id, "deadline": deadline.Format(time.RFC3339Nano),
		}, "", &retries); code != http.StatusCreated {
			t.Fatalf("offer %s: got %d %+v; want 201", id, code, p)
		}
		return deadline
	}
	// elapsed returns the DeadlineElapsed events for a deadline.
	elapsed := func(deadline time.Time) []events.Envelope {
		history, err := b.store.Log().Load(ctx, pathway)
		if err != nil {
			t.Fatal(err)
		}
		var out []events.Envelope
		for _, e := range history {
			if v, ok := e.Payload.(*events.DeadlineElapsed); ok && v.Deadline.Equal(deadline) {
				out = append(out, e)
			}
		}
		return out
	}
	waitElapsed := func(deadline time.Time) []events.Envelope {
		for {
			if got := elapsed(deadline); len(got) > 0 {
				return got
			}
			if ctx.Err() != nil {
				t.Fatalf("no DeadlineElapsed for the deadline %v", deadline)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	deadline := offer(a, "home-care", 3*time.Second)
	faulttest.Settle(ctx, t, a.store, a.host, b.host)
	stopA()
	stopped := time.Now()
	if !stopped.Before(deadline) {
		t.Fatalf("instance a stopped %v after the deadline; want before", stopped.Sub(deadline))
	}
	got := waitElapsed(deadline)
	seen := time.Since(deadline)
	late := got[0].RecordedAt.Sub(deadline)

	restarted := time.Now()
	a2, _ := startInstance(t, env)
	back := time.Since(restarted)
	// A second offer falls due with both schedulers running.
	deadline2 := offer(a2, "home-nursing", 2*time.Second)
	waitElapsed(deadline2)
	// Give both schedulers (every second) a few more rounds.
	time.Sleep(2500 * time.Millisecond)
	faulttest.Settle(ctx, t, a2.store, a2.host, b.host)
	if got = elapsed(deadline); len(got) != 1 {
		t.Errorf("got %d DeadlineElapsed events for the deadline passed while instance a was down, after it restarted; want 1", len(got))
	}
	got2 := elapsed(deadline2)
	if len(got2) != 1 {
		t.Errorf("got %d DeadlineElapsed events for the deadline passed with both instances up; want 1", len(got2))
	}
	all := faulttest.ReadLog(ctx, t, b.store)
	if dups := all.Duplicated(); len(dups) > 0 {
		t.Errorf("source messages stored twice: %v", dups)
	}
	t.Logf("deadline %v after instance a stopped: instance b recorded DeadlineElapsed %v after it (seen in the log %v after); after a's restart (projections ready in %v) DeadlineElapsed events for it: %d",
		deadline.Sub(stopped).Round(time.Millisecond), late.Round(time.Millisecond), seen.Round(time.Millisecond), back.Round(time.Millisecond), len(got))
	t.Logf("deadline with both instances up: DeadlineElapsed events %d; scheduler attempts recognised as duplicates: a %d, b %d; source messages duplicated %d",
		len(got2), a2.store.Log().Stats().Duplicates.Load(), b.store.Log().Stats().Duplicates.Load(), len(all.Duplicated()))
}

// --- found while writing these tests ---
