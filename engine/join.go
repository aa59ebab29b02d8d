package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
)

// appendAndJoin appends a translation and, when it says two identities
// are one patient (MergedPatient), joins their pathways. A message that
// only joins (HL7 A47, A40, A24, A37) opens no pathway.
func (in *Intake) appendAndJoin(ctx context.Context, tr *events.Translation, rawSeq uint64, loc located) (uuid.UUID, Result, error) {
	if tr.MergedPatient == nil {
		return in.appendTranslation(ctx, tr, rawSeq, loc)
	}
	if len(tr.Payloads) == 0 && tr.Cancels == nil {
		return in.join(ctx, tr, rawSeq)
	}
	pw, res, err := in.appendTranslation(ctx, tr, rawSeq, loc)
	if err != nil {
		return pw, res, err
	}
	_, _, err = in.join(ctx, tr, rawSeq)
	return pw, res, err
}

// join records that the patient and MergedPatient are one (or, for
// Unlink, no longer), on the pathways of both:
//
//   - only the other identity has a pathway (a replacement number's stay,
//     the CPR number new to Stafet): that pathway becomes the patient's;
//   - only the patient has one: the other identity's messages go to it;
//   - both have one: each records the join, naming the other, and the
//     other identity's messages go to the patient's; the stays and
//     handoffs of each go on where they are;
//   - neither: there is nothing to join.
//
// A closed pathway counts as none.
//
// Each pathway gets a PatientIdentityLinked (the parties hear of it from
// the alerts); the patient index then finds the surviving pathway by
// either identity. A resend is appended once: the events carry the
// message's source.
func (in *Intake) join(ctx context.Context, tr *events.Translation, rawSeq uint64) (uuid.UUID, Result, error) {
	s, err := in.vault.Patient(tr.Patient)
	if err != nil {
		return uuid.Nil, Result{}, &events.MessageError{Code: "bad-patient-id", Field: "patient", Reason: err.Error()}
	}
	o, err := in.vault.Patient(*tr.MergedPatient)
	if err != nil {
		return uuid.Nil, Result{}, &events.MessageError{Code: "bad-patient-id", Field: "merged patient", Reason: err.Error()}
	}
	if s == o {
		return uuid.Nil, Result{}, &events.MessageError{Code: "same-patient", Field: "merged patient", Reason: "the two identities are one already"}
	}
	idx := in.index
	es, err := idx.patientEntry(ctx, s)
	if err != nil {
		return uuid.Nil, Result{}, err
	}
	eo, err := idx.patientEntry(ctx, o)
	if err != nil {
		return uuid.Nil, Result{}, err
	}
	if tr.Unlink {
		return in.unjoin(ctx, tr, rawSeq, s, o, pathways(es, eo))
	}
	// Only an open pathway joins: a closed one's stay is over, and the
	// identity's next message opens its readmission.
	ps, hasS := es.pathway, es.found && !es.closed
	po, hasO := eo.pathway, eo.found && !eo.closed
	reason := tr.MergeReason
	if reason == "" {
		reason = "two identities of one patient"
	}
	link := func(pw, joined uuid.UUID) (Result, error) {
		return in.linkOn(ctx, tr, rawSeq, pw, &events.PatientIdentityLinked{Patient: s, Other: o, Joined: joined, Reason: reason})
	}
	var survivor uuid.UUID
	var res Result
	switch {
	case !hasS && !hasO:
		return uuid.Nil, Result{}, nil
	case hasS && hasO && ps != po:
		if err := in.mayJoin(ctx, tr.Actor.Org, ps, po); err != nil {
			return uuid.Nil, Result{}, err
		}
		if res, err = link(ps, po); err == nil {
			_, err = link(po, ps)
		}
		survivor = ps
	case hasS:
		res, err = link(ps, uuid.Nil)
		survivor = ps
	default:
		res, err = link(po, uuid.Nil)
		survivor = po
	}
	if err != nil {
		return survivor, res, err
	}
	for _, r := range []events.PatientRef{s, o} {
		if err := idx.SetPatient(ctx, r, survivor); err != nil {
			return survivor, res, err
		}
	}
	return survivor, res, in.log.Commit(ctx)
}

// mayJoin holds a join of two pathways to the care relationship rule: the
// sender must be party to both, or in the patient's care on one of them
// (it holds the stay or a responsibility there, or has a pending offer),
// for it learns that its patient is the other identity's too and joins
// that pathway as its own care (events.StartsCare: a link naming the
// joined pathway). A sender in the care of neither joins nothing.
func (in *Intake) mayJoin(ctx context.Context, org events.OrgID, a, b uuid.UUID) error {
	if org == "" {
		return nil
	}
	party, inCare := 0, false
	for _, pw := range []uuid.UUID{a, b} {
		history, err := in.log.Load(ctx, pw)
		if err != nil {
			return err
		}
		if events.Fold(history).Party(org) {
			party++
		}
		inCare = inCare || events.CareOf(history, org, time.Now()).Current
	}
	if party == 2 || inCare {
		return nil
	}
	return &events.RuleError{Rule: events.RuleNotParty, Reason: fmt.Sprintf("%s is in the care of neither identity's patient: it may not join their pathways", org)}
}

// linkOn appends one link or unlink to a pathway. Its source is the
// message's, marked, so that it is not taken for the message's other
// events on the same pathway (a MedCom message's document). A link the
// pathway holds already is no error: there is nothing to add.
func (in *Intake) linkOn(ctx context.Context, tr *events.Translation, rawSeq uint64, pw uuid.UUID, pl events.Payload) (Result, error) {
	src := tr.Source
	src.MessageID += "#link"
	res, err := in.log.Execute(ctx, events.Command{
		Pathway: pw, Actor: tr.Actor, Source: src, OccurredAt: tr.OccurredAt,
		Correlation: rawRef(rawSeq), Causation: rawRef(rawSeq), Payloads: []events.Payload{pl},
	})
	var re *events.RuleError
	if errors.As(err, &re) && re.Rule == "already-linked" {
		return Result{Duplicate: true}, nil
	}
	return res, err
}

// unjoin undoes a join (HL7 A37): a Correction of the link on every
// pathway that records it; each Correction sends the identity back to its
// own pathway, or to none (Log.unlinkPatients). Identities Stafet never
// joined mean nothing.
func (in *Intake) unjoin(ctx context.Context, tr *events.Translation, rawSeq uint64, s, o events.PatientRef, start []uuid.UUID) (uuid.UUID, Result, error) {
	reason := tr.MergeReason
	if reason == "" {
		reason = "the two identities are not one patient"
	}
	todo, seen := start, map[uuid.UUID]bool{}
	var first uuid.UUID
	var res Result
	for len(todo) > 0 {
		pw := todo[0]
		todo = todo[1:]
		if seen[pw] {
			continue
		}
		seen[pw] = true
		history, err := in.log.Load(ctx, pw)
		if err != nil {
			return first, res, err
		}
		st := events.Fold(history)
		other := o
		if st.Patient() == o {
			other = s
		}
		id, linked := st.Linked(other)
		if !linked || id == uuid.Nil {
			continue
		}
		for i := range history {
			if l, ok := history[i].Payload.(*events.PatientIdentityLinked); ok && history[i].ID == id && l.Joined != uuid.Nil {
				todo = append(todo, l.Joined)
			}
		}
		r, err := in.linkOn(ctx, tr, rawSeq, pw, &events.Correction{Annuls: id, Reason: reason})
		if err != nil {
			return first, res, err
		}
		if first == uuid.Nil {
			first, res = pw, r
		}
	}
	return first, res, nil
}

// pathways lists the pathways the identities' entries name, open or
// closed (a Correction may follow a PathwayClosed).
func pathways(es ...patientEntry) []uuid.UUID {
	var out []uuid.UUID
	for _, e := range es {
		if e.found {
			out = append(out, e.pathway)
		}
	}
	return out
}
