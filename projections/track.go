package projections

import (
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// track is the Gaps projection's state of one open pathway: what it needs
// to see a baton dropped. Deadlines still running are watches; a watch
// whose deadline passes (in the log: DeadlineElapsed) or that is resolved
// late becomes a gap. Gaps that an event opens directly (a discharge with
// nobody taking over, ready for discharge) are gaps at once.
type track struct {
	cluster, municipality, gp, hospital sym
	readyBy                             sym // municipality named by ReadyForDischarge
	stay, nReady, nNoOwner              uint16
	flags                               uint16
	readyDay                            int32 // the last bed-day counted
	admitted, discharged, leave         stamp
	holders                             []hold
	watches                             []watch
	gaps                                []gapRec
	// In a Set, the pathway's custody in Owner and state in Board, so
	// that Set.Apply finds all three with one map lookup; nil until the
	// Set links them, and once either leaves its map (Set.link).
	custody *custody
	board   *boardPath
}

// track flags.
const (
	fAdmitted uint16 = 1 << iota
	fOnLeave
	fReady
	fDied
	fClosed
	fLetterSent  // a discharge letter was sent during the current stay
	fPlanSent    // a care-process plan was sent during the current stay
	fReportAsked // the admission report was asked for during the current stay
)

func (t *track) has(f uint16) bool { return t.flags&f != 0 }
func (t *track) set(f uint16)      { t.flags |= f }
func (t *track) clear(f uint16)    { t.flags &^= f }

type hold struct{ what, org sym }

// refKind says what a watch or gap refers to, and so how its Ref reads.
type refKind uint8

const (
	refOffer    refKind = iota // "<offer id>"
	refReoffer                 // "reoffer/<rejected offer id>"
	refRequest                 // "request/<document id>"
	refAck                     // "ack/<document id>"
	refRehab                   // "rehabilitation/<plan's document id>"
	refReport                  // "admission-report/<stay>"
	refLetter                  // "discharge-letter/<stay>"
	refCarePlan                // "care-process-plan/<stay>"
	refReady                   // "ready/<n>"
	refNoOwner                 // "<responsibility>/<n>"
)

// ref identifies a watch or a gap within its pathway. id is an offer or
// document id taken from the event (not copied), or an interned name; n
// is the stay, a counter, or for an id, how many gaps of the kind about
// it came before.
type ref struct {
	id   string
	n    uint16
	rk   refKind
	kind uint8
}

// String returns the ref as Gap.Ref and DeadlineElapsed.Ref spell it. A
// ref named by an offer or document id gets "#n" when it is the n-th gap
// of its kind about that id (a document resent and overdue again).
func (r ref) String() string {
	n := strconv.Itoa(int(r.n))
	again := ""
	if r.n > 0 {
		again = "#" + n
	}
	switch r.rk {
	case refOffer:
		return r.id + again
	case refReoffer:
		return "reoffer/" + r.id + again
	case refRequest:
		return "request/" + r.id + again
	case refAck:
		return "ack/" + r.id + again
	case refRehab:
		return "rehabilitation/" + r.id + again
	case refReport:
		return "admission-report/" + n
	case refLetter:
		return "discharge-letter/" + n
	case refCarePlan:
		return "care-process-plan/" + n
	case refReady:
		return "ready/" + n
	case refNoOwner:
		return r.id + "/" + n
	}
	return r.id
}

// Gap kinds, as stored.
const (
	kNoOwner uint8 = iota
	kOfferOverdue
	kOfferRejected
	kDischargedBeforeAccept
	kDocumentOverdue
	kReadyButWaiting
	nKinds
)

type watch struct {
	ref
	rule     ruleID
	flags    uint8
	what     sym // the responsibility offered, or the document kind requested
	party    sym // who must act: the offer's addressee, the document's sender
	other    sym // who else can close it: the offer's sender, the receiver
	start    stamp
	deadline stamp // 0: none, or not known yet (a plan before discharge)
}

// watch flags.
const (
	wPaused  uint8 = 1 << iota // a municipal clock stopped by leave (rule 9)
	wElapsed                   // DeadlineElapsed recorded: its gap is open
)

type gapRec struct {
	ref
	rule                     ruleID
	escalated                bool
	a, b                     sym // who can close it
	opened, deadline, closed stamp
	by                       uuid.UUID // the event that closed it
	byType                   sym
}

// env is what a fold step needs besides the pathway's own state.
type env struct {
	rs      *ruleset
	syms    *symbols
	st      *stats // nil: no figures (a single pathway's view)
	sign    int32  // +1 folding in, -1 taking a pathway's contribution back
	pathway uuid.UUID
}

func (x *env) org(id events.OrgID) sym {
	if id == "" {
		return 0
	}
	return x.syms.org(id)
}

func (x *env) isRegional(s sym) bool {
	return s != 0 && strings.HasPrefix(x.syms.str(s), events.SchemeRegion+":")
}

func (x *env) isMunicipal(s sym) bool {
	return s != 0 && strings.HasPrefix(x.syms.str(s), events.SchemeKommune+":")
}

// arrivalCare lists the responsibilities a receiver must hold when the
// patient arrives: an offer of one pending at discharge is a dropped baton.
var arrivalCare = []events.Responsibility{events.HomeCare, events.HomeNursing, events.NursingHome, events.MunicipalBed, events.DischargePlanning}

func (t *track) evolve(x *env, e *events.Envelope) {
	ts := stampOf(e.OccurredAt)
	switch v := e.Payload.(type) {
	case *events.PathwayOpened:
		t.cluster = x.syms.of(v.Cluster)
		if v.Municipality != "" {
			t.municipality = x.org(v.Municipality)
		}
		t.gp = x.org(v.GP)
	case *events.PatientAdmitted:
		t.admit(x, e, v, ts)
	case *events.PatientTransferred:
		t.hospital = x.org(v.To)
	case *events.LeaveStarted:
		t.startLeave(x, e, ts)
	case *events.LeaveEnded:
		if t.has(fOnLeave) {
			t.endLeave(x, ts)
			if t.has(fReady) && x.rs.on(rReady) && x.rs.on(rLeave) {
				t.openReady(x, ts)
			}
		}
	case *events.ReadyForDischarge:
		if t.has(fAdmitted) && !t.has(fReady) {
			t.set(fReady)
			t.readyBy = x.org(v.Municipality)
			if t.readyBy == 0 {
				t.readyBy = t.municipality
			}
			if x.rs.on(rReady) && !(t.has(fOnLeave) && x.rs.on(rLeave)) {
				t.openReady(x, ts)
			}
		}
	case *events.PatientDischarged:
		t.discharge(x, e, v, ts)
	case *events.PatientDied:
		t.set(fDied)
		t.clear(fAdmitted | fReady | fOnLeave)
		t.holders = nil
		t.closeAll(x, e, ts)
	case *events.HandoffOffered:
		t.offer(x, e, v, ts)
	case *events.HandoffAccepted:
		t.accept(x, e, v, ts)
	case *events.HandoffRejected:
		if w, ok := t.answer(x, e, v.Offer, ts); ok && x.rs.on(rReoffer) {
			t.addWatch(x, watch{
				ref:  ref{id: v.Offer, rk: refReoffer, kind: kOfferRejected},
				rule: rReoffer, what: w.what, party: w.other, start: ts, deadline: stampOf(x.rs.deadline(rReoffer, ts.time())),
			})
		}
	case *events.HandoffWithdrawn:
		t.answer(x, e, v.Offer, ts)
	case *events.ResponsibilityReleased:
		t.release(x, e, v, ts)
	case *events.DocumentRequested:
		t.request(x, v, ts)
	case *events.DocumentSent:
		t.sent(x, e, v, ts)
	case *events.DocumentAcknowledged:
		i := t.findWatch(refAck, v.Document)
		switch {
		case i < 0:
		case v.OK:
			t.resolve(x, e, ts, i)
		case t.watches[i].flags&wElapsed == 0 && (t.watches[i].deadline == 0 || t.watches[i].deadline > ts):
			// A negative acknowledgement: not delivered, overdue now.
			t.watches[i].deadline = ts
		}
	case *events.ServiceStarted:
		if v.What == events.Rehabilitation {
			t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refRehab })
		}
	case *events.DeadlineElapsed:
		t.elapse(x, v)
	case *events.PathwayClosed:
		t.closeAll(x, e, ts)
		t.set(fClosed)
	}
}

func (t *track) admit(x *env, e *events.Envelope, v *events.PatientAdmitted, ts stamp) {
	if t.municipality == 0 && v.Notified != "" {
		t.municipality = x.org(v.Notified)
	}
	t.hospital = x.org(v.Hospital)
	if !t.has(fAdmitted) {
		t.stay++
		t.set(fAdmitted)
		t.clear(fReady | fOnLeave | fLetterSent | fPlanSent | fReportAsked)
		t.admitted = ts
		x.count(t, ts, dAdmissions, 1)
		// Back in hospital: the hospital holds the baton again.
		t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kNoOwner || g.kind == kDischargedBeforeAccept })
	}
	if !v.ReportRequested || !x.rs.on(rAdmissionReport) || t.has(fReportAsked) {
		return
	}
	t.set(fReportAsked)
	party := x.org(v.Notified)
	if party == 0 {
		party = t.municipality
	}
	if party == 0 {
		return
	}
	t.addWatch(x, watch{
		ref:  ref{rk: refReport, n: t.stay, kind: kDocumentOverdue},
		rule: rAdmissionReport, party: party, other: t.hospital, start: ts,
		deadline: stampOf(x.rs.deadline(rAdmissionReport, ts.time())),
	})
}

func (t *track) startLeave(x *env, e *events.Envelope, ts stamp) {
	if t.has(fOnLeave) {
		return
	}
	t.set(fOnLeave)
	t.leave = ts
	if !x.rs.on(rLeave) {
		return
	}
	for i := range t.watches {
		w := &t.watches[i]
		if w.flags&wElapsed == 0 && (w.deadline == 0 || w.deadline > ts) && x.isMunicipal(w.party) {
			w.flags |= wPaused
		}
	}
	t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kReadyButWaiting })
}

// endLeave restarts the municipal clocks that leave stopped: each
// deadline moves by the time its clock stood still.
func (t *track) endLeave(x *env, ts stamp) {
	t.clear(fOnLeave)
	for i := range t.watches {
		w := &t.watches[i]
		if w.flags&wPaused == 0 {
			continue
		}
		w.flags &^= wPaused
		if w.deadline != 0 {
			w.deadline += ts - max(t.leave, w.start)
		}
	}
}

func (t *track) openReady(x *env, ts stamp) {
	t.nReady++
	r := x.rs.rule[rReady]
	t.open(x, gapRec{
		ref:  ref{rk: refReady, n: t.nReady, kind: kReadyButWaiting},
		rule: rReady, a: t.readyBy, opened: ts, deadline: ts + stamp(r.after),
	})
}

func (t *track) discharge(x *env, e *events.Envelope, v *events.PatientDischarged, ts stamp) {
	if t.has(fOnLeave) {
		t.endLeave(x, ts)
	}
	t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kReadyButWaiting })
	t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refReport })
	t.clear(fAdmitted | fReady)
	t.discharged = ts
	x.count(t, ts, dDischarges, 1)
	hospital := x.org(v.Hospital)
	if x.rs.on(rDischargedBeforeAccept) {
		for _, w := range t.watches {
			if w.rk != refOffer || !slices.Contains(arrivalCare, events.Responsibility(x.syms.str(w.what))) {
				continue
			}
			r := ref{id: w.id, rk: refOffer, kind: kDischargedBeforeAccept}
			r.n = t.occurrence(r)
			t.open(x, gapRec{
				ref:  r,
				rule: rDischargedBeforeAccept, a: w.party, b: w.other, opened: ts,
				deadline: stampOf(x.rs.deadline(rDischargedBeforeAccept, ts.time())),
			})
		}
	}
	what, needs := v.Destination.Receiving()
	receiver := x.org(v.To)
	if !x.isMunicipal(receiver) {
		receiver = t.municipality
	}
	if needs && x.rs.on(rNoOwner) && t.holder(x.syms.of(string(what))) == 0 {
		t.openNoOwner(x, x.syms.of(string(what)), receiver, hospital, ts)
	}
	if x.rs.on(rDischargeLetter) && !t.has(fLetterSent) {
		t.addWatch(x, watch{
			ref:  ref{rk: refLetter, n: t.stay, kind: kDocumentOverdue},
			rule: rDischargeLetter, party: hospital, other: t.gp, start: ts,
			deadline: stampOf(x.rs.deadline(rDischargeLetter, ts.time())),
		})
	}
	if needs && x.rs.on(rCareProcessPlan) && !t.has(fPlanSent) && t.admitted != 0 && ts-t.admitted > stamp(x.rs.rule[rCareProcessPlan].after) {
		t.addWatch(x, watch{
			ref:  ref{rk: refCarePlan, n: t.stay, kind: kDocumentOverdue},
			rule: rCareProcessPlan, party: hospital, other: receiver, start: ts, deadline: ts,
		})
	}
	for i := range t.watches {
		if w := &t.watches[i]; w.rk == refRehab && w.deadline == 0 {
			w.deadline = max(ts, stampOf(x.rs.deadline(rRehabilitationStart, ts.time())))
		}
	}
}

func (t *track) openNoOwner(x *env, what, receiver, releaser sym, ts stamp) {
	t.nNoOwner++
	t.open(x, gapRec{
		ref:  ref{id: x.syms.str(what), rk: refNoOwner, n: t.nNoOwner, kind: kNoOwner},
		rule: rNoOwner, a: receiver, b: releaser, opened: ts,
		deadline: stampOf(x.rs.deadline(rNoOwner, ts.time())),
	})
}

func (t *track) offer(x *env, e *events.Envelope, v *events.HandoffOffered, ts stamp) {
	what := x.syms.of(string(v.What))
	// A new offer of the responsibility answers an earlier rejection.
	t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refReoffer && w.what == what })
	rule := rOfferAnswer
	if p, ok := policyByName(v.Policy); ok {
		rule = x.rs.policy[p].rule
	}
	deadline := stampOf(v.Deadline)
	if deadline == 0 {
		deadline = stampOf(x.rs.deadline(rule, ts.time()))
	}
	if !x.rs.on(rule) {
		deadline = 0 // still pending for worklists, never overdue
	}
	t.addWatch(x, watch{
		ref:  ref{id: v.Offer, rk: refOffer, kind: kOfferOverdue},
		rule: rule, what: what, party: x.org(v.To), other: x.org(v.From), start: ts, deadline: deadline,
	})
	// The offer names who receives the task: from 2027 a region for a
	// municipal bed (docs/reform-2027.md). An open no-owner gap of it is
	// theirs to close first.
	for i := range t.gaps {
		if g := &t.gaps[i]; g.kind == kNoOwner && g.closed == 0 && g.id == string(v.What) && x.isRegional(x.org(v.To)) {
			g.a = x.org(v.To)
		}
	}
}

func (t *track) accept(x *env, e *events.Envelope, v *events.HandoffAccepted, ts stamp) {
	i := t.findWatch(refOffer, v.Offer)
	if i < 0 {
		return
	}
	w := t.watches[i]
	x.latency(t, ts-w.start)
	t.resolve(x, e, ts, i)
	t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kDischargedBeforeAccept && g.id == w.id })
	t.hold(w.what, w.party)
	// Someone holds it now: nobody-holds gaps and re-offer clocks for it end.
	name := x.syms.str(w.what)
	t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kNoOwner && g.id == name })
	t.resolveAll(x, e, ts, func(r *watch) bool { return r.rk == refReoffer && r.what == w.what })
}

// answer ends a pending offer that was rejected or withdrawn.
func (t *track) answer(x *env, e *events.Envelope, offer string, ts stamp) (watch, bool) {
	i := t.findWatch(refOffer, offer)
	if i < 0 {
		return watch{}, false
	}
	w := t.watches[i]
	t.resolve(x, e, ts, i)
	t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.kind == kDischargedBeforeAccept && g.id == w.id })
	return w, true
}

func (t *track) release(x *env, e *events.Envelope, v *events.ResponsibilityReleased, ts stamp) {
	what, by := x.syms.of(string(v.What)), x.org(v.By)
	if t.holder(what) != by {
		return
	}
	t.holders = slices.DeleteFunc(t.holders, func(h hold) bool { return h.what == what })
	if v.What == events.HospitalStay || !x.rs.on(rNoOwner) {
		return
	}
	// Released while handing over: the baton is down until the receiver
	// accepts.
	for _, w := range t.watches {
		if w.rk == refOffer && w.what == what {
			t.openNoOwner(x, what, w.party, by, ts)
			return
		}
	}
}

func (t *track) request(x *env, v *events.DocumentRequested, ts stamp) {
	rule := rRequestedDocument
	if v.Kind == events.AdmissionReport {
		rule = rAdmissionReport
	}
	if !x.rs.on(rule) || t.findWatch(refRequest, v.Document) >= 0 {
		return
	}
	deadline := stampOf(v.Deadline)
	if deadline == 0 {
		deadline = stampOf(x.rs.deadline(rule, ts.time()))
	}
	t.addWatch(x, watch{
		ref:  ref{id: v.Document, rk: refRequest, kind: kDocumentOverdue},
		rule: rule, what: x.syms.of(string(v.Kind)), party: x.org(v.To), other: x.org(v.From), start: ts, deadline: deadline,
	})
}

func (t *track) sent(x *env, e *events.Envelope, v *events.DocumentSent, ts stamp) {
	kind := x.syms.of(string(v.Kind))
	t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refRequest && (w.id == v.Document || w.what == kind) })
	switch v.Kind {
	case events.AdmissionReport:
		t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refReport })
	case events.DischargeLetter:
		if t.has(fAdmitted) {
			t.set(fLetterSent)
		}
		t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refLetter })
	case events.CareProcessPlan:
		if t.has(fAdmitted) {
			t.set(fPlanSent)
		}
		t.resolveAll(x, e, ts, func(w *watch) bool { return w.rk == refCarePlan })
	case events.RehabilitationPlan:
		if x.rs.on(rRehabilitationStart) && t.findWatch(refRehab, v.Document) < 0 {
			party := x.org(v.To)
			if !x.isMunicipal(party) {
				party = t.municipality
			}
			deadline := stampOf(v.Deadline)
			if deadline == 0 && !t.has(fAdmitted) && t.discharged != 0 {
				deadline = max(ts, stampOf(x.rs.deadline(rRehabilitationStart, t.discharged.time())))
			}
			t.addWatch(x, watch{
				ref:  ref{id: v.Document, rk: refRehab, kind: kDocumentOverdue},
				rule: rRehabilitationStart, party: party, other: x.org(v.From), start: ts, deadline: deadline,
			})
		}
	}
	if x.rs.on(rAck) && t.findWatch(refAck, v.Document) < 0 {
		t.addWatch(x, watch{
			ref:  ref{id: v.Document, rk: refAck, kind: kDocumentOverdue},
			rule: rAck, party: x.org(v.To), other: x.org(v.From), start: ts,
			deadline: stampOf(x.rs.deadline(rAck, ts.time())),
		})
	}
}

// elapse records a DeadlineElapsed: the watch's gap opens, or an open
// gap's own deadline passed. A DeadlineElapsed for a deadline that has
// since moved (leave) or been met is ignored.
func (t *track) elapse(x *env, v *events.DeadlineElapsed) {
	at := stampOf(v.Deadline)
	for i := range t.watches {
		w := &t.watches[i]
		if ruleNames[w.rule] != v.Rule || w.String() != v.Ref {
			continue
		}
		if w.flags&(wPaused|wElapsed) != 0 || w.deadline == 0 || at < w.deadline {
			return
		}
		w.flags |= wElapsed
		t.open(x, gapRec{ref: w.ref, rule: w.rule, a: w.party, b: w.other, opened: w.deadline, deadline: w.deadline})
		return
	}
	for i := range t.gaps {
		g := &t.gaps[i]
		if g.closed == 0 && !g.escalated && ruleNames[g.rule] == v.Rule && GapID(x.pathway, kindNames[g.kind], g.String()).String() == v.Ref {
			g.escalated = true
			return
		}
	}
}

func (t *track) addWatch(x *env, w watch) {
	if t.has(fOnLeave) && x.rs.on(rLeave) && x.isMunicipal(w.party) {
		w.flags |= wPaused
	}
	if w.rk <= refRehab {
		w.n = t.occurrence(w.ref)
	}
	t.watches = append(t.watches, w)
}

// occurrence counts the gaps of r's kind about r's id: gap ids must not
// repeat, and an id can be overdue more than once.
func (t *track) occurrence(r ref) uint16 {
	var n uint16
	for i := range t.gaps {
		if g := &t.gaps[i]; g.kind == r.kind && g.rk == r.rk && g.id == r.id {
			n++
		}
	}
	return n
}

func (t *track) findWatch(rk refKind, id string) int {
	for i := range t.watches {
		if t.watches[i].rk == rk && t.watches[i].id == id {
			return i
		}
	}
	return -1
}

// resolve ends watch i at ts: its gap closes if it was open, or is
// recorded as opened and closed if the deadline had passed unrecorded.
func (t *track) resolve(x *env, e *events.Envelope, ts stamp, i int) {
	w := t.watches[i]
	t.watches = slices.Delete(t.watches, i, i+1)
	switch {
	case w.flags&wElapsed != 0:
		t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.ref == w.ref })
	case w.deadline != 0 && w.flags&wPaused == 0 && ts > w.deadline:
		t.open(x, gapRec{ref: w.ref, rule: w.rule, a: w.party, b: w.other, opened: w.deadline, deadline: w.deadline})
		t.closeWhere(x, e, ts, func(g *gapRec) bool { return g.ref == w.ref })
	}
}

func (t *track) resolveAll(x *env, e *events.Envelope, ts stamp, match func(*watch) bool) {
	for i := 0; i < len(t.watches); {
		if match(&t.watches[i]) {
			t.resolve(x, e, ts, i)
			continue
		}
		i++
	}
}

func (t *track) open(x *env, g gapRec) {
	t.gaps = append(t.gaps, g)
	x.count(t, g.opened, dGapsOpened, 1)
}

// closeWhere closes the open gaps that match. A gap closed at or before
// the time it opened never was (a late message shows the baton was not
// dropped after all): it is removed.
func (t *track) closeWhere(x *env, e *events.Envelope, ts stamp, match func(*gapRec) bool) {
	for i := 0; i < len(t.gaps); {
		g := &t.gaps[i]
		if g.closed != 0 || !match(g) {
			i++
			continue
		}
		if ts <= g.opened {
			x.count(t, g.opened, dGapsOpened, -1)
			t.gaps = slices.Delete(t.gaps, i, i+1)
			continue
		}
		g.closed, g.by, g.byType = ts, e.ID, x.syms.of(string(e.Payload.Type()))
		x.count(t, ts, dGapsClosed, 1)
		if g.kind == kReadyButWaiting {
			x.readyDays(t, g.opened, ts)
		}
		i++
	}
}

// closeAll closes every gap and drops every watch: death or the end of the
// pathway.
func (t *track) closeAll(x *env, e *events.Envelope, ts stamp) {
	t.closeWhere(x, e, ts, func(*gapRec) bool { return true })
	t.watches = nil
}

func (t *track) holder(what sym) sym {
	for _, h := range t.holders {
		if h.what == what {
			return h.org
		}
	}
	return 0
}

func (t *track) hold(what, org sym) {
	for i := range t.holders {
		if t.holders[i].what == what {
			t.holders[i].org = org
			return
		}
	}
	t.holders = append(t.holders, hold{what, org})
}
