package httpapi

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/projections"
)

// pathwayMatch is a pathway an abbreviated id names.
type pathwayMatch struct {
	ID      uuid.UUID `json:"id"`
	Cluster string    `json:"cluster"`
	Status  string    `json:"status"`
}

// maxMatches bounds the pathways an abbreviation lists: enough to show
// that it is ambiguous.
const maxMatches = 10

// findPathways lists the pathways whose id begins or ends with ?id= (at
// least 4 hexadecimal digits): the ones the caller may read, so a command
// line can take the beginning of an id, or the end the dashboard shows.
func (s *Server) findPathways(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	abbrev := r.URL.Query().Get("id")
	if abbrev == "" {
		writeProblem(w, r, badParam("id", "missing: want the beginning or the end of a pathway id, at least 4 hexadecimal digits"))
		return
	}
	var ids []uuid.UUID
	views := map[uuid.UUID]projections.OwnerView{}
	err := s.set(func(set *projections.Set) {
		// More than are shown: some may be another organisation's.
		ids = set.Owner.Find(abbrev, 20*maxMatches)
		for _, id := range ids {
			views[id], _ = set.Owner.Pathway(id)
		}
	})
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	if ids == nil && (len(abbrev) < 4 || uuidDigits(abbrev) != len(abbrev)) {
		writeProblem(w, r, badParam("id", "want at least 4 hexadecimal digits of a pathway id (dashes allowed)"))
		return
	}
	items := []pathwayMatch{}
	for _, id := range ids {
		if len(items) == maxMatches {
			break
		}
		if !p.Operator {
			history, err := s.cfg.Store.Log().Load(r.Context(), id)
			if err != nil {
				writeProblem(w, r, ProblemFor(err))
				return
			}
			if !p.mayRead(events.Parties(history)) {
				continue
			}
		}
		items = append(items, pathwayMatch{ID: id, Cluster: views[id].Cluster, Status: "open"})
	}
	writeList(w, r, items, nil)
}

// uuidDigits counts the hexadecimal digits and dashes of s.
func uuidDigits(s string) int {
	n := 0
	for _, c := range s {
		if c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' {
			n++
		}
	}
	return n
}
