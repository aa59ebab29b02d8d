package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) (openAPIDoc, map[string]any) {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var tree map[string]any
	json.Unmarshal(openAPI, &tree)
	return doc, tree
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q; want 3.1.0", doc.OpenAPI)
	}
	documented := make(map[string]bool)
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	// adapters/transport/alerts serves these; stafetd mounts them with Handle.
	for _, r := range mountedElsewhere {
		if !documented[r] {
			t.Errorf("route %q is not in openapi.json", r)
		}
		delete(documented, r)
	}
	routes := New(Config{}).Routes()
	for _, r := range routes {
		if !documented[r] {
			t.Errorf("route %q is not in openapi.json", r)
		}
		delete(documented, r)
	}
	for r := range documented {
		t.Errorf("openapi.json documents %q, which is no route", r)
	}
}

var mountedElsewhere = []string{
	"GET /v1/alerts/stream", "POST /v1/webhooks", "GET /v1/webhooks", "DELETE /v1/webhooks/{id}",
}

func TestOpenAPINamesEveryProblemType(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	got := doc.Components.Schemas["Problem"].Properties["type"].Enum
	want := slices.Clone(problemTypes)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Problem.type enum: got %v; want %v", got, want)
	}
}

// TestOpenAPIReferences checks every $ref points at a component.
func TestOpenAPIReferences(t *testing.T) {
	_, tree := loadOpenAPI(t)
	components := tree["components"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				group, _ := components[parts[0]].(map[string]any)
				if len(parts) != 2 || group[parts[1]] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(tree)
}

func TestOpenAPIServed(t *testing.T) {
	rec := httptest.NewRecorder()
	New(Config{}).ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) || rec.Body.Len() != len(openAPI) {
		t.Errorf("GET /openapi.json: status %d, %d bytes; want 200 and the document", rec.Code, rec.Body.Len())
	}
}
