package projections

import (
	"encoding/binary"
	"flag"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

var benchPathways = flag.Int("pathways", 100_000, "number of pathways BenchmarkMemory holds")

// synthetic writes the events of one busy pathway, as the codec would
// decode them (every string freshly allocated): admitted with an
// admission report, discharge planning accepted, ready for discharge,
// discharged home with services, a discharge letter and a rehabilitation
// plan sent. Left open it holds three pending offers, four running
// deadlines, an open no-owner gap and a closed ready-but-waiting gap;
// closed, everything is accepted and the pathway ends.
func synthetic(i int, closed bool, emit func(events.Envelope)) {
	var pw uuid.UUID
	binary.BigEndian.PutUint64(pw[8:], uint64(i)+1)
	pw[6] = 0x70
	seq := 0
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i%100_000) * time.Minute)
	muni := events.Kommune(fmt.Sprintf("%04d", 101+i%98))
	hosp := events.SOR(strconv.Itoa(6620000000000 + i%30))
	gp := events.OrgID("yder:" + strconv.Itoa(10000+i%2000))
	cluster := []string{"aarhus", "horsens", "randers", "byen"}[i%4]
	add := func(h time.Duration, p events.Payload) uuid.UUID {
		seq++
		id := pw
		binary.BigEndian.PutUint32(id[:4], uint32(seq))
		emit(events.Envelope{ID: id, Pathway: pw, Type: p.Type(), OccurredAt: t0.Add(h), Payload: p})
		return id
	}
	offer := func(policy string, trigger uuid.UUID) string { return policy + "/" + trigger.String() }
	doc := func(k string) string { return k + "-" + strconv.Itoa(i) }

	add(0, &events.PathwayOpened{Patient: events.PatientRef(fmt.Sprintf("p%032x", i)), Cluster: cluster, Municipality: muni, GP: gp})
	adm := add(0, &events.PatientAdmitted{Hospital: hosp, Class: events.Inpatient, Notified: muni, ReportRequested: true})
	planning := offer(PolicyAdmissionNotified, adm)
	add(0, &events.HandoffOffered{Offer: planning, From: hosp, To: muni, What: events.DischargePlanning, Deadline: t0.Add(24 * time.Hour), Policy: PolicyAdmissionNotified})
	add(2*time.Hour, &events.DocumentSent{Document: doc("report"), Kind: events.AdmissionReport, From: muni, To: hosp})
	add(2*time.Hour, &events.DocumentAcknowledged{Document: doc("report"), By: hosp, OK: true})
	add(3*time.Hour, &events.HandoffAccepted{Offer: planning, By: muni})
	add(20*time.Hour, &events.ReadyForDischarge{Hospital: hosp, Municipality: muni})
	dis := add(40*time.Hour, &events.PatientDischarged{Hospital: hosp, Destination: events.DestHomeWithServices})
	home := offer(PolicyDischargeServices, dis)
	add(40*time.Hour, &events.HandoffOffered{Offer: home, From: hosp, To: muni, What: events.HomeCare, Deadline: t0.Add(44 * time.Hour), Policy: PolicyDischargeServices})
	letter := add(41*time.Hour, &events.DocumentSent{Document: doc("letter"), Kind: events.DischargeLetter, From: hosp, To: gp})
	follow := offer(PolicyDischargeLetter, letter)
	add(41*time.Hour, &events.HandoffOffered{Offer: follow, From: hosp, To: gp, What: events.GPFollowUp, Deadline: t0.Add(65 * time.Hour), Policy: PolicyDischargeLetter})
	add(41*time.Hour, &events.DocumentAcknowledged{Document: doc("letter"), By: gp, OK: true})
	plan := add(41*time.Hour, &events.DocumentSent{Document: doc("rehab"), Kind: events.RehabilitationPlan, From: hosp, To: muni, Deadline: t0.Add(100 * time.Hour)})
	rehab := offer(PolicyRehabilitationPlan, plan)
	add(41*time.Hour, &events.HandoffOffered{Offer: rehab, From: hosp, To: muni, What: events.Rehabilitation, Deadline: t0.Add(100 * time.Hour), Policy: PolicyRehabilitationPlan})
	if !closed {
		return
	}
	add(42*time.Hour, &events.DocumentAcknowledged{Document: doc("rehab"), By: muni, OK: true})
	add(42*time.Hour, &events.HandoffAccepted{Offer: home, By: muni})
	add(43*time.Hour, &events.HandoffAccepted{Offer: follow, By: gp})
	add(44*time.Hour, &events.HandoffAccepted{Offer: rehab, By: muni})
	add(60*time.Hour, &events.ServiceStarted{By: muni, What: events.Rehabilitation})
	add(90*24*time.Hour, &events.PathwayClosed{Reason: "done"})
}

// heapPerPathway applies n synthetic pathways to a Set and returns the
// heap it holds per pathway, measured after a collection.
func heapPerPathway(tb testing.TB, n int, closed bool) float64 {
	tb.Helper()
	set, err := NewSet(Rules{})
	if err != nil {
		tb.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		synthetic(i, closed, func(e events.Envelope) {
			if err := set.Apply(e); err != nil {
				tb.Fatal(err)
			}
		})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if o, c := set.Owner.Len(); (closed && c != n) || (!closed && o != n) {
		tb.Fatalf("owner holds %d open and %d closed pathways; want %d", o, c, n)
	}
	runtime.KeepAlive(set)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkMemory reports the heap held per pathway across Owner, Gaps
// and Board (the Set); a closed pathway's figure includes the Set's own
// heap, spread over them (TestClosedPathwayBytes leaves it out). Run with -pathways=1000000 for the figure.
func BenchmarkMemory(b *testing.B) {
	for _, c := range []struct {
		name   string
		closed bool
	}{{"open", false}, {"closed", true}} {
		b.Run(c.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = heapPerPathway(b, *benchPathways, c.closed)
			}
			b.ReportMetric(per, "bytes/pathway")
		})
	}
}

// TestMemoryBudget keeps the per-pathway heap within the budget: 2 KiB for
// an open pathway across Owner, Gaps and Board.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 20 000 pathways")
	}
	if got := heapPerPathway(t, 20_000, false); got > 2048 {
		t.Errorf("got %.0f bytes per open pathway; want at most 2048", got)
	} else {
		t.Logf("%.0f bytes per open pathway", got)
	}
}

// TestClosedPathwayBytes keeps what a closed pathway leaves in a Set to
// 32 bytes: memory follows the open pathways, not the history. It
// measures what each further closed pathway adds (n more, on the same
// days, so the days' aggregates are already there): the Set's own heap
// and the aggregates are not history.
func TestClosedPathwayBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap of 120 000 closed pathways")
	}
	const n = 60_000
	set, err := NewSet(Rules{})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(from int) int64 {
		for i := from; i < from+n; i++ {
			synthetic(i, true, func(e events.Envelope) {
				if err := set.Apply(e); err != nil {
					t.Fatal(err)
				}
			})
		}
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	first := apply(0)
	// synthetic's times repeat every 100 000 pathways.
	second := apply(100_000)
	if o, c := set.Owner.Len(); o != 0 || c != 2*n {
		t.Fatalf("owner: %d open, %d closed; want 0, %d", o, c, 2*n)
	}
	runtime.KeepAlive(set)
	per := float64(second-first) / n
	t.Logf("%.1f bytes per further closed pathway", per)
	if per > 32 {
		t.Errorf("got %.1f bytes per closed pathway; want at most 32", per)
	}
}

// TestSyntheticPathwayIsValid checks that the synthetic pathway keeps the
// pathway rules, so the memory figures are about a real pathway.
func TestSyntheticPathwayIsValid(t *testing.T) {
	var history []events.Envelope
	synthetic(7, true, func(e events.Envelope) { history = append(history, e) })
	state := events.Fold(nil)
	for _, e := range history {
		cmd := events.Command{Pathway: e.Pathway, OccurredAt: e.OccurredAt, Payloads: []events.Payload{e.Payload}}
		if _, err := events.Decide(state, cmd); err != nil {
			t.Fatalf("%s: %v", e.Type, err)
		}
		state.Apply(&e)
	}
}

// BenchmarkApply reports how fast a Set folds events: the replay budget
// is set by the log's read rate, so the fold must not be the bottleneck.
func BenchmarkApply(b *testing.B) {
	var log []events.Envelope
	for i := range 20_000 {
		synthetic(i, i%2 == 0, func(e events.Envelope) { log = append(log, e) })
	}
	b.ResetTimer()
	for b.Loop() {
		set, err := NewSet(Rules{})
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range log {
			if err := set.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(log)*b.N)/b.Elapsed().Seconds(), "events/s")
}
