package medcom

import (
	"errors"
	"testing"
)

// Golden messages the variants below are derived from.
const (
	goldenSTIN = "hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"
	goldenSTAA = "hospitalnotification/h1c8e4a8-6b45-4669-94ad-2a99ad96bf03.json"
	goldenSTOR = "hospitalnotification/d3128d9b-cede-4c7f-8904-809eab322d7d.json"
	goldenSLHJ = "hospitalnotification/f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"
	goldenMORS = "hospitalnotification/g099bbf3-3fca-4722-a248-bfe1aa956410.json"
)

// hn describes the edits that turn a golden HospitalNotification into another
// one: Encounter.class and status, the current Provenance's activity and
// entity role, and Patient.deceased; empty fields are left alone.
type hn struct {
	class, status, activity, role string
	deceased                      *bool
}

func (h hn) apply(t testing.TB, golden string) []byte {
	t.Helper()
	return mutate(t, golden, func(b map[string]any) {
		enc := resourceOf(t, b, "Encounter")
		if h.class != "" {
			enc["class"] = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": h.class}
		}
		if h.status != "" {
			enc["status"] = h.status
		}
		p := currentProvenance(t, b)
		if h.activity != "" {
			p["activity"] = map[string]any{"coding": []any{map[string]any{
				"system": "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes",
				"code":   h.activity,
			}}}
		}
		if h.role != "" {
			p["entity"] = []any{map[string]any{"role": h.role, "what": map[string]any{"reference": "MessageHeader/earlier"}}}
		}
		if h.deceased != nil {
			resourceOf(t, b, "Patient")["deceasedBoolean"] = *h.deceased
		}
	})
}

func TestNotificationCode(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name   string
		golden string
		edit   hn
		want   string
	}{
		{"STIN", goldenSTIN, hn{}, "STIN"},
		{"RE_STIN", goldenSTIN, hn{activity: "revise-admit-inpatient", role: "revision"}, "RE_STIN"},
		{"AN_STIN entered-in-error", goldenSTIN, hn{status: "entered-in-error", activity: "cancel-admit-inpatient", role: "removal"}, "AN_STIN"},
		{"AN_STIN cancelled", goldenSTIN, hn{status: "cancelled", activity: "cancel-admit-inpatient", role: "removal"}, "AN_STIN"},
		{"STAA", goldenSTAA, hn{}, "STAA"},
		{"RE_STAA", goldenSTAA, hn{activity: "revise-admit-emergency", role: "revision"}, "RE_STAA"},
		{"AN_STAA", goldenSTAA, hn{status: "entered-in-error", activity: "cancel-admit-emergency", role: "removal"}, "AN_STAA"},
		{"STOR", goldenSTOR, hn{}, "STOR"},
		{"RE_STOR", goldenSTOR, hn{activity: "revise-start-leave-inpatient"}, "RE_STOR"},
		{"AN_STOR", goldenSTOR, hn{status: "in-progress", activity: "cancel-start-leave-inpatient", role: "removal"}, "AN_STOR"},
		{"SLOR", goldenSTOR, hn{status: "in-progress", activity: "end-leave-inpatient"}, "SLOR"},
		{"RE_SLOR", goldenSTOR, hn{status: "in-progress", activity: "revise-end-leave-inpatient"}, "RE_SLOR"},
		{"AN_SLOR", goldenSTOR, hn{status: "onleave", activity: "cancel-end-leave-inpatient", role: "removal"}, "AN_SLOR"},
		{"SLHJ inpatient", goldenSLHJ, hn{}, "SLHJ"},
		{"SLHJ emergency", goldenSLHJ, hn{class: "EMER", activity: "discharge-emergency-home"}, "SLHJ"},
		{"RE_SLHJ inpatient", goldenSLHJ, hn{activity: "revise-discharge-inpatient-home"}, "RE_SLHJ"},
		{"RE_SLHJ emergency", goldenSLHJ, hn{class: "EMER", activity: "revise-discharge-emergency-home"}, "RE_SLHJ"},
		{"AN_SLHJ inpatient", goldenSLHJ, hn{status: "in-progress", activity: "cancel-discharge-inpatient-home", role: "removal"}, "AN_SLHJ"},
		{"AN_SLHJ emergency", goldenSLHJ, hn{class: "EMER", status: "in-progress", activity: "cancel-discharge-emergency-home", role: "removal"}, "AN_SLHJ"},
		{"MORS inpatient", goldenMORS, hn{}, "MORS"},
		{"MORS during leave", goldenMORS, hn{activity: "start-leave-inpatient"}, "MORS"},
		{"MORS emergency", goldenMORS, hn{class: "EMER", activity: "admit-emergency"}, "MORS"},
		{"MORS dead on arrival", goldenSTIN, hn{deceased: &yes}, "MORS"},
		{"AN_MORS inpatient", goldenMORS, hn{status: "in-progress", role: "removal", deceased: &no}, "AN_MORS"},
		{"AN_MORS during leave", goldenMORS, hn{status: "onleave", activity: "start-leave-inpatient", role: "removal", deceased: &no}, "AN_MORS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.edit.apply(t, tt.golden))
			got, err := m.NotificationCode()
			if err != nil || got != tt.want {
				t.Errorf("NotificationCode() = %q, %v; want %q", got, err, tt.want)
			}
			// The XML rendering carries the same facts.
			x := mustParse(t, toXML(t, tt.edit.apply(t, tt.golden)))
			if got, err := x.NotificationCode(); err != nil || got != tt.want {
				t.Errorf("from XML: NotificationCode() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNotificationCodeErrors(t *testing.T) {
	yes := true
	tests := []struct {
		name   string
		golden string
		edit   hn
		path   string
	}{
		{"admission that is finished", goldenSTIN, hn{status: "finished"}, "Bundle.entry[2].resource.status"},
		{"admission with class EMER", goldenSTIN, hn{class: "EMER"}, "Bundle.entry[2].resource.class"},
		{"emergency discharge of an inpatient", goldenSLHJ, hn{activity: "discharge-emergency-home"}, "Bundle.entry[2].resource.class"},
		{"leave that is in progress", goldenSTOR, hn{status: "in-progress"}, "Bundle.entry[2].resource.status"},
		{"ambulatory class", goldenSTIN, hn{class: "AMB"}, "Bundle.entry[2].resource.class"},
		{"CareCommunication activity", goldenSTIN, hn{activity: "new-message"}, "Bundle.entry[5].resource.activity"},
		{"no activity", goldenSTIN, hn{activity: " "}, "Bundle.entry[5].resource.activity"},
		{"deceased with a revise activity", goldenMORS, hn{activity: "revise-admit-inpatient"}, "Bundle.entry[6].resource.activity"},
		{"deceased with a cancel activity", goldenMORS, hn{activity: "cancel-admit-inpatient"}, "Bundle.entry[6].resource.activity"},
		{"deceased on leave", goldenMORS, hn{status: "onleave", deceased: &yes}, "Bundle.entry[2].resource.status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.edit.apply(t, tt.golden))
			got, err := m.NotificationCode()
			if !isError(err, tt.path) {
				t.Errorf("NotificationCode() = %q, %v; want an *Error at %s", got, err, tt.path)
			}
		})
	}

	t.Run("no current Provenance", func(t *testing.T) {
		m := mustParse(t, mutate(t, goldenSTIN, func(b map[string]any) {
			currentProvenance(t, b)["target"] = []any{map[string]any{"reference": "MessageHeader/another"}}
		}))
		if _, err := m.NotificationCode(); !isError(err, "Bundle.entry") {
			t.Errorf("NotificationCode() error = %v; want an *Error at Bundle.entry", err)
		}
	})
	t.Run("CareCommunication", func(t *testing.T) {
		m := mustParse(t, readFile(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json"))
		_, err := m.NotificationCode()
		var e *Error
		if !errors.As(err, &e) || e.Path != "Bundle.entry[0].resource.eventCoding" {
			t.Errorf("NotificationCode() error = %v; want an *Error at eventCoding", err)
		}
	})
}
