package httpapi

import (
	"slices"

	"github.com/stafet/stafet/events"
)

// mayRead reports whether p may read a pathway with these parties.
func (p Principal) mayRead(parties []events.OrgID) bool {
	return p.Operator || slices.Contains(parties, p.Org)
}

// mayIdentify reports whether p may see who the patient of a pathway
// with these parties is: the name and CPR number sealed in its opening.
// It is the one place that decides it, for every read that shows an
// identity (a pathway, a worklist), so that the rules of care
// relationships can narrow it here alone. Today: an organisation party to
// the pathway. The operator runs the service and is party to no pathway,
// so it reads pathways by pseudonym only.
func (p Principal) mayIdentify(parties []events.OrgID) bool {
	return !p.Operator && slices.Contains(parties, p.Org)
}
