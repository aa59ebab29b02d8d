// Package web is Stafet's dashboard: a page of HTML, CSS and JavaScript
// modules, embedded in the binary, that reads the HTTP API in the
// browser with the token its user pastes (docs/api.md).
//
// There is no build step: the files under static/ are what the browser
// gets. The page lives at "/", its files under "/assets/"; the views are
// in the URL's fragment (#/gaps?cluster=aarhus, #/pathway/{id}), so the
// server serves the same page for all of them and never sees which
// pathway is looked at — the API's access log does.
//
// Handler serves the files with a Content-Security-Policy that lets the
// page load only its own scripts and styles and talk only to its own
// origin, so nothing the API returns can run as script.
package web
