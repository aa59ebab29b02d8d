package medcom

import "errors"

// ErrNotMedCom reports input that is not a FHIR Bundle at all: neither JSON
// nor XML, or a JSON object or XML document whose root is some other
// resource. Check for it with errors.Is.
var ErrNotMedCom = errors.New("medcom: not a FHIR Bundle")

// Error reports a FHIR Bundle that cannot be read as a MedCom message, or a
// request the package cannot fulfil. Path is a FHIR path to the offending
// element, such as "Bundle.entry[0].resource.eventCoding"; it is empty when
// the input could not be decoded at all. Reason never contains patient data.
type Error struct {
	Path   string
	Reason string
	// Code is CodeMissing or CodeInvalid for an element a MedCom profile
	// requires or restricts (Parse's profile checks); "" for a Bundle that
	// cannot be read as a message at all.
	Code string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "medcom: " + e.Reason
	}
	return "medcom: " + e.Path + ": " + e.Reason
}
