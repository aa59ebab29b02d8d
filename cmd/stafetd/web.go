package main

import (
	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/web"
)

// mountWeb serves the dashboard (package web) beside the API: the page
// at "/" and its files under "/assets/". Neither needs a token — they
// hold no data; the page asks the API for everything with the token its
// user pastes. The patterns cannot collide with the API's: "/{$}" is the
// root alone, and nothing of the API lives under /assets/.
func (svc *service) mountWeb(api *httpapi.Server) {
	h := web.Handler()
	api.Handle("GET /{$}", false, h.ServeHTTP)
	api.Handle("GET /assets/", false, h.ServeHTTP)
}
