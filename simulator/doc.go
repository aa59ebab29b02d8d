// Package simulator is Stafet's national workload: a model of acute
// patient pathways across Denmark's 21 health clusters and 98
// municipalities, and a driver that plays it into a running stafetd
// through its real interfaces.
//
// The Model (NewModel) draws patients by municipal population, admits them
// acutely to their cluster's hospital (ambulant or inpatient), and gives
// each stay a life: transfer, leave, "færdigbehandlet", discharge home or
// to municipal care, death, CareCommunications, acknowledgements, the
// discharge letter to the GP and the rehabilitation plan to the
// municipality, some late and some missing. Next returns the stay as
// Steps in time order: HL7 v2.5 ADT messages from the hospitals of regions
// that feed HL7, MedCom FHIR messages (HospitalNotification,
// CareCommunication, Acknowledgement) from the others, and JSON API calls
// for what MedCom carries as OIOXML. The proportions are a Mix;
// docs/simulator.md gives their basis. A seed fixes every byte.
//
// Run drives stafetd with the model at a rate and time scale: HL7 over
// MLLP, MedCom over HTTP, and answers to the offers Stafet's policies make,
// read from the organisations' worklists and answered on time, late, never
// or with a rejection as Model.Decide draws. With compressed time (for
// instance 60 simulated minutes a second) and stafetd started with
// Rules(60) and Organisations(), deadlines pass and gaps open within a
// minute.
//
// Workload gives the same pathways as the events.Commands Stafet's log
// would hold, for benchmarks that append through engine.Log.Execute.
//
// Every patient is made up: names from lists of common Danish names, and
// CPR numbers with valid dates that fail the modulus 11 check (see cpr).
// Hospitals, practices and SOR, EAN and ydernumre are fictitious.
package simulator
