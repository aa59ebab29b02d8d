package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is sent with every file: scripts, styles, images
// and connections (fetch, EventSource) only from the page's own origin;
// no inline script or style, no plugins, no framing, no <base>.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

type file struct {
	body []byte
	etag string
	typ  string
}

// Handler serves the dashboard: "/" is the page, "/assets/…" its files;
// anything else is 404. Every answer carries an ETag (a hash of the
// content) and "Cache-Control: no-cache": the browser keeps the files but
// asks each time whether they changed, so a new stafetd never runs with
// an old page, and an unchanged file costs a 304.
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		// The files are compiled in, so this is a broken build, which the
		// package's tests catch; say so rather than serve half a page.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "web: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.typ)
		h.Set("ETag", f.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}

// load reads the embedded files, keyed by the URL path they are served
// at: "/" for static/index.html, "/assets/x" for static/assets/x.
func load() (map[string]file, error) {
	files := make(map[string]file)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var url string
		switch {
		case p == "static/index.html":
			url = "/"
		case strings.HasPrefix(p, "static/assets/"):
			url = strings.TrimPrefix(p, "static")
		default:
			return nil
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[url] = file{body: b, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, typ: contentType(p)}
		return nil
	})
	if err == nil && files["/"].body == nil {
		err = errors.New("no index.html")
	}
	return files, err
}

// contentType names the types the page uses itself, so that they do not
// depend on the system's MIME table.
func contentType(p string) string {
	switch path.Ext(p) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}
