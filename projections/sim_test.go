package projections

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// sim plays the engine for tests: it decides commands with events.Decide,
// gives the events deterministic ids, sequences and record times, runs the
// handoff policies after each append and, like the scheduler, appends a
// DeadlineElapsed for each deadline that passes. Its log is what a real
// engine would have written, byte for byte the same on every run.
type sim struct {
	tb     testing.TB
	pol    Policies
	sched  *Gaps
	log    []events.Envelope
	state  map[uuid.UUID]*events.Pathway
	hist   map[uuid.UUID][]events.Envelope
	seen   map[string]bool
	clock  time.Time // record time: never goes back
	strict bool      // fail on a rule error instead of skipping the command
}

var simSpace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:stafet:test"))

func newSim(tb testing.TB, r Rules) *sim {
	tb.Helper()
	pol, err := NewPolicies(r)
	if err != nil {
		tb.Fatal(err)
	}
	g, err := NewGaps(r)
	if err != nil {
		tb.Fatal(err)
	}
	return &sim{tb: tb, pol: pol, sched: g, state: map[uuid.UUID]*events.Pathway{}, hist: map[uuid.UUID][]events.Envelope{}, seen: map[string]bool{}, strict: true}
}

func pathwayID(name string) uuid.UUID { return uuid.NewSHA1(simSpace, []byte("pathway/"+name)) }

func patientRef(n int) events.PatientRef { return events.PatientRef(fmt.Sprintf("p%032x", n)) }

// at runs the scheduler up to t, then executes a command that occurred at
// t and was recorded now (or at t, if later).
func (s *sim) at(t time.Time, pw uuid.UUID, actor events.OrgID, ps ...events.Payload) []events.Envelope {
	s.tb.Helper()
	s.tick(t)
	return s.exec(events.Command{Pathway: pw, Actor: events.Actor{Org: actor}, OccurredAt: t, Payloads: ps}, time.Time{})
}

// late executes a command that occurred at t but is recorded at rec: a
// message that arrived late.
func (s *sim) late(t, rec time.Time, pw uuid.UUID, actor events.OrgID, ps ...events.Payload) []events.Envelope {
	s.tb.Helper()
	s.tick(rec)
	return s.exec(events.Command{Pathway: pw, Actor: events.Actor{Org: actor}, OccurredAt: t, Payloads: ps}, rec)
}

// tick appends a DeadlineElapsed for every deadline passed by t, in order.
func (s *sim) tick(t time.Time) {
	s.tb.Helper()
	for {
		due := s.sched.Due(time.Time{}, t)
		if len(due) == 0 {
			return
		}
		for _, d := range due {
			if k := d.Elapsed().Source.Key(); s.seen[k] {
				st := s.state[d.Pathway]
				_, err := events.Decide(st, d.Elapsed())
				s.tb.Fatalf("deadline %+v is still due after its DeadlineElapsed was tried (closed=%v): %v", d, st.Closed(), err)
			}
			s.exec(d.Elapsed(), d.At)
		}
	}
}

func (s *sim) exec(cmd events.Command, rec time.Time) []events.Envelope {
	s.tb.Helper()
	if k := cmd.Source.Key(); k != "" {
		if s.seen[k] {
			return nil
		}
		s.seen[k] = true
	}
	st := s.state[cmd.Pathway]
	if st == nil {
		st = events.Fold(nil)
	}
	evs, err := events.Decide(st, cmd)
	if err != nil {
		if !s.strict && (errors.Is(err, events.ErrRule) || errors.Is(err, events.ErrUnknownPathway)) {
			return nil
		}
		var ve *events.ValidationError
		if !s.strict && errors.As(err, &ve) {
			return nil
		}
		s.tb.Fatalf("decide %T at %s: %v", cmd.Payloads[0], cmd.OccurredAt.Format(time.DateTime), err)
	}
	if rec.IsZero() {
		rec = cmd.OccurredAt
	}
	if rec.After(s.clock) {
		s.clock = rec
	}
	for i := range evs {
		e := &evs[i]
		e.Seq = uint64(len(s.log) + 1)
		e.ID = uuid.NewSHA1(simSpace, []byte("event/"+strconv.FormatUint(e.Seq, 10)))
		e.RecordedAt = s.clock
		s.log = append(s.log, *e)
		s.hist[e.Pathway] = append(s.hist[e.Pathway], *e)
		if _, ok := e.Annuls(); ok {
			s.state[e.Pathway] = events.Fold(s.hist[e.Pathway])
		} else {
			if s.state[e.Pathway] == nil {
				s.state[e.Pathway] = events.Fold(nil)
			}
			s.state[e.Pathway].Apply(e)
		}
		if err := s.sched.Apply(*e); err != nil {
			s.tb.Fatal(err)
		}
		if h := s.hist[e.Pathway]; e.ChangesPast() {
			if err := s.sched.Refold(e.Pathway, h[:len(h)-1], h); err != nil {
				s.tb.Fatal(err)
			}
		}
	}
	for _, e := range evs {
		for _, c := range s.pol.Decide(s.state[e.Pathway], e) {
			s.exec(c, time.Time{})
		}
	}
	return evs
}

// Organisations of the scripted day, in cluster Aarhus.
var (
	auh    = events.SOR("6620000000001") // Aarhus Universitetshospital
	aarhus = events.Kommune("0751")
	samso  = events.Kommune("0741")
	gp1    = events.OrgID("yder:012345")
	gp2    = events.OrgID("yder:054321")
	cph    = mustLoad("Europe/Copenhagen")
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // tests only: tzdata is embedded by rules.go
	}
	return loc
}

// day is the scripted day: Monday 2 November 2026, Danish time.
func day(h, m int) time.Time { return time.Date(2026, 11, 2, h, m, 0, 0, cph) }

// dayNames names the scripted day's pathways.
var dayNames = []string{"late-accept", "rejected", "nobody-accepts", "missing-rehab-plan", "leave", "corrected", "rehab-accepted"}

// scriptedDay plays one day in cluster Aarhus: admissions, offers made by
// the policies, a late acceptance, a rejection nobody follows up, a
// discharge nobody accepts, a missing rehabilitation plan, a leave, a
// cancelled discharge and a rehabilitation plan that is accepted. It
// returns the simulator holding the log.
func scriptedDay(tb testing.TB, r Rules) *sim {
	tb.Helper()
	s := newSim(tb, r)
	p := map[string]uuid.UUID{}
	for _, n := range dayNames {
		p[n] = pathwayID(n)
	}
	open := func(t time.Time, name string, n int, muni events.OrgID, gp events.OrgID) {
		s.at(t, p[name], auh, &events.PathwayOpened{Patient: patientRef(n), Cluster: "aarhus", Municipality: muni, GP: gp})
	}
	offer := func(policy string, trigger events.Envelope) string { return policy + "/" + trigger.ID.String() }

	// 06:00 nobody-accepts: a Samsø patient; discharge planning offered.
	open(day(6, 0), "nobody-accepts", 3, samso, gp2)
	s.at(day(6, 0), p["nobody-accepts"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient, Notified: samso})
	// 06:30 leave: admitted, admission report requested.
	open(day(6, 30), "leave", 5, aarhus, gp1)
	s.at(day(6, 30), p["leave"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient, Notified: aarhus, ReportRequested: true})
	// 07:00 late-accept and rehab-accepted.
	open(day(7, 0), "late-accept", 1, aarhus, gp1)
	s.at(day(7, 0), p["late-accept"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient, Notified: aarhus, ReportRequested: true})
	open(day(7, 0), "rehab-accepted", 7, aarhus, gp1)
	s.at(day(7, 0), p["rehab-accepted"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})
	// 07:30 missing-rehab-plan: not notified.
	open(day(7, 30), "missing-rehab-plan", 4, aarhus, gp1)
	s.at(day(7, 30), p["missing-rehab-plan"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})
	// 08:00 rejected.
	open(day(8, 0), "rejected", 2, aarhus, gp1)
	rejAdm := s.at(day(8, 0), p["rejected"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.AcuteAmbulant, Notified: aarhus})
	// 08:30 corrected.
	open(day(8, 30), "corrected", 6, aarhus, gp1)
	s.at(day(8, 30), p["corrected"], auh, &events.PatientAdmitted{Hospital: auh, Class: events.Inpatient})

	// 09:00 Aarhus sends late-accept's admission report; the hospital
	// acknowledges it. Aarhus asks for missing-rehab-plan's rehabilitation
	// plan by 14:00. leave is ready for discharge.
	s.at(day(9, 0), p["late-accept"], aarhus, &events.DocumentSent{Document: "report-1", Kind: events.AdmissionReport, From: aarhus, To: auh})
	s.at(day(9, 0), p["missing-rehab-plan"], aarhus, &events.DocumentRequested{Document: "rehab-plan-4", Kind: events.RehabilitationPlan, From: aarhus, To: auh, Deadline: day(14, 0)})
	s.at(day(9, 0), p["leave"], auh, &events.ReadyForDischarge{Hospital: auh, Municipality: aarhus})
	s.at(day(9, 10), p["late-accept"], auh, &events.DocumentAcknowledged{Document: "report-1", By: auh, OK: true})
	// 10:00 Aarhus accepts discharge planning for late-accept.
	adm := s.hist[p["late-accept"]][1]
	s.at(day(10, 0), p["late-accept"], aarhus, &events.HandoffAccepted{Offer: offer(PolicyAdmissionNotified, adm), By: aarhus})
	// 10:00 corrected is discharged by mistake (home with services), and
	// the discharge is cancelled at 10:20.
	wrong := s.at(day(10, 0), p["corrected"], auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
	s.at(day(10, 20), p["corrected"], auh, &events.Correction{Annuls: wrong[0].ID, Reason: "A13 cancel discharge"})
	// 11:00 late-accept is ready for discharge.
	s.at(day(11, 0), p["late-accept"], auh, &events.ReadyForDischarge{Hospital: auh, Municipality: aarhus})
	// 12:00 Aarhus rejects rejected's discharge planning; nobody offers it
	// again. missing-rehab-plan goes home; leave goes on leave.
	s.at(day(12, 0), p["rejected"], aarhus, &events.HandoffRejected{Offer: offer(PolicyAdmissionNotified, rejAdm[0]), By: aarhus, Reason: "not resident"})
	s.at(day(12, 0), p["missing-rehab-plan"], auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
	s.at(day(12, 0), p["leave"], auh, &events.LeaveStarted{Hospital: auh, Until: day(18, 0)})
	// 13:00 nobody-accepts goes home with services, discharge planning
	// still pending; nobody at Samsø answers anything today.
	s.at(day(13, 0), p["nobody-accepts"], auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices, To: samso})
	// 13:30 rehab-accepted: a rehabilitation plan with its own deadline,
	// then discharge home; Aarhus acknowledges and accepts.
	s.at(day(13, 30), p["rehab-accepted"], auh, &events.DocumentSent{Document: "rehab-plan-7", Kind: events.RehabilitationPlan, From: auh, To: aarhus, Deadline: time.Date(2026, 11, 5, 12, 0, 0, 0, cph)})
	s.at(day(14, 0), p["rehab-accepted"], auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHome})
	s.at(day(14, 30), p["rehab-accepted"], aarhus, &events.DocumentAcknowledged{Document: "rehab-plan-7", By: aarhus, OK: true})
	plan := s.hist[p["rehab-accepted"]][2]
	s.at(day(15, 0), p["rehab-accepted"], aarhus, &events.HandoffAccepted{Offer: offer(PolicyRehabilitationPlan, plan), By: aarhus})
	// 15:00 late-accept goes home with services; 16:00 the discharge letter
	// goes to the GP, who acknowledges it.
	dis := s.at(day(15, 0), p["late-accept"], auh, &events.PatientDischarged{Hospital: auh, Destination: events.DestHomeWithServices})
	s.at(day(16, 0), p["late-accept"], auh, &events.DocumentSent{Document: "letter-1", Kind: events.DischargeLetter, From: auh, To: gp1})
	s.at(day(16, 30), p["late-accept"], gp1, &events.DocumentAcknowledged{Document: "letter-1", By: gp1, OK: true})
	// 18:00 leave returns.
	s.at(day(18, 0), p["leave"], auh, &events.LeaveEnded{Hospital: auh})
	// 20:30 Aarhus accepts late-accept's home care, 90 minutes late.
	s.at(day(20, 30), p["late-accept"], aarhus, &events.HandoffAccepted{Offer: offer(PolicyDischargeServices, dis[0]), By: aarhus})
	// The scheduler runs to the end of the day.
	s.tick(day(23, 59))
	return s
}

// dayNow is when the scripted day is looked at.
var dayNow = day(23, 59)

// randomLog plays n pathways of random but rule-abiding events, with
// Corrections, leaves, documents and closures, interleaved by time.
func randomLog(tb testing.TB, seed uint64, n int) *sim {
	tb.Helper()
	s := newSim(tb, Rules{})
	s.strict = false
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	munis := []events.OrgID{aarhus, samso, events.Kommune("0727")}
	clusters := []string{"aarhus", "aarhus", "horsens"}
	hospitals := []events.OrgID{auh, events.SOR("6620000000002")}
	type step struct {
		at time.Time
		pw uuid.UUID
		k  int
	}
	var steps []step
	base := day(0, 0)
	for i := range n {
		pw := pathwayID("random/" + strconv.FormatUint(seed, 10) + "/" + strconv.Itoa(i))
		t := base.Add(time.Duration(rng.IntN(48*60)) * time.Minute)
		steps = append(steps, step{t, pw, -1})
		for k := range 6 + rng.IntN(14) {
			t = t.Add(time.Duration(5+rng.IntN(12*60)) * time.Minute)
			steps = append(steps, step{t, pw, k})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.at.Compare(b.at) })
	for i, st := range steps {
		pw := st.pw
		if st.k < 0 {
			m := rng.IntN(len(munis))
			s.at(st.at, pw, hospitals[0], &events.PathwayOpened{Patient: patientRef(i), Cluster: clusters[m], Municipality: munis[m], GP: gp1})
			continue
		}
		ps := s.state[pw]
		if ps == nil {
			continue
		}
		h := ps.Hospital()
		if h == "" {
			h = hospitals[rng.IntN(2)]
		}
		muni := ps.Municipality()
		doc := "doc-" + strconv.Itoa(i)
		var pl events.Payload
		actor := h
		switch r := rng.IntN(20); {
		case !ps.Admitted() && r < 8:
			pl = &events.PatientAdmitted{Hospital: h, Class: events.Inpatient, Notified: muni, ReportRequested: rng.IntN(2) == 0}
		case r < 2:
			pl = &events.ReadyForDischarge{Hospital: h}
		case r < 4:
			dests := []events.Destination{events.DestHome, events.DestHomeWithServices, events.DestNursingHome, events.DestMunicipalAcuteBed}
			pl = &events.PatientDischarged{Hospital: h, Destination: dests[rng.IntN(len(dests))]}
		case r < 5:
			pl = &events.LeaveStarted{Hospital: h}
		case r < 6:
			pl = &events.LeaveEnded{Hospital: h}
		case r < 9:
			o, ok := pendingOffer(s, pw, rng)
			if !ok {
				whats := []events.Responsibility{events.HomeCare, events.HomeNursing, events.Rehabilitation}
				pl = &events.HandoffOffered{Offer: "o-" + strconv.Itoa(i), From: h, To: muni, What: whats[rng.IntN(len(whats))]}
				break
			}
			actor = o.To
			switch rng.IntN(4) {
			case 0, 1:
				pl = &events.HandoffAccepted{Offer: o.ID, By: o.To}
			case 2:
				pl = &events.HandoffRejected{Offer: o.ID, By: o.To, Reason: "no capacity"}
			default:
				actor = o.From
				pl = &events.HandoffWithdrawn{Offer: o.ID, By: o.From}
			}
		case r < 11:
			kinds := []events.DocumentKind{events.DischargeLetter, events.RehabilitationPlan, events.CareProcessPlan, events.AdmissionReport}
			pl = &events.DocumentSent{Document: doc, Kind: kinds[rng.IntN(len(kinds))], From: h, To: muni}
		case r < 12:
			pl = &events.DocumentRequested{Document: doc, Kind: events.RehabilitationPlan, From: muni, To: h}
		case r < 13:
			if d, ok := lastDocument(s, pw); ok {
				actor = muni
				pl = &events.DocumentAcknowledged{Document: d, By: muni, OK: rng.IntN(5) != 0}
			}
		case r < 14:
			actor = muni
			pl = &events.ServiceStarted{By: muni, What: events.Rehabilitation}
		case r < 15:
			actor = muni
			pl = &events.ResponsibilityReleased{By: muni, What: events.HomeCare}
		case r < 17:
			// Any event but a DeadlineElapsed: the scheduler's idempotent
			// append could not record the deadline again.
			if hs := s.hist[pw]; len(hs) > 1 {
				if target := hs[1+rng.IntN(len(hs)-1)]; target.Type != events.TypeDeadlineElapsed {
					actor = ""
					pl = &events.Correction{Annuls: target.ID, Reason: "test correction"}
				}
			}
		case r < 18 && st.k > 10:
			pl = &events.PathwayClosed{Reason: "done"}
		case r < 19 && rng.IntN(4) == 0:
			pl = &events.PatientDied{}
		}
		if pl != nil && muni != "" {
			s.at(st.at, pw, actor, pl)
		}
	}
	s.tick(base.Add(96 * time.Hour))
	return s
}

func pendingOffer(s *sim, pw uuid.UUID, rng *rand.Rand) (events.Offer, bool) {
	var out []events.Offer
	for _, e := range s.hist[pw] {
		if o, ok := e.Payload.(*events.HandoffOffered); ok {
			if st, ok := s.state[pw].Offer(o.Offer); ok && st.Status == events.OfferPending {
				out = append(out, st)
			}
		}
	}
	if len(out) == 0 {
		return events.Offer{}, false
	}
	return out[rng.IntN(len(out))], true
}

func lastDocument(s *sim, pw uuid.UUID) (string, bool) {
	hs := s.hist[pw]
	for i := len(hs) - 1; i >= 0; i-- {
		if d, ok := hs[i].Payload.(*events.DocumentSent); ok {
			return d.Document, true
		}
	}
	return "", false
}
