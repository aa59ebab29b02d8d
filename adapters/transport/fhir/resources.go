package fhir

import (
	"time"

	"github.com/google/uuid"
	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// The naming and code systems of Stafet's own identifiers and codes
// (docs/fhir.md). Organisations registered in SOR carry SOR's system.
const (
	sidPathway       = "https://stafet.dk/fhir/sid/pathway"
	sidOffer         = "https://stafet.dk/fhir/sid/offer"
	sidPatient       = "https://stafet.dk/fhir/sid/patient-pseudonym"
	csResponsibility = "https://stafet.dk/fhir/CodeSystem/responsibility"
	csHandoff        = "https://stafet.dk/fhir/CodeSystem/handoff-status"
	sidSOR           = "urn:oid:1.2.208.176.1.1"
	csActCode        = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
)

// orgSystems gives the identifier system of each organisation scheme.
var orgSystems = map[string]string{
	events.SchemeSOR:     sidSOR,
	events.SchemeKommune: "https://stafet.dk/fhir/sid/kommune",
	events.SchemeYder:    "https://stafet.dk/fhir/sid/ydernummer",
	events.SchemeRegion:  "https://stafet.dk/fhir/sid/region",
}

// orgRef refers to an organisation: literally (Organization/<token>,
// which the facade serves from the directory) and by identifier.
func (s *Server) orgRef(org events.OrgID) *fhir.Reference {
	if org == "" {
		return nil
	}
	ref := &fhir.Reference{
		Reference:  ptr("Organization/" + org.Token()),
		Type:       ptr("Organization"),
		Identifier: &fhir.Identifier{System: ptr(orgSystems[org.Scheme()]), Value: ptr(org.Code())},
	}
	if o, ok := s.cfg.Directory.Lookup(org); ok && o.Name != "" {
		ref.Display = ptr(o.Name)
	}
	return ref
}

// patientRef names the patient by pseudonym only: Stafet shows who the
// patient is through the JSON API, to those allowed, never in FHIR
// resources.
func patientRef(p events.PatientRef) fhir.Reference {
	return fhir.Reference{Type: ptr("Patient"), Identifier: &fhir.Identifier{System: ptr(sidPatient), Value: ptr(string(p))}}
}

func responsibility(r events.Responsibility) fhir.CodeableConcept {
	return fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr(csResponsibility), Code: ptr(string(r))}}, Text: ptr(string(r))}
}

func (f *folded) meta() *fhir.Meta {
	return &fhir.Meta{VersionId: ptr(itoa(f.seq)), LastUpdated: instant(f.updated)}
}

// taskStatus maps a handoff to a Task status (docs/fhir.md).
func taskStatus(h projections.Handoff, o *offerFacts) fhir.TaskStatus {
	switch h.Status {
	case events.OfferAccepted:
		switch {
		case !h.Ended.IsZero():
			return fhir.TaskStatusCompleted
		case o != nil && !o.started.IsZero():
			return fhir.TaskStatusInProgress
		}
		return fhir.TaskStatusAccepted
	case events.OfferRejected:
		return fhir.TaskStatusRejected
	case events.OfferWithdrawn:
		return fhir.TaskStatusCancelled
	}
	return fhir.TaskStatusRequested
}

// task renders one handoff as a Task.
func (s *Server) task(f *folded, h projections.Handoff) fhir.Task {
	o := f.offers[h.Offer]
	if o == nil {
		o = &offerFacts{}
	}
	status := taskStatus(h, o)
	t := fhir.Task{
		Id:              ptr(taskID(f.id, h.Offer)),
		Meta:            f.meta(),
		Identifier:      []fhir.Identifier{{System: ptr(sidOffer), Value: ptr(h.Offer)}},
		GroupIdentifier: &fhir.Identifier{System: ptr(sidPathway), Value: ptr(f.id.String())},
		Status:          status,
		Intent:          "order",
		Code:            ptr(responsibility(h.What)),
		AuthoredOn:      instant(h.Offered),
		LastModified:    instant(latest(h.Offered, h.Answered, o.started, h.Ended)),
		Requester:       s.orgRef(h.From),
		Owner:           s.orgRef(h.To),
	}
	if f.patient != "" {
		t.For = ptr(patientRef(f.patient))
	}
	if len(f.stays) > 0 {
		t.Encounter = &fhir.Reference{Reference: ptr("Encounter/" + f.id.String())}
	}
	if !h.Deadline.IsZero() {
		t.Restriction = &fhir.TaskRestriction{Period: &fhir.Period{End: instant(h.Deadline)}}
	}
	switch status {
	case fhir.TaskStatusRejected, fhir.TaskStatusCancelled:
		t.ExecutionPeriod = &fhir.Period{Start: instant(h.Answered), End: instant(h.Answered)}
		if o.reason != "" {
			t.StatusReason = &fhir.CodeableConcept{Text: ptr(o.reason)}
		}
	case fhir.TaskStatusAccepted, fhir.TaskStatusInProgress, fhir.TaskStatusCompleted:
		t.ExecutionPeriod = &fhir.Period{Start: instant(h.Answered), End: instant(h.Ended)}
	case fhir.TaskStatusRequested:
		if o.overdue {
			t.BusinessStatus = &fhir.CodeableConcept{Coding: []fhir.Coding{{System: ptr(csHandoff), Code: ptr("overdue")}}, Text: ptr("answer overdue")}
		}
	}
	return t
}

func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// episodeStatus: active while it holds a responsibility, finished once
// it held and let go, planned while only offered, cancelled when every
// offer to it was declined or withdrawn.
func (e *episode) status() fhir.EpisodeOfCareStatus {
	for _, p := range e.held {
		if p.end.IsZero() {
			return fhir.EpisodeOfCareStatusActive
		}
	}
	switch {
	case len(e.held) > 0:
		return fhir.EpisodeOfCareStatusFinished
	case e.pending:
		return fhir.EpisodeOfCareStatusPlanned
	}
	return fhir.EpisodeOfCareStatusCancelled
}

// period is from the first responsibility taken to the last let go.
func (e *episode) period() *fhir.Period {
	if len(e.held) == 0 {
		return nil
	}
	var start, end time.Time
	open := false
	for _, p := range e.held {
		if start.IsZero() || p.start.Before(start) {
			start = p.start
		}
		if p.end.IsZero() {
			open = true
		}
		end = latest(end, p.end)
	}
	out := &fhir.Period{Start: instant(start)}
	if !open {
		out.End = instant(end)
	}
	return out
}

// episodeOfCare renders one organisation's part of a pathway.
func (s *Server) episodeOfCare(f *folded, e *episode) fhir.EpisodeOfCare {
	v := fhir.EpisodeOfCare{
		Id:                   ptr(episodeID(f.id, e.org)),
		Meta:                 f.meta(),
		Identifier:           []fhir.Identifier{{System: ptr(sidPathway), Value: ptr(f.id.String())}},
		Status:               e.status(),
		Patient:              patientRef(f.patient),
		ManagingOrganization: s.orgRef(e.org),
		Period:               e.period(),
	}
	for _, w := range e.what {
		v.Type = append(v.Type, responsibility(w))
	}
	for _, p := range e.offered {
		v.StatusHistory = append(v.StatusHistory, fhir.EpisodeOfCareStatusHistory{Status: fhir.EpisodeOfCareStatusPlanned, Period: fhir.Period{Start: instant(p.start), End: instant(p.end)}})
	}
	for _, p := range e.held {
		v.StatusHistory = append(v.StatusHistory, fhir.EpisodeOfCareStatusHistory{Status: fhir.EpisodeOfCareStatusActive, Period: fhir.Period{Start: instant(p.start), End: instant(p.end)}})
	}
	return v
}

// encounter renders the pathway's hospital stay.
func (s *Server) encounter(f *folded) (fhir.Encounter, bool) {
	if len(f.stays) == 0 {
		return fhir.Encounter{}, false
	}
	first, last := f.stays[0], f.stays[len(f.stays)-1]
	v := fhir.Encounter{
		Id:              ptr(f.id.String()),
		Meta:            f.meta(),
		Identifier:      []fhir.Identifier{{System: ptr(sidPathway), Value: ptr(f.id.String())}},
		Status:          fhir.EncounterStatusInProgress,
		Class:           fhir.Coding{System: ptr(csActCode), Code: ptr("IMP"), Display: ptr("inpatient encounter")},
		Subject:         ptr(patientRef(f.patient)),
		Period:          &fhir.Period{Start: instant(first.start), End: instant(last.end)},
		ServiceProvider: s.orgRef(last.hospital),
	}
	if f.class == events.AcuteAmbulant {
		v.Class = fhir.Coding{System: ptr(csActCode), Code: ptr("EMER"), Display: ptr("emergency")}
	}
	switch {
	case !last.end.IsZero():
		v.Status = fhir.EncounterStatusFinished
	case f.onLeave:
		v.Status = fhir.EncounterStatusOnleave
	}
	seen := make(map[events.OrgID]bool)
	for _, st := range f.stays {
		if !seen[st.hospital] {
			seen[st.hospital] = true
			v.EpisodeOfCare = append(v.EpisodeOfCare, fhir.Reference{Reference: ptr("EpisodeOfCare/" + episodeID(f.id, st.hospital))})
		}
		v.Location = append(v.Location, fhir.EncounterLocation{
			Location: fhir.Reference{Type: ptr("Location"), Identifier: s.orgRef(st.hospital).Identifier, Display: s.orgRef(st.hospital).Display},
			Period:   &fhir.Period{Start: instant(st.start), End: instant(st.end)},
		})
	}
	return v, true
}

// kind is a resource type the facade folds from a pathway.
type kind struct {
	name string
	// split reads a resource id into its pathway and the key within it.
	split func(id string) (uuid.UUID, string, bool)
	// render returns the resource with key in f.
	render func(s *Server, f *folded, key string) (any, *fhir.Meta, bool)
}

var taskKind = &kind{
	name:  "Task",
	split: splitID,
	render: func(s *Server, f *folded, key string) (any, *fhir.Meta, bool) {
		h, ok := f.offerOf(key)
		if !ok {
			return nil, nil, false
		}
		t := s.task(f, h)
		return t, t.Meta, true
	},
}

var episodeKind = &kind{
	name:  "EpisodeOfCare",
	split: splitID,
	render: func(s *Server, f *folded, key string) (any, *fhir.Meta, bool) {
		for _, e := range f.episodes() {
			if e.org.Token() == key {
				v := s.episodeOfCare(f, e)
				return v, v.Meta, true
			}
		}
		return nil, nil, false
	},
}

var encounterKind = &kind{
	name: "Encounter",
	split: func(id string) (uuid.UUID, string, bool) {
		u, err := uuid.Parse(id)
		return u, "", err == nil && u.String() == id
	},
	render: func(s *Server, f *folded, _ string) (any, *fhir.Meta, bool) {
		v, ok := s.encounter(f)
		return v, v.Meta, ok
	},
}
