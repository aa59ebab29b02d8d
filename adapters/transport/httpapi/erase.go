package httpapi

import (
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// eraseRequest names the patient to erase, by CPR number or replacement
// number, and why. The number is in the body, never in the URL: URLs end
// up in logs.
type eraseRequest struct {
	CPR         string                `json:"cpr"`
	Replacement events.ReplacementCPR `json:"replacement,omitzero"`
	Reason      string                `json:"reason"`
}

// erasePatient erases a patient (engine.Store.Erase,
// docs/security.md#erasure). The request is recorded in the access log,
// with its reason, before anything is erased, and each erased pathway
// after: the record names pathways and the pseudonym, never the person.
func (s *Server) erasePatient(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var b eraseRequest
	if err := s.decode(w, r, &b, false); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	b.Reason = strings.TrimSpace(b.Reason)
	if b.Reason == "" {
		writeProblem(w, r, badParam("reason", "an erasure needs a reason; it is kept in the access log"))
		return
	}
	id := events.Identity{CPR: b.CPR, Replacement: b.Replacement}
	if !id.Known() {
		writeProblem(w, r, badParam("cpr", "want the patient's CPR number (or replacement number)"))
		return
	}
	ref, err := s.cfg.Store.Vault().Patient(id)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	p := principalFrom(ctx)
	if err := s.recordReason(ctx, p, uuid.Nil, nil, "erase/"+string(ref), true, b.Reason); err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	er, err := s.cfg.Store.Erase(ctx, ref, id)
	if err != nil {
		writeProblem(w, r, ProblemFor(err))
		return
	}
	for _, pw := range er.Pathways {
		if err := s.recordReason(ctx, p, pw, nil, "erased", true, b.Reason); err != nil {
			writeProblem(w, r, ProblemFor(err))
			return
		}
	}
	s.log.Info("patient erased", "pathways", len(er.Pathways), "patients", len(er.Patients))
	writeJSON(w, http.StatusOK, eraseResult{Patient: ref, Erasure: er})
}

// eraseResult is what an erasure did, by pseudonym and pathway.
type eraseResult struct {
	Patient events.PatientRef `json:"patient"`
	engine.Erasure
}
