package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPI is the API's OpenAPI 3.1 document, written by hand beside
// docs/api.md; a test checks it names every route.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document served at /openapi.json.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}
