package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/stafet/stafet/events"
)

// pathway is one simulated patient pathway: who, where, and the facts of
// its life in simulated time order.
type pathway struct {
	no       uint64
	rng      *rand.Rand // the pathway's own draws, so rendering is deterministic
	ids      *rand.Rand // ids, seeded with the run id as well
	patient  person
	band     AgeBand
	home     home
	gp       *practice
	first    *hospital
	episode  string
	services bool // receives municipal services before admission
	// involved: the municipality takes part (services before, or municipal
	// care after): MedCom hospitals notify it, and CareCommunications go.
	involved bool
	dest     events.Destination
	facts    []*fact
	// notices are the MedCom HospitalNotifications rendered so far, for
	// the message history (Provenance) of the next.
	notices []*notice
}

type factKind int

const (
	fAdmit factKind = iota
	fConvert
	fTransfer
	fLeaveStart
	fLeaveEnd
	fExpected
	fReady
	fDischarge
	fDeath
	fCancel
	fCareComm
	fReply
	fAck
	fLetter
	fRehabPlan
)

var factNames = [...]string{"admit", "convert", "transfer", "leave-start", "leave-end", "expected-discharge", "ready", "discharge", "death", "cancel", "care-communication", "reply", "acknowledgement", "discharge-letter", "rehabilitation-plan"}

func (k factKind) String() string { return factNames[k] }

// fact is one thing that happens on a pathway, in simulated time.
type fact struct {
	at   time.Time
	seq  int
	kind factKind
	p    *pathway

	class    events.AdmissionClass // fAdmit, fConvert
	hospital *hospital             // where the patient is (the new one for fTransfer)
	from     *hospital             // fTransfer
	until    time.Time             // fLeaveStart: leave end; fExpected: expected discharge; fRehabPlan: start by
	dest     events.Destination    // fDischarge
	// toHospital: a fCareComm or fReply goes from municipality to hospital.
	toHospital bool
	category   string
	topic      string
	// ref is the message a fReply or fAck answers.
	ref *fact
	// ackCode is the acknowledgement's response code.
	ackCode string
	// header is the MedCom MessageHeader id, or the document id of an API
	// document, fixed at planning so that replies can name it.
	header string
	// activity is the MedCom Provenance activity of a notification.
	activity string
	// medcom is whether a MedCom message went out for the fact; body is
	// that message, kept until its acknowledgement (acked) is rendered.
	medcom bool
	acked  bool
	body   []byte
}

// plan draws a whole pathway arriving at t.
func (m *Model) plan(no uint64, t time.Time) *pathway {
	// Facts fall on whole seconds; rounding the arrival up keeps them
	// after every fact already handed out.
	t = t.Add(time.Second - 1).Truncate(time.Second)
	r := rand.New(rand.NewPCG(m.seed, no+1))
	p := &pathway{no: no, rng: r, ids: rand.New(rand.NewPCG(m.idSeed, no+1))}
	p.home = m.homes[weighted(r, m.cumHome)]
	p.band = m.mix.Ages[weighted(r, m.cumAge)]
	p.patient = newPerson(r, p.band.Min+r.IntN(p.band.Max-p.band.Min+1), t)
	p.gp = pick(r, p.home.m.gps)
	p.first = p.home.cl.hospital
	p.episode = p.uuid()
	p.services = r.Float64() < p.band.Services
	mix := &m.mix

	add := func(at time.Time, f *fact) *fact {
		f.at, f.p, f.seq = at.Truncate(time.Second), p, len(p.facts)
		if f.hospital == nil {
			f.hospital = p.first
		}
		p.facts = append(p.facts, f)
		return f
	}
	hour := float64(time.Hour)
	after := func(base time.Time, lo, hi time.Duration) time.Time {
		return base.Add(time.Duration(float64(lo) + r.Float64()*float64(hi-lo)))
	}

	ambulant := r.Float64() < mix.AcuteAmbulant
	class := events.Inpatient
	if ambulant {
		class = events.AcuteAmbulant
	}
	// Length of stay: lognormal. Acute ambulant stays are hours (median 5
	// h, at most 47 h); inpatient stays days (median 2.5 days, times the
	// age band's factor, at most 60 days).
	var los time.Duration
	convert := ambulant && r.Float64() < mix.AmbulantToInpatient
	var convertAt time.Time
	if ambulant && !convert {
		los = time.Duration(math.Min(47, 5*math.Exp(0.6*r.NormFloat64())) * hour)
	} else {
		days := math.Min(60, 2.5*p.band.LengthFactor*math.Exp(0.9*r.NormFloat64()))
		los = max(4*time.Hour, time.Duration(days*24*hour))
	}
	end := t.Add(los)
	if convert {
		convertAt = after(t, 2*time.Hour, 10*time.Hour)
		end = convertAt.Add(los)
	}
	inpatient := !ambulant || convert

	// Death, and else the destination.
	dies := false
	if inpatient {
		dies = r.Float64() < p.band.Death
	} else {
		dies = r.Float64() < 0.001
	}
	if dies {
		p.dest = ""
	} else if inpatient {
		b := p.band
		x := r.Float64()
		switch {
		case x < b.Home:
			p.dest = events.DestHome
		case x < b.Home+b.HomeServices:
			p.dest = events.DestHomeWithServices
		case x < b.Home+b.HomeServices+b.NursingHome:
			p.dest = events.DestNursingHome
		case r.Float64() < 0.7:
			p.dest = events.DestMunicipalAcuteBed
		default:
			p.dest = events.DestRehabilitationBed
		}
	} else {
		// An acute ambulant patient goes home; with the services they had,
		// or rarely new ones.
		p.dest = events.DestHome
		if p.services || r.Float64() < 0.03 {
			p.dest = events.DestHomeWithServices
		}
	}
	municipalCare := p.dest != "" && p.dest != events.DestHome
	p.involved = p.services || municipalCare

	admit := add(t, &fact{kind: fAdmit, class: class})
	if r.Float64() < mix.CancelAdmission {
		add(after(t, 10*time.Minute, time.Hour), &fact{kind: fCancel, ref: admit})
		m.finish(p, add, after)
		return p
	}
	if p.services {
		m.admissionReport(p, add, admit, after)
	}
	if convert {
		add(convertAt, &fact{kind: fConvert, class: events.Inpatient})
	}
	stayStart := t
	if convert {
		stayStart = convertAt
	}

	// Transfer to the region's specialist hospital.
	current := p.first
	earliest := stayStart.Add(time.Hour) // ready-for-discharge not before
	if inpatient && los > 24*time.Hour && p.home.cl.specialist != p.first && r.Float64() < mix.Transfer {
		at := stayStart.Add(time.Duration((0.15 + 0.35*r.Float64()) * float64(los)))
		current = p.home.cl.specialist
		add(at, &fact{kind: fTransfer, from: p.first, hospital: current})
		earliest = at.Add(time.Hour)
	}
	// Leave, in the middle of a longer stay.
	if inpatient && los > 72*time.Hour && r.Float64() < mix.Leave {
		at := stayStart.Add(time.Duration((0.3 + 0.2*r.Float64()) * float64(los)))
		if at.After(earliest) {
			back := after(at, 12*time.Hour, 48*time.Hour)
			if limit := stayStart.Add(time.Duration(0.75 * float64(los))); back.After(limit) {
				back = limit
			}
			if back.After(at.Add(2 * time.Hour)) {
				add(at, &fact{kind: fLeaveStart, hospital: current, until: back})
				add(back, &fact{kind: fLeaveEnd, hospital: current})
				earliest = back.Add(time.Hour)
			}
		}
	}
	// Care communications from the hospital during the stay, some
	// answered.
	if p.involved {
		for range poisson(r, mix.CareCommunications) {
			at := stayStart.Add(time.Duration((0.1 + 0.8*r.Float64()) * float64(end.Sub(stayStart))))
			c := add(at, &fact{kind: fCareComm, hospital: current, category: pick(r, careCategories), topic: pick(r, careTopics)})
			c.header = p.uuid()
			m.ack(p, add, c, after)
			if r.Float64() < mix.Reply {
				rep := add(after(at, time.Hour, 20*time.Hour), &fact{kind: fReply, hospital: current, toHospital: true, ref: c, category: c.category, topic: c.topic})
				rep.header = p.uuid()
				m.ack(p, add, rep, after)
			}
		}
	}
	if dies {
		at := stayStart.Add(time.Duration((0.3 + 0.7*r.Float64()) * float64(end.Sub(stayStart))))
		if at.Before(earliest) {
			at = earliest
		}
		add(at, &fact{kind: fDeath, hospital: current})
		m.finish(p, add, after)
		return p
	}
	// The day before: an expected discharge (HL7 only).
	if inpatient && los > 48*time.Hour && r.Float64() < mix.ExpectedDischarge {
		at := end.Add(-time.Duration((12 + 24*r.Float64()) * hour))
		if at.After(earliest) {
			add(at, &fact{kind: fExpected, hospital: current, until: end.Truncate(time.Hour)})
		}
	}
	// Færdigbehandlet: on the day, or days before for those who wait for
	// a municipal place.
	if inpatient && municipalCare {
		wait := time.Duration((2 + 4*r.Float64()) * hour)
		waits := mix.ReadyWaits
		if p.dest == events.DestNursingHome {
			waits = math.Min(1, waits*1.6)
		}
		if r.Float64() < waits {
			wait = time.Duration((24 + r.ExpFloat64()*mix.ReadyWaitDays*24) * hour)
		}
		if at := end.Add(-wait); at.After(earliest) {
			add(at, &fact{kind: fReady, hospital: current})
		} else if earliest.Before(end.Add(-time.Hour)) {
			add(earliest, &fact{kind: fReady, hospital: current})
		}
	}
	add(end, &fact{kind: fDischarge, hospital: current, dest: p.dest})
	// After discharge: the discharge letter to the GP and a
	// rehabilitation plan to the municipality, each sometimes late or
	// missing.
	if at, ok := m.timing(r, mix.DischargeLetter, end, after,
		[2]time.Duration{time.Hour, 24 * time.Hour}, [2]time.Duration{24 * time.Hour, 72 * time.Hour}, [2]time.Duration{72 * time.Hour, 240 * time.Hour}); ok {
		f := add(at, &fact{kind: fLetter, hospital: current})
		f.header = p.uuid()
	}
	if inpatient && r.Float64() < p.band.RehabilitationPlan {
		if at, ok := m.timing(r, mix.RehabilitationPlan, end, after,
			[2]time.Duration{-2 * time.Hour, 0}, [2]time.Duration{}, [2]time.Duration{48 * time.Hour, 144 * time.Hour}); ok {
			f := add(at, &fact{kind: fRehabPlan, hospital: current, until: end.Add(7 * 24 * time.Hour)})
			f.header = p.uuid()
		}
	}
	m.finish(p, add, after)
	return p
}

// finish plans the municipality's acknowledgements of the
// HospitalNotifications a MedCom hospital sends, and puts the facts in
// order.
func (m *Model) finish(p *pathway, add func(time.Time, *fact) *fact, after func(time.Time, time.Duration, time.Duration) time.Time) {
	if !p.first.hl7 && p.involved {
		for _, f := range slices.Clone(p.facts) {
			switch f.kind {
			case fAdmit, fConvert, fTransfer, fLeaveStart, fLeaveEnd, fDischarge, fDeath, fCancel:
				m.ack(p, add, f, after)
			}
		}
	}
	m.sortFacts(p)
}

// timing draws when a document goes, relative to base: within one of the
// three windows (on time, slow, late) by the Timing's shares, or never.
func (m *Model) timing(r *rand.Rand, t Timing, base time.Time, after func(time.Time, time.Duration, time.Duration) time.Time, onTime, slow, late [2]time.Duration) (time.Time, bool) {
	x := r.Float64()
	switch {
	case x < t.OnTime:
		return after(base, onTime[0], onTime[1]), true
	case x < t.OnTime+t.Slow:
		return after(base, slow[0], slow[1]), true
	case x < t.OnTime+t.Slow+t.Late:
		return after(base, late[0], late[1]), true
	}
	return time.Time{}, false
}

// admissionReport plans the municipality's admission report, asked for at
// admission: a CareCommunication from the municipality to the hospital.
func (m *Model) admissionReport(p *pathway, add func(time.Time, *fact) *fact, admit *fact, after func(time.Time, time.Duration, time.Duration) time.Time) {
	at, ok := m.timing(p.rng, m.mix.AdmissionReport, admit.at, after,
		[2]time.Duration{time.Hour, 20 * time.Hour}, [2]time.Duration{20 * time.Hour, 24 * time.Hour}, [2]time.Duration{25 * time.Hour, 72 * time.Hour})
	if !ok {
		return
	}
	f := add(at, &fact{kind: fReply, toHospital: true, ref: admit, category: "carecoordination", topic: "Indlæggelsesrapport"})
	f.header = p.uuid()
	m.ack(p, add, f, after)
}

// ack plans the receiver's acknowledgement of a MedCom message.
func (m *Model) ack(p *pathway, add func(time.Time, *fact) *fact, msg *fact, after func(time.Time, time.Duration, time.Duration) time.Time) {
	a := m.mix.Acknowledgement
	x := p.rng.Float64()
	var at time.Time
	code := "ok"
	switch {
	case x < a.OK:
		at = after(msg.at, time.Minute, 15*time.Minute)
	case x < a.OK+a.Late:
		at = after(msg.at, 2*time.Hour, 8*time.Hour)
	case x < a.OK+a.Late+a.Error:
		at, code = after(msg.at, time.Minute, 5*time.Minute), "fatal-error"
	default:
		return
	}
	msg.acked = true
	add(at, &fact{kind: fAck, ref: msg, ackCode: code, hospital: msg.hospital})
}

// sortFacts puts the facts in time order (stable, so facts at the same
// second keep the order they were planned in) and drops what comes after
// a death.
func (m *Model) sortFacts(p *pathway) {
	fs := p.facts
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].at.Before(fs[j-1].at); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
	// After a death only answers to earlier messages still come.
	out := fs[:0]
	dead := false
	kept := map[*fact]bool{}
	for _, f := range fs {
		answer := f.kind == fAck || f.kind == fReply
		if dead && (!answer || !kept[f.ref]) {
			continue
		}
		if f.kind == fDeath {
			dead = true
		}
		kept[f] = true
		out = append(out, f)
	}
	// Hospitals change at a transfer: later facts happen at the new one,
	// and an answer goes to where its message came from.
	cur := p.first
	for i, f := range out {
		f.seq = i
		switch f.kind {
		case fTransfer:
			cur = f.hospital
		case fAck, fReply:
			f.hospital = f.ref.hospital
		default:
			f.hospital = cur
		}
	}
	p.facts = out
}

// uuid returns a random (version 4) UUID from the pathway's id source.
func (p *pathway) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := p.ids.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// poisson draws from a Poisson distribution with mean lambda (Knuth).
func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

var (
	careCategories = []string{"carecoordination", "nursing", "medicine", "training", "home-care-assessment"}
	careTopics     = []string{"Medicinændring", "Plejebehov efter udskrivelse", "Hjælpemidler", "Forventet udskrivelse", "Ernæring", "Mobilisering"}
)
