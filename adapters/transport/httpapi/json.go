package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// readBody reads a request body of at most limit bytes; a longer one is a
// 413 problem.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, Problem{Type: typeTooLarge, Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: fmt.Sprintf("the limit is %d bytes", limit)}
	}
	if err != nil {
		return nil, Problem{Type: typeMalformed, Title: "Request body unreadable", Status: http.StatusBadRequest, Detail: err.Error()}
	}
	return b, nil
}

// decode reads a JSON request body into v. Unknown fields are refused. An
// empty body leaves v as it is when optional, and is a problem otherwise.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	b, err := readBody(w, r, s.cfg.MaxBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return Problem{Type: typeMalformed, Title: "Malformed JSON", Status: http.StatusBadRequest, Detail: "the request needs a JSON body"}
	}
	return decodeJSON(b, v)
}

// decodeJSON decodes b into v strictly and turns a failure into a problem
// that says where in b it went wrong.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return malformed(b, dec.InputOffset(), "", "unexpected data after the JSON value")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// The decoder has read the offending byte.
		return malformed(b, syn.Offset-1, "", strings.TrimPrefix(err.Error(), "json: "))
	case errors.As(err, &typ):
		return malformed(b, typ.Offset-1, typ.Field, fmt.Sprintf("want %s, got a JSON %s", typ.Type, typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return malformed(b, int64(len(b)), "", "the JSON value ends too early")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return malformed(b, dec.InputOffset()-1, field, "unknown field")
	}
	return malformed(b, dec.InputOffset(), "", err.Error())
}

// malformed is the problem of a body that is not the JSON asked for. at
// is the offset of the byte where it went wrong (from 0; len(b) for a body
// that ends too early); the problem gives it with its line and column
// (from 1).
func malformed(b []byte, at int64, field, reason string) Problem {
	at = max(0, min(at, int64(len(b))))
	line := 1 + bytes.Count(b[:at], []byte("\n"))
	col := int(at) - bytes.LastIndexByte(b[:at], '\n')
	return Problem{Type: typeMalformed, Title: "Malformed JSON", Status: http.StatusBadRequest,
		Field: field, Detail: reason, Offset: &at, Line: line, Column: col}
}

// parseTime reads an RFC 3339 time from a request field; "" gives the
// zero time.
func parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, Problem{Type: typeInvalidField, Title: "Invalid field", Status: http.StatusUnprocessableEntity,
			Field: field, Detail: "want an RFC 3339 time such as 2026-11-02T08:00:00Z"}
	}
	return t, nil
}

// The default and largest page size of a list.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// page reads the limit and cursor of a paginated list. The cursor is
// opaque to clients: base64url of a small JSON value that names the last
// item of the previous page.
func page(q url.Values, cursor any) (limit int, err error) {
	limit = defaultLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return 0, badParam("limit", fmt.Sprintf("want a whole number from 1 to %d", maxLimit))
		}
		limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || json.Unmarshal(b, cursor) != nil {
			return 0, badParam("cursor", "not a cursor this API gave out")
		}
	}
	return limit, nil
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// nextLink is the request's own URL with the cursor of the next page.
func nextLink(r *http.Request, cursor string) string {
	q := r.URL.Query()
	q.Set("cursor", cursor)
	return r.URL.Path + "?" + q.Encode()
}

// list is the body of every paginated list.
type list[T any] struct {
	Items []T `json:"items"`
	// Next is the URL of the next page; absent on the last.
	Next string `json:"next,omitempty"`
}

// writeList answers a page, with a Link header to the next one.
func writeList[T any](w http.ResponseWriter, r *http.Request, items []T, next any) {
	body := list[T]{Items: items}
	if body.Items == nil {
		body.Items = []T{}
	}
	if next != nil {
		body.Next = nextLink(r, encodeCursor(next))
		w.Header().Set("Link", "<"+body.Next+`>; rel="next"`)
	}
	writeJSON(w, http.StatusOK, body)
}

// queryTime reads an RFC 3339 time from a query parameter; absent gives
// def.
func queryTime(q url.Values, name string, def time.Time) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam(name, "want an RFC 3339 time such as 2026-11-02T08:00:00Z")
	}
	return t, nil
}
