package fhir

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"

	"strconv"

	"github.com/samply/golang-fhir-models/fhir-models/fhir"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/events"
)

// onlyParams refuses a query with parameters other than allowed (and
// _format): a parameter the server would silently ignore could widen or
// narrow an answer without the client knowing.
func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		if k == "_format" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return problem(http.StatusBadRequest, "bad-parameter", k, "unknown or unsupported parameter "+strconv.Quote(k)+"; GET /fhir/metadata lists the supported ones")
		}
	}
	return nil
}

// pathwayOf reads the pathway of a resource id for the caller, recording
// the read in the access log as the JSON API records its reads.
func (s *Server) pathwayOf(r *http.Request, k *kind) ([]events.Envelope, string, error) {
	id := r.PathValue("id")
	pw, key, ok := k.split(id)
	if !ok {
		return nil, "", problem(http.StatusNotFound, "not-found", "id", "no "+k.name+" "+strconv.Quote(id))
	}
	history, err := s.cfg.API.ReadPathway(r.Context(), httpapi.PrincipalOf(r), pw, httpapi.Read{What: "fhir/" + k.name})
	return history, key, err
}

// read answers a resource as it stands, or as of a time or a log
// sequence (?as_of=, ?as_of_kind=recorded|valid, ?as_of_seq=: the JSON
// API's bitemporal reads).
func (s *Server) read(k *kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if err := onlyParams(q, "as_of", "as_of_kind", "as_of_seq"); err != nil {
			fail(w, r, err)
			return
		}
		as, err := httpapi.ParseAsOf(q)
		if err != nil {
			fail(w, r, err)
			return
		}
		history, key, err := s.pathwayOf(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		cut, _ := as.Cut(history, s.cfg.Now())
		v, meta, ok := k.render(s, fold(cut), key)
		if !ok {
			writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such "+k.name+" (as of the time asked)"))
			return
		}
		writeVersioned(w, meta, v)
	}
}

// vread answers a version: the resource as Stafet knew it once the log
// held the version's sequence (a sequence of the resource's pathway).
func (s *Server) vread(k *kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := onlyParams(r.URL.Query()); err != nil {
			fail(w, r, err)
			return
		}
		vid, err := strconv.ParseUint(r.PathValue("vid"), 10, 64)
		if err != nil || vid == 0 {
			writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "vid", "a version is a log sequence number"))
			return
		}
		history, key, err := s.pathwayOf(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		// Every sequence of the pathway is a version of each of its
		// resources: the one a read at that time showed.
		cut, _ := httpapi.AsOfSeq(vid).Cut(history, s.cfg.Now())
		if len(cut) > 0 && cut[len(cut)-1].Seq == vid {
			if v, meta, ok := k.render(s, fold(cut), key); ok {
				writeVersioned(w, meta, v)
				return
			}
		}
		writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "vid", "no such version of this "+k.name))
	}
}

// version is one version of a resource.
type version struct {
	seq      uint64
	resource any
	meta     *fhir.Meta
}

// versions folds the history up to each of its sequences and keeps the
// ones at which the resource changed, oldest first.
func (s *Server) versions(k *kind, history []events.Envelope, key string) []version {
	var out []version
	var last []byte
	for i := range history {
		if i+1 < len(history) && history[i+1].Seq == history[i].Seq {
			continue // one stored message, several events: one version
		}
		v, meta, ok := k.render(s, fold(history[:i+1]), key)
		if !ok {
			continue
		}
		body := withoutMeta(v)
		if last != nil && bytes.Equal(body, last) {
			continue
		}
		last = body
		out = append(out, version{seq: history[i].Seq, resource: v, meta: meta})
	}
	return out
}

// withoutMeta is a resource's JSON without its meta, to compare versions.
func withoutMeta(v any) []byte {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	delete(m, "meta")
	out, _ := json.Marshal(m)
	return out
}

// history answers the versions of a resource, newest first.
func (s *Server) history(k *kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := onlyParams(r.URL.Query()); err != nil {
			fail(w, r, err)
			return
		}
		history, key, err := s.pathwayOf(r, k)
		if err != nil {
			fail(w, r, err)
			return
		}
		vs := s.versions(k, history, key)
		if len(vs) == 0 {
			writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such "+k.name))
			return
		}
		base := s.base(r)
		b := fhir.Bundle{Type: fhir.BundleTypeHistory, Total: ptr(len(vs)), Timestamp: instant(s.cfg.Now()),
			Link: []fhir.BundleLink{{Relation: "self", Url: base + "/" + k.name + "/" + r.PathValue("id") + "/_history"}}}
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			raw, _ := json.Marshal(v.resource)
			method, status := fhir.HTTPVerbPUT, "200"
			if i == 0 {
				method, status = fhir.HTTPVerbPOST, "201"
			}
			b.Entry = append(b.Entry, fhir.BundleEntry{
				FullUrl:  ptr(base + "/" + k.name + "/" + r.PathValue("id")),
				Resource: raw,
				Request:  &fhir.BundleEntryRequest{Method: method, Url: k.name + "/" + r.PathValue("id")},
				Response: &fhir.BundleEntryResponse{Status: status, Etag: ptr(`W/"` + itoa(v.seq) + `"`), LastModified: v.meta.LastUpdated},
			})
		}
		writeResource(w, http.StatusOK, b)
	}
}

// readOrganization answers an organisation of the directory.
func (s *Server) readOrganization(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r.URL.Query()); err != nil {
		fail(w, r, err)
		return
	}
	org := orgOfToken(r.PathValue("id"))
	o, ok := s.cfg.Directory.Lookup(org)
	if org == "" || !ok {
		writeOutcome(w, r, problem(http.StatusNotFound, "not-found", "id", "no such organisation in the directory"))
		return
	}
	ref := s.orgRef(o.ID)
	v := fhir.Organization{Id: ptr(o.ID.Token()), Active: ptr(true), Identifier: []fhir.Identifier{*ref.Identifier}, Name: ref.Display}
	writeResource(w, http.StatusOK, v)
}

// orgOfToken reads an organisation's FHIR id (its token, kommune-0751)
// or its Stafet id (kommune:0751).
func orgOfToken(v string) events.OrgID {
	org := events.OrgID(v)
	if org.Validate() != nil {
		scheme, code, ok := cutToken(v)
		if !ok {
			return ""
		}
		org = events.OrgID(scheme + ":" + code)
	}
	if org.Validate() != nil {
		return ""
	}
	return org
}

// cutToken splits a token at its first '-': schemes hold none.
func cutToken(v string) (string, string, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] == '-' {
			return v[:i], v[i+1:], true
		}
	}
	return "", "", false
}
