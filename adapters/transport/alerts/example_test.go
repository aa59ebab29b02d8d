package alerts_test

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/http"
	"os"

	"github.com/stafet/stafet/adapters/transport/alerts"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// A webhook receiver recomputes the signature over the raw body and
// compares in constant time.
func ExampleSign() {
	secret := []byte("whsec_test")
	body := []byte(`{"id":"x","kind":"gap-opened"}`)
	timestamp := "1764064800" // the Stafet-Timestamp header
	header := "sha256=0105729ea378288af2c65446003c9bcc11dbd4f0317ffc62ab0cc07ba80dff6c"

	fmt.Println(hmac.Equal([]byte(alerts.Sign(secret, timestamp, body)), []byte(header)))
	// Output: true
}

// The service runs beside the store; its routes are mounted behind the
// API's authentication, which tells who the caller is.
func ExampleService_Routes() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "alerts-example")
	defer os.RemoveAll(dir)
	store, err := engine.Open(ctx, engine.Config{DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	svc, err := alerts.New(ctx, alerts.Config{Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	defer func() { stop(); <-done }()

	mux := http.NewServeMux() // stands in for httpapi.Server.Handle(pattern, true, handler)
	caller := func(r *http.Request) alerts.Caller {
		// The wiring maps httpapi's principal here.
		return alerts.Caller{Org: events.Kommune("0751")}
	}
	for _, rt := range svc.Routes(caller) {
		mux.HandleFunc(rt.Pattern, rt.Handler)
		fmt.Println(rt.Pattern)
	}
	// Output:
	// GET /v1/alerts/stream
	// POST /v1/webhooks
	// GET /v1/webhooks
	// DELETE /v1/webhooks/{id}
}
