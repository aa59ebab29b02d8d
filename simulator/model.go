package simulator

import (
	"container/heap"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	_ "time/tzdata" // message times are written in Europe/Copenhagen on any host

	"github.com/stafet/stafet/events"
)

// Channel is the interface a Step goes through.
type Channel string

// Channels.
const (
	// HL7 is an HL7 v2.5 ADT message, sent over MLLP.
	HL7 Channel = "hl7v2"
	// MedCom is a MedCom FHIR message (JSON), posted to /v1/medcom.
	MedCom Channel = "medcom"
	// API is a JSON API call on a pathway.
	API Channel = "api"
)

// Step is one thing that happens: one message or call, at a time.
type Step struct {
	// At is when to send it (wire time: simulated time compressed by the
	// model's TimeScale, starting at its Start). Every time written in
	// the message is wire time too.
	At time.Time
	// Sim is the simulated time it happens at.
	Sim time.Time
	// Channel says how it is sent.
	Channel Channel
	// Kind names it: the HL7 trigger ("A01"), the MedCom notification
	// code ("STIN", "AN_STIN"), "CareCommunication", "Acknowledgement",
	// or for API steps the event type ("ReadyForDischarge", "DocumentSent").
	Kind string
	// Pathway is the model's number of the patient pathway. Steps with the
	// same number must be delivered in order, each after the one before
	// is answered.
	Pathway uint64
	// Org is the sending organisation; Municipality is the patient's
	// municipality, whose worklist the step may fill.
	Org          events.OrgID
	Municipality events.OrgID
	// Episode is the episode of care (the LPR3 stay id in MedCom, PV1-19 in
	// HL7) the step belongs to.
	Episode string
	// ID is the message's own id: MSH-10, MessageHeader.id, or the API
	// call's Idempotency-Key.
	ID string
	// Body is the message: an HL7 message with CR segment ends and no MLLP
	// framing, a FHIR JSON Bundle, or the API call's JSON body.
	Body []byte
	// Method and Path, for API steps. Path holds "{pathway}" where the
	// pathway's id in Stafet goes; the model cannot know it.
	Method, Path string
}

// ModelOptions configure a Model. The zero value means the defaults.
type ModelOptions struct {
	// Start is where simulated and wire time begin. Zero means Monday
	// 3 March 2025 08:00 Copenhagen time, so that a seed alone fixes every
	// byte.
	Start time.Time
	// TimeScale is simulated minutes per wire second: 60 lets one
	// simulated hour pass each second. Zero means 1/60, real time.
	TimeScale float64
	// Clusters restricts the patients to these health clusters (ids such
	// as "aarhus"); empty means all 21.
	Clusters []string
	// ArrivalsPerHour is new pathways per simulated hour; zero means the
	// national rate (Mix.ContactsPerYearPer1000) for the population of the
	// clusters.
	ArrivalsPerHour float64
	// Mix sets the proportions; nil means DefaultMix.
	Mix *Mix
	// RunID goes into every message id, episode id and control id, so
	// that two runs with the same seed against one Stafet are not taken
	// for resends of each other. The patients stay the same.
	RunID string
}

// Model is the national workload model: a stream of patient pathways
// across the 21 clusters and 98 municipalities, each a timeline of
// admissions, transfers, leave, discharges, deaths and documents, turned
// into HL7 v2, MedCom and API messages. A Model is deterministic: the same
// seed and options give the same steps, byte for byte. It is not safe for
// concurrent use.
type Model struct {
	seed    uint64
	idSeed  uint64
	opts    ModelOptions
	mix     Mix
	w       *world
	rng     *rand.Rand
	loc     *time.Location
	start   time.Time
	scale   float64 // wire seconds per simulated second
	rate    float64 // arrivals per simulated second
	homes   []home
	cumHome []float64
	cumAge  []float64

	next   time.Time // next arrival, simulated
	count  uint64    // pathways planned
	queue  factQueue
	prefix string // control id prefix from the run id
}

// home is a municipality in a cluster, with its weight among patients.
type home struct {
	m  *municipality
	cl *cluster
}

// NewModel returns a model seeded with seed.
func NewModel(seed uint64, opts ModelOptions) (*Model, error) {
	w, err := loadWorld()
	if err != nil {
		return nil, err
	}
	mix := DefaultMix()
	if opts.Mix != nil {
		mix = *opts.Mix
	}
	if err := mix.Validate(); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation("Europe/Copenhagen")
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	if opts.Start.IsZero() {
		opts.Start = time.Date(2025, time.March, 3, 8, 0, 0, 0, loc)
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1.0 / 60
	}
	if !(opts.TimeScale > 0) || math.IsInf(opts.TimeScale, 0) {
		return nil, fmt.Errorf("simulator: time scale %v: want simulated minutes per second > 0", opts.TimeScale)
	}
	if opts.ArrivalsPerHour < 0 {
		return nil, errors.New("simulator: arrivals per hour must not be negative")
	}
	m := &Model{
		seed: seed, opts: opts, mix: mix, w: w, loc: loc,
		rng:   rand.New(rand.NewPCG(seed, 0x5afe7)),
		start: opts.Start.Truncate(time.Second),
		scale: 1 / (opts.TimeScale * 60),
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d|%s", seed, opts.RunID)
	m.idSeed = h.Sum64()
	m.prefix = fmt.Sprintf("%06x", m.idSeed&0xffffff)
	if err := m.placeHomes(opts.Clusters); err != nil {
		return nil, err
	}
	acc := 0.0
	for _, a := range mix.Ages {
		acc += a.Share
		m.cumAge = append(m.cumAge, acc)
	}
	if opts.ArrivalsPerHour > 0 {
		m.rate = opts.ArrivalsPerHour / 3600
	} else {
		pop := 0.0
		for i, h := range m.homes {
			pop += m.weight(i, h)
		}
		m.rate = pop / 1000 * mix.ContactsPerYearPer1000 / (365 * 24 * 3600)
	}
	m.next = m.start.Add(m.gap())
	return m, nil
}

// placeHomes lists the (municipality, cluster) pairs patients come from.
// A municipality in two clusters (København) splits its population
// between them.
func (m *Model) placeHomes(only []string) error {
	for _, id := range only {
		if _, ok := m.w.byCluster[id]; !ok {
			return fmt.Errorf("simulator: unknown cluster %q", id)
		}
	}
	acc := 0.0
	for _, cl := range m.w.clusters {
		if len(only) > 0 && !slices.Contains(only, cl.id) {
			continue
		}
		for _, mu := range cl.members {
			h := home{m: mu, cl: cl}
			m.homes = append(m.homes, h)
			acc += m.weight(len(m.homes)-1, h)
			m.cumHome = append(m.cumHome, acc)
		}
	}
	if len(m.homes) == 0 {
		return errors.New("simulator: no municipalities in the chosen clusters")
	}
	return nil
}

func (m *Model) weight(_ int, h home) float64 {
	return float64(h.m.population) / float64(len(h.m.clusters))
}

// wire maps simulated time to wire time.
func (m *Model) wire(t time.Time) time.Time {
	d := float64(t.Sub(m.start)) * m.scale
	return m.start.Add(time.Duration(d)).In(m.loc)
}

// WireDuration turns a simulated duration into wire time.
func (m *Model) WireDuration(d time.Duration) time.Duration {
	return time.Duration(float64(d) * m.scale)
}

// Start returns the wire (and simulated) start time.
func (m *Model) Start() time.Time { return m.start }

// Pathways returns how many pathways the model has begun so far.
func (m *Model) Pathways() uint64 { return m.count }

// gap draws the time to the next arrival (a Poisson process).
func (m *Model) gap() time.Duration {
	return time.Duration(m.rng.ExpFloat64() / m.rate * float64(time.Second))
}

// Next returns the next step in time order. The stream never ends.
func (m *Model) Next() Step {
	for {
		f := m.nextFact()
		if s, ok := m.render(f); ok {
			return s
		}
	}
}

// nextFact returns the next fact of any pathway in simulated time order,
// planning new pathways as their arrival comes due.
func (m *Model) nextFact() *fact {
	for m.queue.Len() == 0 || !m.next.After(m.queue[0].at) {
		m.arrive()
	}
	return heap.Pop(&m.queue).(*fact)
}

func (m *Model) arrive() {
	p := m.plan(m.count, m.next)
	m.count++
	m.next = m.next.Add(m.gap())
	for _, f := range p.facts {
		heap.Push(&m.queue, f)
	}
}

// factQueue orders facts by simulated time, then pathway, then their order
// within the pathway.
type factQueue []*fact

func (q factQueue) Len() int { return len(q) }
func (q factQueue) Less(i, j int) bool {
	a, b := q[i], q[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	if a.p.no != b.p.no {
		return a.p.no < b.p.no
	}
	return a.seq < b.seq
}
func (q factQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *factQueue) Push(x any)   { *q = append(*q, x.(*fact)) }
func (q *factQueue) Pop() any {
	old := *q
	f := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return f
}

// weighted returns the index of the first cumulative weight above a
// uniform draw.
func weighted(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return min(i, len(cum)-1)
}
