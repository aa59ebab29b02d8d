package httpapi

import (
	"slices"

	"github.com/stafet/stafet/events"
)

// mayRead reports whether p may read a pathway with these parties.
func (p Principal) mayRead(parties []events.OrgID) bool {
	return p.Operator || slices.Contains(parties, p.Org)
}
