package events

import (
	"errors"
	"fmt"
)

// ValidationError says which field of an event or command is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("events: %s: %s", e.Field, e.Reason)
}

// prefix puts a parent field name in front of a nested validation error.
func prefix(parent string, err error) error {
	var v *ValidationError
	if errors.As(err, &v) {
		if v.Field == "" {
			return &ValidationError{Field: parent, Reason: v.Reason}
		}
		return &ValidationError{Field: parent + "." + v.Field, Reason: v.Reason}
	}
	return fmt.Errorf("%s: %w", parent, err)
}

// RuleError says which pathway rule a command broke. Rule is a stable,
// machine-readable name (for example "only-addressee-accepts").
type RuleError struct {
	Rule   string
	Reason string
}

func (e *RuleError) Error() string {
	return fmt.Sprintf("events: rule %s: %s", e.Rule, e.Reason)
}

// Is makes errors.Is(err, ErrRule) true for every RuleError.
func (e *RuleError) Is(target error) bool { return target == ErrRule }

var (
	// ErrRule matches every *RuleError.
	ErrRule = errors.New("events: pathway rule broken")
	// ErrUnknownType is returned for an event type this build does not know.
	ErrUnknownType = errors.New("events: unknown event type")
	// ErrFutureSchema is returned for a schema version newer than this build.
	ErrFutureSchema = errors.New("events: schema version from the future")
	// ErrUnknownPathway is returned for a command on a pathway that has no
	// PathwayOpened.
	ErrUnknownPathway = errors.New("events: unknown pathway")
)
