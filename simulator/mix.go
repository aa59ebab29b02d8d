package simulator

import (
	"errors"
	"fmt"
	"math"

	"github.com/stafet/stafet/events"
)

// Mix holds the proportions of the workload model. docs/simulator.md gives
// the basis of each; most are assumptions ([U]) sized from public Danish
// figures, and all can be changed. DefaultMix returns the defaults.
type Mix struct {
	// ContactsPerYearPer1000 is acute hospital contacts (acute ambulant
	// and acute inpatient) a year per 1 000 inhabitants.
	ContactsPerYearPer1000 float64
	// AcuteAmbulant is the share of contacts that start as acute ambulant
	// (MedCom STAA, HL7 PV1-2 E); the rest are inpatient admissions.
	AcuteAmbulant float64
	// AmbulantToInpatient is the share of acute ambulant stays that become
	// inpatient stays (STAA then STIN, HL7 A06).
	AmbulantToInpatient float64
	// Ages are the age bands of the patients.
	Ages []AgeBand
	// Transfer is the share of inpatient stays moved to the region's
	// specialist hospital.
	Transfer float64
	// Leave is the share of inpatient stays longer than three days with a
	// leave (STOR/SLOR, HL7 A21/A22).
	Leave float64
	// ExpectedDischarge is the share of HL7-fed inpatient stays longer than
	// two days announced with A16 (pending discharge) the day before.
	ExpectedDischarge float64
	// ReadyWaits is the share of discharges to municipal care that are
	// "færdigbehandlet" a day or more before they leave; ReadyWaitDays is
	// the mean wait beyond the first day. The others are ready on the day.
	ReadyWaits    float64
	ReadyWaitDays float64
	// CancelAdmission is the share of admissions cancelled soon after (AN_,
	// HL7 A11), e.g. the wrong patient.
	CancelAdmission float64
	// CareCommunications is the mean number of CareCommunications from
	// hospital to municipality in a stay the municipality takes part in;
	// Reply the share the municipality answers.
	CareCommunications float64
	Reply              float64
	// AdmissionReport is how the municipality answers a request for an
	// admission report (MedCom reportOfAdmissionFlag).
	AdmissionReport Timing
	// DischargeLetter is when the discharge letter (epikrise) reaches the
	// GP after discharge: on time (first day), slow (1–3 days), late
	// (3–10 days), else never.
	DischargeLetter Timing
	// RehabilitationPlan is when a rehabilitation plan reaches the
	// municipality: at discharge, late (2–6 days after), else never.
	RehabilitationPlan Timing
	// Acknowledgement is how MedCom receivers acknowledge: on time (within
	// minutes), late (hours), with a fatal-error; else never.
	Acknowledgement AckMix
	// Answers is how receivers answer the offers Stafet's policies make, by
	// responsibility; a responsibility not listed answers as
	// events.HomeCare does.
	Answers map[events.Responsibility]AnswerMix
	// ServiceStarted is the share of accepted rehabilitation offers whose
	// start the municipality records (Workload only).
	ServiceStarted float64
}

// AgeBand is a band of patient ages and what differs with age.
type AgeBand struct {
	Min, Max int
	// Share of acute contacts.
	Share float64
	// Services is the share who already receive municipal home care or
	// nursing (and so are notified at admission, with an admission report
	// asked for).
	Services float64
	// Death is the share of inpatient stays ending in death.
	Death float64
	// Destinations of the living inpatients: home, home with municipal
	// services, nursing home, municipal bed (acute or rehabilitation). They
	// sum to 1.
	Home, HomeServices, NursingHome, MunicipalBed float64
	// RehabilitationPlan is the share of living inpatients discharged with
	// a rehabilitation plan.
	RehabilitationPlan float64
	// LengthFactor scales the median inpatient length of stay.
	LengthFactor float64
}

// Timing splits what happens to a document or answer: on time, slow (in
// between, where it applies), late, and the rest never.
type Timing struct {
	OnTime, Slow, Late float64
}

// AckMix splits MedCom acknowledgements.
type AckMix struct {
	OK, Late, Error float64
}

// AnswerMix splits the answers to an offer: accepted before the deadline,
// accepted after it, never answered, rejected.
type AnswerMix struct {
	OnTime, Late, Never, Reject float64
}

// DefaultMix returns the default proportions (docs/simulator.md).
func DefaultMix() Mix {
	return Mix{
		ContactsPerYearPer1000: 155,
		AcuteAmbulant:          0.40,
		AmbulantToInpatient:    0.12,
		Ages: []AgeBand{
			{Min: 0, Max: 17, Share: 0.10, Services: 0.01, Death: 0.0005, Home: 0.98, HomeServices: 0.015, NursingHome: 0, MunicipalBed: 0.005, RehabilitationPlan: 0.05, LengthFactor: 0.6},
			{Min: 18, Max: 64, Share: 0.35, Services: 0.04, Death: 0.004, Home: 0.90, HomeServices: 0.07, NursingHome: 0.005, MunicipalBed: 0.025, RehabilitationPlan: 0.10, LengthFactor: 0.9},
			{Min: 65, Max: 79, Share: 0.29, Services: 0.18, Death: 0.025, Home: 0.62, HomeServices: 0.27, NursingHome: 0.03, MunicipalBed: 0.08, RehabilitationPlan: 0.22, LengthFactor: 1.1},
			{Min: 80, Max: 99, Share: 0.26, Services: 0.48, Death: 0.06, Home: 0.32, HomeServices: 0.43, NursingHome: 0.11, MunicipalBed: 0.14, RehabilitationPlan: 0.30, LengthFactor: 1.4},
		},
		Transfer:           0.07,
		Leave:              0.06,
		ExpectedDischarge:  0.5,
		ReadyWaits:         0.25,
		ReadyWaitDays:      1.5,
		CancelAdmission:    0.005,
		CareCommunications: 1.2,
		Reply:              0.5,
		AdmissionReport:    Timing{OnTime: 0.80, Late: 0.10},
		DischargeLetter:    Timing{OnTime: 0.75, Slow: 0.17, Late: 0.05},
		RehabilitationPlan: Timing{OnTime: 0.90, Late: 0.05},
		Acknowledgement:    AckMix{OK: 0.96, Late: 0.02, Error: 0.01},
		Answers: map[events.Responsibility]AnswerMix{
			events.DischargePlanning: {OnTime: 0.78, Late: 0.12, Never: 0.05, Reject: 0.05},
			events.HomeCare:          {OnTime: 0.78, Late: 0.12, Never: 0.05, Reject: 0.05},
			events.NursingHome:       {OnTime: 0.70, Late: 0.18, Never: 0.04, Reject: 0.08},
			events.MunicipalBed:      {OnTime: 0.72, Late: 0.15, Never: 0.05, Reject: 0.08},
			events.Rehabilitation:    {OnTime: 0.85, Late: 0.08, Never: 0.04, Reject: 0.03},
			events.GPFollowUp:        {OnTime: 0.60, Late: 0.10, Never: 0.29, Reject: 0.01},
		},
		ServiceStarted: 0.9,
	}
}

// Validate checks that shares are in [0, 1] and that what must sum to 1
// does.
func (m Mix) Validate() error {
	var errs []error
	share := func(name string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("simulator: mix: %s = %v, want a share from 0 to 1", name, v))
		}
	}
	sumTo1 := func(name string, vs ...float64) {
		s := 0.0
		for _, v := range vs {
			s += v
		}
		if math.Abs(s-1) > 1e-6 {
			errs = append(errs, fmt.Errorf("simulator: mix: %s sum to %v, want 1", name, s))
		}
	}
	atMost1 := func(name string, vs ...float64) {
		s := 0.0
		for _, v := range vs {
			share(name, v)
			s += v
		}
		if s > 1+1e-9 {
			errs = append(errs, fmt.Errorf("simulator: mix: %s sum to %v, want at most 1", name, s))
		}
	}
	if !(m.ContactsPerYearPer1000 > 0) {
		errs = append(errs, errors.New("simulator: mix: ContactsPerYearPer1000 must be positive"))
	}
	for _, s := range []struct {
		name string
		v    float64
	}{
		{"AcuteAmbulant", m.AcuteAmbulant}, {"AmbulantToInpatient", m.AmbulantToInpatient}, {"Transfer", m.Transfer},
		{"Leave", m.Leave}, {"ExpectedDischarge", m.ExpectedDischarge}, {"ReadyWaits", m.ReadyWaits},
		{"CancelAdmission", m.CancelAdmission}, {"Reply", m.Reply}, {"ServiceStarted", m.ServiceStarted},
	} {
		share(s.name, s.v)
	}
	if m.CareCommunications < 0 || m.ReadyWaitDays < 0 {
		errs = append(errs, errors.New("simulator: mix: CareCommunications and ReadyWaitDays must not be negative"))
	}
	if len(m.Ages) == 0 {
		errs = append(errs, errors.New("simulator: mix: no age bands"))
	}
	shares := make([]float64, 0, len(m.Ages))
	for i, a := range m.Ages {
		name := fmt.Sprintf("Ages[%d]", i)
		if a.Min < 0 || a.Max < a.Min || a.Max > 110 {
			errs = append(errs, fmt.Errorf("simulator: mix: %s ages %d-%d", name, a.Min, a.Max))
		}
		share(name+".Services", a.Services)
		share(name+".Death", a.Death)
		share(name+".RehabilitationPlan", a.RehabilitationPlan)
		sumTo1(name+" destinations", a.Home, a.HomeServices, a.NursingHome, a.MunicipalBed)
		if !(a.LengthFactor > 0) {
			errs = append(errs, fmt.Errorf("simulator: mix: %s.LengthFactor must be positive", name))
		}
		shares = append(shares, a.Share)
	}
	sumTo1("Ages shares", shares...)
	atMost1("AdmissionReport", m.AdmissionReport.OnTime, m.AdmissionReport.Slow, m.AdmissionReport.Late)
	atMost1("DischargeLetter", m.DischargeLetter.OnTime, m.DischargeLetter.Slow, m.DischargeLetter.Late)
	atMost1("RehabilitationPlan", m.RehabilitationPlan.OnTime, m.RehabilitationPlan.Slow, m.RehabilitationPlan.Late)
	atMost1("Acknowledgement", m.Acknowledgement.OK, m.Acknowledgement.Late, m.Acknowledgement.Error)
	if _, ok := m.Answers[events.HomeCare]; !ok {
		errs = append(errs, errors.New("simulator: mix: Answers has no entry for home-care, the default"))
	}
	for r, a := range m.Answers {
		sumTo1("Answers["+string(r)+"]", a.OnTime, a.Late, a.Never, a.Reject)
	}
	return errors.Join(errs...)
}

func (m Mix) answers(r events.Responsibility) AnswerMix {
	if a, ok := m.Answers[r]; ok {
		return a
	}
	return m.Answers[events.HomeCare]
}
