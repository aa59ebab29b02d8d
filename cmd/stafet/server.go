package main

import (
	"net"
)

// Where stafetd is. The CLI reads the same settings as the server, so a
// shell that started stafetd with STAFET_HTTP_ADDR=:9080 finds it with no
// more said; STAFET_URL names another server (or a proxy in front of it).

// serverURL returns stafetd's HTTP API and which setting gave it:
// STAFET_URL; else STAFET_HTTP_ADDR, stafetd's own listen address, on
// loopback where it listens on every interface (https with
// STAFET_TLS_CERT); else stafetd's default, :8080.
func serverURL(getenv func(string) string) (url, from string) {
	if u := getenv("STAFET_URL"); u != "" {
		return u, "STAFET_URL"
	}
	scheme := "http"
	if getenv("STAFET_TLS_CERT") != "" {
		scheme = "https"
	}
	if a := getenv("STAFET_HTTP_ADDR"); a != "" {
		return scheme + "://" + dialAddr(a, "8080"), "STAFET_HTTP_ADDR"
	}
	return scheme + "://127.0.0.1:8080", "the default (set STAFET_URL, or STAFET_HTTP_ADDR as stafetd has it)"
}

// mllpAddr returns stafetd's MLLP listener: STAFET_MLLP_ADDR, stafetd's
// own setting, on loopback where it listens on every interface; else the
// default, :2575.
func mllpAddr(getenv func(string) string) string {
	return dialAddr(getenv("STAFET_MLLP_ADDR"), "2575")
}

// dialAddr turns a listen address into one to dial: ":8080" and
// "0.0.0.0:8080" listen on every interface, so they are dialled on
// loopback.
func dialAddr(listen, defPort string) string {
	if listen == "" {
		listen = ":" + defPort
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
