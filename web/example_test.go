package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/stafet/stafet/web"
)

// The dashboard beside an API: the page at "/", its files under
// "/assets/" (stafetd mounts it on its httpapi.Server the same way).
func ExampleHandler() {
	mux := http.NewServeMux()
	h := web.Handler()
	mux.Handle("GET /{$}", h)
	mux.Handle("GET /assets/", h)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Cache-Control"))
	// Output: 200 text/html; charset=utf-8 no-cache
}
