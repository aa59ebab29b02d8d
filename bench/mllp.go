package bench

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/transport/mllp"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/simulator"
)

// mllpPhase sends the model's HL7 v2 ADT messages over MLLP connections to
// the real handler (parse, store raw, translate, pseudonymise, find the
// pathway, append) and counts acknowledgements a second. A patient's
// messages go over one connection, in order, each after the one before
// is acknowledged, as a hospital's interface engine sends them.
func (b *bencher) mllpPhase(ctx context.Context) error {
	d, conns, err := b.hl7Frames(b.o.Seed)
	if err != nil {
		return err
	}
	return b.withStore(ctx, "mllp", b.inMode, func(s *engine.Store) error {
		return b.sendHL7(ctx, s, d, conns)
	})
}

// hl7Frames are the model's HL7 v2 messages (at most MLLPMessages, and a
// quarter of the events), framed, a patient's on one connection of
// Conns, in order.
func (b *bencher) hl7Frames(seed uint64) (*events.Directory, [][][]byte, error) {
	want := min(b.o.MLLPMessages, max(b.events/4, 1))
	conns := make([][][]byte, b.o.Conns)
	d, err := events.NewDirectory(bytes.NewReader(simulator.Organisations()))
	if err != nil {
		return nil, nil, err
	}
	// Only the clusters whose hospitals send HL7 v2: the model renders
	// every MedCom message it plans, which costs ten times an HL7 one.
	var clusters []string
	for _, c := range d.ClustersAt(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)) {
		if slices.Contains(hl7Regions, c.Region) {
			clusters = append(clusters, c.ID)
		}
	}
	model, err := simulator.NewModel(seed, simulator.ModelOptions{Clusters: clusters})
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	for n := 0; n < want; {
		st := model.Next()
		if st.Channel != simulator.HL7 {
			continue
		}
		i := int(st.Pathway % uint64(len(conns)))
		conns[i] = append(conns[i], mllp.Frame(st.Body))
		n++
	}
	b.progress("mllp: %d HL7 messages from the model in %s (not measured)", want, time.Since(start).Round(time.Millisecond))
	return d, conns, nil
}

// unpaced is a per-sender rate no run of the bench reaches.
const unpaced = 1 << 30

// serveMLLP serves MLLP on a loopback port with the real handler on s,
// until the returned stop is called.
func serveMLLP(ctx context.Context, s *engine.Store, d *events.Directory, conns int) (addr string, stop func(), err error) {
	in := ingest.New(s, d, map[string]ingest.Translator{hl7v2.System: hl7v2.NewTranslator(d, nil).Translate}, nil)
	// The bench's one sender would otherwise be paced at the per-sender
	// default (1 000 messages a second, mllp.Config.Rate): the phase
	// measures what intake can take, not that bound.
	srv := mllp.New(mllp.Config{Addr: "127.0.0.1:0", MaxConns: conns + 8, OnOversize: mllp.HL7OversizeAck,
		Rate: unpaced, Burst: unpaced}, mllp.HL7Handler(in, nil))
	if err := srv.Listen(); err != nil {
		return "", nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx) }()
	return srv.Addr().String(), func() { cancel(); <-served }, nil
}

// sendHL7 serves MLLP with the real handler on s and sends it each
// connection's frames.
func (b *bencher) sendHL7(ctx context.Context, s *engine.Store, d *events.Directory, conns [][][]byte) error {
	addr, stop, err := serveMLLP(ctx, s, d, len(conns))
	if err != nil {
		return err
	}
	defer stop()
	var run mllpRun
	evs0, msgs0, commits0 := s.Log().Stats().Events.Load(), sentMsgs(s), s.CommitWaits()
	err = b.profileIf(true, PhaseMLLP, func() error {
		var err error
		run, err = sendMLLP(ctx, []string{addr}, conns, time.Now().Add(b.o.MaxWrite))
		return err
	})
	if err != nil {
		return err
	}
	evs := s.Log().Stats().Events.Load() - evs0
	if run.sent > 0 {
		b.res.MLLPNATSPerMessage = round(float64(sentMsgs(s)-msgs0)/float64(run.sent), 1)
		b.res.MLLPCommitsPerMessage = round(float64(s.CommitWaits()-commits0)/float64(run.sent), 2)
	}
	b.progress("mllp: %d messages (%d AA) in %s, %d events appended", run.sent, run.accepted, run.took.Round(time.Millisecond), evs)
	r := b.res
	r.MLLPMessages, r.MLLPAccepted, r.MLLPConns = run.sent, run.accepted, len(conns)
	r.MLLPMps = round(run.rate(), 0)
	r.MLLPEventsPerS = round(float64(evs)/run.took.Seconds(), 0)
	return nil
}

// hl7Regions are the regions whose hospitals the simulator has send HL7 v2
// (docs/simulator.md); the others send MedCom.
var hl7Regions = []string{"Hovedstaden", "Sjælland", "Nordjylland"}

// mllpRun is what sendMLLP did: messages sent and accepted (AA), how
// long it took, and each message's round trip (sent to acknowledged),
// sorted.
type mllpRun struct {
	sent, accepted int
	took           time.Duration
	rtt            []time.Duration
}

func (m mllpRun) rate() float64 { return float64(m.sent) / m.took.Seconds() }

// sendMLLP sends each connection's frames in order, each after the
// acknowledgement of the one before, until all are sent or stop; the
// connections go to the addresses in turn (a deployment's instances).
func sendMLLP(ctx context.Context, addrs []string, conns [][][]byte, stop time.Time) (mllpRun, error) {
	clients := make([]net.Conn, len(conns))
	d := net.Dialer{Timeout: 10 * time.Second}
	for i := range clients {
		c, err := d.DialContext(ctx, "tcp", addrs[i%len(addrs)])
		if err != nil {
			return mllpRun{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	var accepted atomic.Int64
	rtts := make([][]time.Duration, len(conns))
	start := time.Now()
	for i, frames := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := clients[i]
			r := bufio.NewReader(c)
			for _, f := range frames {
				if ctx.Err() != nil || time.Now().After(stop) {
					return
				}
				sent := time.Now()
				c.SetDeadline(sent.Add(time.Minute))
				if _, err := c.Write(f); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ack, err := mllp.ReadFrame(r)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				rtts[i] = append(rtts[i], time.Since(sent))
				if hl7v2.AckCode(ack) == "AA" {
					accepted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	run := mllpRun{accepted: int(accepted.Load()), took: time.Since(start), rtt: slices.Concat(rtts...)}
	run.sent = len(run.rtt)
	slices.Sort(run.rtt)
	return run, firstErr
}
