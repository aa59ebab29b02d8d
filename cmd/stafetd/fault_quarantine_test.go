package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/simulator"
)

// --- 8 ---

// TestFaultQuarantine writes three messages stafetd cannot take in into
// the event stream, with stafetd's own NATS credentials, while the
// simulator drives a stafetd process: garbage on a subject that names no
// pathway, an event of a type this build does not know on a real
// pathway (as a newer version would write it), and a Correction that
// makes the projections' refold fail. The service stays up; messages sent
// after them show their gaps within a second; /readyz says degraded and
// names the three sequences; the pathways carry integrity gaps their
// parties see; the metrics count them; and the same holds on a second
// instance, byte for byte, and after a restart (SIGTERM, which logs one
// line per component).
func TestFaultQuarantine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts stafetd processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const scale = 600
	common := simulatorFiles(t, t.TempDir(), scale)
	common["STAFET_ADMIN_TOKEN"], common["STAFET_SECRET_FILE"], common["STAFET_DURABILITY"] = faultAdminToken, faulttest.Secret(t), "bulk"

	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	// Instance b runs in this process and holds the NATS server; process
	// a connects to it as stafetd's own user, as a second instance does.
	bDir := t.TempDir()
	port := strconv.Itoa(freePort(t))
	b, _ := startInstance(t, with(map[string]string{"STAFET_DATA_DIR": bDir, "STAFET_NATS_ADDR": "127.0.0.1:" + port}))
	natsURL, key := "nats://127.0.0.1:"+port, engine.StafetdKeyFile(bDir)
	envA := with(map[string]string{"STAFET_NATS_URL": natsURL, "STAFET_NATS_NKEY": key, "STAFET_NATS_ADDR": "none", "STAFET_LOG_LEVEL": "info",
		"STAFET_KEY_DIR": b.store.Config().KeyDir})
	a := faulttest.StartChild(t, envA)
	apiA := &apiClient{t: t, base: "http://" + a.HTTP}

	simDone := make(chan simulator.Stats, 1)
	go func() {
		st, err := simulator.Run(ctx, simulator.Config{
			MLLPAddr: a.MLLP, BaseURL: apiA.base, Token: faultAdminToken, Seed: 14, TimeScale: scale,
			Rate: 60, Duration: 8 * time.Second, PollInterval: 500 * time.Millisecond, RunID: "quarantine",
		})
		if err != nil {
			t.Errorf("simulator: %v", err)
		}
		simDone <- st
	}()

	// Two pathways of our own, for the faults to land on.
	hospital := apiA.hospitalOf("aarhus", faultAdminToken)
	victim := apiA.openPathway(faultAdminToken, hospital, "kommune:0751", "1205471234")
	other := apiA.openPathway(faultAdminToken, hospital, "kommune:0751", "1305471234")
	time.Sleep(2 * time.Second)

	// The faults, with stafetd's own credentials.
	nkey, err := nats.NkeyOptionFromSeed(key)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsURL, nkey)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, engine.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	publish := func(subject string, data []byte, prev uint64) uint64 {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = data
		// Chained with the deployment's keys, as a newer release (or a
		// bug in this one) would store it: what an unchained message
		// meets is TestChain's.
		var after engine.Link
		if prev > 0 {
			pm, err := stream.GetMsg(ctx, prev)
			if err != nil {
				t.Fatal(err)
			}
			after = engine.LinkOf(pm.Header)
		}
		b.store.Log().Chain(m, prev, after)
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	lastOf := func(pw string) *jetstream.RawStreamMsg {
		t.Helper()
		m, err := stream.GetLastMsgForSubject(ctx, "stafet.ev.*."+pw)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	subjectOf := func(pw string) string { return lastOf(pw).Subject }
	garbage := publish("stafet.ev.aarhus.garbage", []byte("not an event"), 0)
	future := publish(subjectOf(victim), []byte(strings.Replace(storedJSON(t, victim, &events.PatientDied{}), `"PatientDied"`, `"PatientTeleported"`, 1)), lastOf(victim).Sequence)
	// A Correction stored on other's subject naming an event of victim:
	// victim's history does not hold it, so the refold fails.
	var victimView struct {
		Timeline []struct {
			ID   string
			Type string
		}
	}
	apiA.get("/v1/pathways/"+victim, faultAdminToken, &victimView)
	admission := ""
	for _, e := range victimView.Timeline {
		if e.Type == "PatientAdmitted" {
			admission = e.ID
		}
	}
	annuls, err := uuid.Parse(admission)
	if err != nil {
		t.Fatalf("victim's admission id %q: %v", admission, err)
	}
	failing := publish(subjectOf(other), []byte(storedJSON(t, victim, &events.Correction{Annuls: annuls, Reason: "forged"})), lastOf(other).Sequence)
	faulted := []uint64{garbage, future, failing}
	t.Logf("faults at seq %v while the simulator runs", faulted)

	// Messages sent after them show their gaps within a second, on both.
	apiB := &apiClient{t: t, base: "http://" + b.httpAddr.String()}
	after := apiA.openPathway(faultAdminToken, hospital, "kommune:0751", "1405471234")
	sent := time.Now()
	apiA.discharge(faultAdminToken, after, hospital, "kommune:0751")
	for name, api := range map[string]*apiClient{"a (process)": apiA, "b": apiB} {
		took := waitGap(t, api, after, sent)
		if took > time.Second {
			t.Errorf("%s: the gap of a discharge after the faults showed after %v; want within a second", name, took)
		}
		t.Logf("%s: the gap of a discharge sent after the faults showed in /v1/gaps %v after the discharge was answered", name, took.Round(time.Millisecond))
	}
	st := <-simDone
	t.Logf("simulator: sent %v, answers %v, errors %d", st.Sent, st.Answers, st.Errors)

	check := func(when string, apis map[string]*apiClient) {
		t.Helper()
		for name, api := range apis {
			checkQuarantined(t, when+", "+name, api, faulted, map[string]uint64{victim: future, other: failing})
		}
	}
	check("after the faults", map[string]*apiClient{"a (process)": apiA, "b": apiB})
	pa, pb := settleBoth(ctx, t, b, apiA, apiB)
	if pa.SHA256 != pb.SHA256 || pa.Applied != pb.Applied {
		t.Errorf("projections differ: a at %d %s, b at %d %s; want the same bytes", pa.Applied, pa.SHA256, pb.Applied, pb.SHA256)
	}
	t.Logf("both instances at seq %d, projections %d bytes, sha256 %s…, quarantined %v", pb.Applied, pb.Bytes, pb.SHA256[:12], pb.Quarantined)

	// A restart, with traffic in flight: SIGTERM logs one line per
	// component, then a restarted process restores its checkpoint with
	// the quarantine.
	burst := make(chan struct{})
	go func() {
		defer close(burst)
		// Its messages in flight at the SIGTERM fail to send; the log and
		// the other instance stay whole, which the comparison below checks.
		simulator.Run(ctx, simulator.Config{
			MLLPAddr: a.MLLP, BaseURL: apiA.base, Token: faultAdminToken, Seed: 15, TimeScale: scale,
			Rate: 80, Duration: 3 * time.Second, PollInterval: 300 * time.Millisecond, RunID: "quarantine-burst",
		})
	}()
	time.Sleep(1500 * time.Millisecond)
	logged := a.Log()
	if err := a.Term(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	<-burst
	shutdown := strings.TrimSpace(strings.TrimPrefix(a.Log(), logged))
	lines := strings.Split(shutdown, "\n")
	t.Logf("SIGTERM: %d log lines:\n%s", len(lines), shutdown)
	if len(lines) > 12 || strings.Contains(shutdown, "will retry") || strings.Contains(shutdown, "context canceled") {
		t.Errorf("SIGTERM logged %d lines; want one per component, none about retries or cancelled contexts", len(lines))
	}
	a2 := faulttest.StartChild(t, envA)
	apiA2 := &apiClient{t: t, base: "http://" + a2.HTTP}
	check("after a restart", map[string]*apiClient{"a (restarted)": apiA2})
	pa2, pb2 := settleBoth(ctx, t, b, apiA2, apiB)
	if pa2.SHA256 != pb2.SHA256 || pa2.Applied != pb2.Applied {
		t.Errorf("after the restart projections differ: a at %d %s, b at %d %s; want the same bytes", pa2.Applied, pa2.SHA256, pb2.Applied, pb2.SHA256)
	}
}

// storedJSON is the stored form of one event of pathway pw, as a writer
// with its own encoder (a newer version) would store it.
func storedJSON(t *testing.T, pw string, p events.Payload) string {
	t.Helper()
	id, err := uuid.Parse(pw)
	if err != nil {
		t.Fatal(err)
	}
	e := events.Envelope{ID: events.NewID(), Pathway: id, Type: p.Type(), Schema: 1, OccurredAt: time.Now().UTC(), RecordedAt: time.Now().UTC(), Payload: p}
	b, err := events.NewCodec().Encode(&e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitGap waits until a pathway's gap shows in /v1/gaps and returns how
// long after sent.
func waitGap(t *testing.T, api *apiClient, pw string, sent time.Time) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		for _, g := range api.gaps(faultAdminToken, "cluster=aarhus") {
			if g.Pathway == pw && g.Kind != "integrity" {
				return time.Since(sent)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no gap of %s in 10s", api.base, pw)
		}
	}
}

// checkQuarantined checks what an instance says of the quarantine: the
// health report degraded naming the sequences, the integrity gaps on the
// pathways (seen by a party), the metrics.
func checkQuarantined(t *testing.T, name string, api *apiClient, seqs []uint64, onPathway map[string]uint64) {
	t.Helper()
	var h engine.Health
	code := 0
	// A restarted instance restores its checkpoint first.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h = engine.Health{}
		code = apiJSON(t, "GET", api.base+"/readyz", "", nil, &h)
		if h.Status != engine.HealthStarting && h.Status != engine.HealthCatchingUp || time.Now().After(deadline) {
			break
		}
	}
	var named []uint64
	for _, r := range h.Reasons {
		if r.Code == engine.ReasonQuarantined {
			named = r.Seqs
		}
	}
	if code != http.StatusOK || h.Status != engine.HealthDegraded || fmt.Sprint(named) != fmt.Sprint(seqs) {
		t.Errorf("%s: /readyz %d %s naming %v; want 200, degraded, naming %v (reasons %+v)", name, code, h.Status, named, seqs, h.Reasons)
	}
	party := api.token(faultAdminToken, "kommune:0751")
	gaps := api.gaps(party, "kind=integrity")
	for pw, seq := range onPathway {
		found := false
		for _, g := range gaps {
			found = found || g.Pathway == pw
		}
		if !found {
			t.Errorf("%s: the municipality does not see an integrity gap on pathway %s (seq %d); gaps %+v", name, pw, seq, gaps)
		}
	}
	_, metrics := get(t, api.base+"/metrics", faultAdminToken)
	for _, want := range []string{`stafet_quarantined_events{reason="undecodable"} 1`, `stafet_quarantined_events{reason="unknown-type"} 1`,
		`stafet_quarantined_events{reason="projection-failed"} 1`, `stafet_health_status{status="degraded"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("%s: /metrics lacks %s", name, want)
		}
	}
}

type projectionsDigest struct {
	Applied     uint64
	SHA256      string
	Bytes       int
	Quarantined []uint64
}

// settleBoth waits until the log stops growing and both instances have
// applied all of it, and returns their projections' digests at one
// position (the scheduler may still append an elapsed deadline now and
// then: the digests are read again until both are at the same one).
func settleBoth(ctx context.Context, t *testing.T, b *service, apiA, apiB *apiClient) (projectionsDigest, projectionsDigest) {
	t.Helper()
	last := faulttest.Settle(ctx, t, b.store, b.host)
	for {
		var pa, pb projectionsDigest
		apiA.get("/v1/admin/projections", faultAdminToken, &pa)
		apiB.get("/v1/admin/projections", faultAdminToken, &pb)
		if pa.Applied >= last && pa.Applied == pb.Applied {
			return pa, pb
		}
		select {
		case <-ctx.Done():
			t.Fatalf("instances at %d and %d; want %d", pa.Applied, pb.Applied, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
