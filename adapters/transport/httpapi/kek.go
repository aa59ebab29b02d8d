package httpapi

import (
	"net/http"
)

// rewrapKeys wraps every stored key anew under the current key-encryption
// key (engine.Vault.Rewrap): the second step of a KEK rotation, after the
// new KEK was put first in every instance's KEK file
// (docs/security.md#rotation). Safe to repeat.
func (s *Server) rewrapKeys(w http.ResponseWriter, r *http.Request) {
	rep, err := s.cfg.Store.Vault().Rewrap(r.Context())
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	s.log.Info("keys wrapped anew", "kek", rep.KEK, "keys", rep.Keys, "rewrapped", rep.Rewrapped, "erased", rep.Erased)
	writeJSON(w, http.StatusOK, rep)
}
