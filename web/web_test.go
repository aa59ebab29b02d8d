package web

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stafet/stafet/engine"
)

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, path string
		status     int
		typ        string
	}{
		{"page", "/", 200, "text/html; charset=utf-8"},
		{"script", "/assets/app.js", 200, "text/javascript; charset=utf-8"},
		{"style", "/assets/app.css", 200, "text/css; charset=utf-8"},
		{"icon", "/assets/icon.svg", 200, "image/svg+xml"},
		{"index by name", "/index.html", 404, ""},
		{"unknown asset", "/assets/nope.js", 404, ""},
		{"asset folder", "/assets/", 404, ""},
		{"the API's", "/v1/gaps", 404, ""},
		{"outside", "/assets/../web.go", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("GET %s: got %d; want %d", tt.path, rec.Code, tt.status)
			}
			if tt.status != 200 {
				return
			}
			for k, want := range map[string]string{
				"Content-Type":            tt.typ,
				"Cache-Control":           "no-cache",
				"Content-Security-Policy": ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			} {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s: got %q; want %q", k, got, want)
				}
			}
			etag := rec.Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			// An unchanged file costs a 304.
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Header.Set("If-None-Match", etag)
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("GET with If-None-Match: got %d with %d bytes; want 304, empty", rec.Code, rec.Body.Len())
			}
		})
	}
}

func TestCSPForbidsInlineCode(t *testing.T) {
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
	if strings.Contains(ContentSecurityPolicy, "unsafe") {
		t.Error("CSP allows unsafe-inline or unsafe-eval")
	}
}

// TestFilesHold checks what no browser test would see at once: every file
// the page names exists, every module import resolves, and no script
// turns text into markup or code (the CSP would refuse the code, and API
// data must never become markup).
func TestFilesHold(t *testing.T) {
	files := map[string]string{}
	fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := static.ReadFile(p)
			files[strings.TrimPrefix(p, "static")] = string(b)
		}
		return err
	})
	index := files["/index.html"]
	for _, m := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(index, -1) {
		if _, ok := files[m[1]]; !ok {
			t.Errorf("index.html names %s, which is not there", m[1])
		}
	}
	if strings.Contains(index, "<script>") || strings.Contains(index, " style=") {
		t.Error("index.html has inline script or style, which the CSP refuses")
	}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';`)
	forbidden := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setAttribute\('style'`)
	for name, body := range files {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(body, -1) {
			if _, ok := files["/assets/"+m[1]]; !ok {
				t.Errorf("%s imports %s, which is not there", name, m[1])
			}
		}
		if m := forbidden.FindString(body); m != "" {
			t.Errorf("%s uses %s", name, m)
		}
	}
}

// The dashboard's banner says every reason a health report can give, in
// both languages, rather than the bare code.
func TestEveryHealthReasonHasText(t *testing.T) {
	b, err := static.ReadFile("static/assets/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range engine.HealthReasons() {
		if n := strings.Count(string(b), "'reason."+code+"':"); n != 2 {
			t.Errorf("reason %s: %d texts in i18n.js; want 2 (da, en)", code, n)
		}
	}
}
