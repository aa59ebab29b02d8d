package medcom

import (
	"fmt"
	"slices"
	"strings"
)

// NotificationCode returns the HospitalNotification code of m ("STIN",
// "RE_STIN", "AN_STIN", …), read from Encounter.class, Encounter.status, the
// activity of the current Provenance (the one whose target is this
// MessageHeader) and Patient.deceased together, as MedCom's "Overview of
// HospitalNotification codes and HL7 FHIR resources" defines them:
//
//	code     Encounter.class  Encounter.status             Provenance.activity               deceased
//	STAA     EMER             in-progress                  admit-emergency
//	RE_STAA  EMER             in-progress                  revise-admit-emergency
//	AN_STAA  EMER             cancelled/entered-in-error   cancel-admit-emergency
//	STIN     IMP              in-progress                  admit-inpatient
//	RE_STIN  IMP              in-progress                  revise-admit-inpatient
//	AN_STIN  IMP              cancelled/entered-in-error   cancel-admit-inpatient
//	STOR     IMP              onleave                      start-leave-inpatient
//	RE_STOR  IMP              onleave                      revise-start-leave-inpatient
//	AN_STOR  IMP              in-progress                  cancel-start-leave-inpatient
//	SLOR     IMP              in-progress                  end-leave-inpatient
//	RE_SLOR  IMP              in-progress                  revise-end-leave-inpatient
//	AN_SLOR  IMP              onleave                      cancel-end-leave-inpatient
//	SLHJ     EMER/IMP         finished (IMP: or onleave)   discharge-emergency-home / discharge-inpatient-home
//	RE_SLHJ  EMER/IMP         finished (IMP: or onleave)   revise-discharge-emergency-home / revise-discharge-inpatient-home
//	AN_SLHJ  EMER/IMP         in-progress                  cancel-discharge-emergency-home / cancel-discharge-inpatient-home
//	MORS     EMER/IMP         finished                     the current activity              true
//	RE_MORS  EMER/IMP         finished                     the current activity              true
//	AN_MORS  EMER/IMP         the previous status          the current activity              false
//
// For SLHJ and its variants the class must match the activity: EMER for
// *-emergency-home, IMP for *-inpatient-home. "The current activity" is the
// activity of the previous notification, repeated: a patient who dies while
// admitted is notified with admit-inpatient, one who dies on leave with
// start-leave-inpatient. MedCom's test protocol also sends a MORS with status
// in-progress for a patient dead on arrival; NotificationCode accepts that.
//
// Two rows cannot be told apart by the table alone, and NotificationCode
// settles them from the Provenance:
//   - AN_MORS is a Provenance with entity role removal and an activity that
//     is not a cancel- code (MedCom's test scripts send exactly that); a
//     cancel- code with role removal is the AN_ of that activity.
//   - RE_MORS looks exactly like MORS in a single message: both repeat the
//     current activity with role revision. NotificationCode returns MORS for
//     both; a caller that knows the stay already had a MORS should read it as
//     RE_MORS.
//
// NotificationCode returns an *Error, pointing at the element that does not
// fit, for a message that is not a HospitalNotification, has no current
// Provenance, or whose class, status, activity and deceased flag match no row.
func (m *Message) NotificationCode() (string, error) {
	if m.Kind != KindHospitalNotification {
		return "", &Error{Path: m.eventPath, Reason: fmt.Sprintf("a %s has no notification code", quote(string(m.Kind)))}
	}
	enc, pat := m.Encounter, m.Patient
	if enc == nil || pat == nil {
		return "", &Error{Path: "Bundle.entry", Reason: "a HospitalNotification needs an Encounter and a Patient"}
	}
	p := m.CurrentProvenance()
	if p == nil {
		return "", &Error{Path: "Bundle.entry", Reason: "no Provenance has MessageHeader/" + m.HeaderID + " as its target"}
	}
	act := p.Activity
	actPath := p.path + ".activity"
	rule, ok := notificationRule(act)
	if !ok {
		return "", &Error{Path: actPath, Reason: fmt.Sprintf("%s is not a HospitalNotification activity", quote(act))}
	}
	if enc.Class != "IMP" && enc.Class != "EMER" {
		return "", &Error{Path: m.classPath, Reason: fmt.Sprintf("want IMP or EMER, got %s", quote(enc.Class))}
	}
	repeated := !strings.HasPrefix(act, "revise-") && !strings.HasPrefix(act, "cancel-")
	if pat.Deceased {
		if !repeated {
			return "", &Error{Path: actPath, Reason: fmt.Sprintf("a deceased patient is notified with the current activity, not %s", quote(act))}
		}
		if enc.Status != "finished" && enc.Status != "in-progress" {
			return "", &Error{Path: m.statusPath, Reason: fmt.Sprintf("a deceased patient's stay is finished (in-progress if dead on arrival), got %s", quote(enc.Status))}
		}
		return "MORS", nil
	}
	if repeated && p.Role == "removal" {
		return "AN_MORS", nil
	}
	if enc.Class != rule.class {
		return "", &Error{Path: m.classPath, Reason: fmt.Sprintf("%s needs %s, got %s", act, rule.class, quote(enc.Class))}
	}
	if !slices.Contains(rule.statuses, enc.Status) {
		return "", &Error{Path: m.statusPath, Reason: fmt.Sprintf("%s needs status %s, got %s", act, strings.Join(rule.statuses, " or "), quote(enc.Status))}
	}
	return rule.code, nil
}

type rule struct {
	code     string
	class    string
	statuses []string
}

// notificationRule is the table of NotificationCode by activity.
func notificationRule(activity string) (rule, bool) {
	inProgress := []string{"in-progress"}
	onLeave := []string{"onleave"}
	finished := []string{"finished"}
	cancelled := []string{"cancelled", "entered-in-error"}
	switch activity {
	case "admit-emergency":
		return rule{"STAA", "EMER", inProgress}, true
	case "revise-admit-emergency":
		return rule{"RE_STAA", "EMER", inProgress}, true
	case "cancel-admit-emergency":
		return rule{"AN_STAA", "EMER", cancelled}, true
	case "admit-inpatient":
		return rule{"STIN", "IMP", inProgress}, true
	case "revise-admit-inpatient":
		return rule{"RE_STIN", "IMP", inProgress}, true
	case "cancel-admit-inpatient":
		return rule{"AN_STIN", "IMP", cancelled}, true
	case "start-leave-inpatient":
		return rule{"STOR", "IMP", onLeave}, true
	case "revise-start-leave-inpatient":
		return rule{"RE_STOR", "IMP", onLeave}, true
	case "cancel-start-leave-inpatient":
		return rule{"AN_STOR", "IMP", inProgress}, true
	case "end-leave-inpatient":
		return rule{"SLOR", "IMP", inProgress}, true
	case "revise-end-leave-inpatient":
		return rule{"RE_SLOR", "IMP", inProgress}, true
	case "cancel-end-leave-inpatient":
		return rule{"AN_SLOR", "IMP", onLeave}, true
	case "discharge-emergency-home":
		return rule{"SLHJ", "EMER", finished}, true
	case "discharge-inpatient-home":
		// A patient discharged straight from leave: MedCom's own example
		// (HospitalNotification_Ex_SLHJ_I) keeps the status onleave.
		return rule{"SLHJ", "IMP", append(finished, "onleave")}, true
	case "revise-discharge-emergency-home":
		return rule{"RE_SLHJ", "EMER", finished}, true
	case "revise-discharge-inpatient-home":
		return rule{"RE_SLHJ", "IMP", append(finished, "onleave")}, true
	case "cancel-discharge-emergency-home":
		return rule{"AN_SLHJ", "EMER", inProgress}, true
	case "cancel-discharge-inpatient-home":
		return rule{"AN_SLHJ", "IMP", inProgress}, true
	}
	return rule{}, false
}
