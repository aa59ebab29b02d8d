package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// Wire the API to a store, issue a hospital a token, and open a pathway
// with it.
func Example() {
	dir, err := os.MkdirTemp("", "stafet-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store, err := engine.Open(ctx, engine.Config{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	directory, err := events.NewDirectory(nil)
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := httpapi.NewTokens(ctx, store, "the-operator-token-from-the-config")
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: store, Tokens: tokens, Directory: directory}))
	defer srv.Close()

	token, err := tokens.Issue(ctx, events.SOR("6620000000001"), "EPJ integration", "")
	if err != nil {
		log.Fatal(err)
	}
	body := `{"patient": {"cpr": "0101504321", "name": "Jens Jensen"}, "municipality": "kommune:0751"}`
	req, _ := http.NewRequest("POST", srv.URL+"/v1/pathways", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var opened struct {
		Seqs   []uint64 `json:"seqs"`
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	json.NewDecoder(res.Body).Decode(&opened)
	fmt.Println(res.Status, opened.Seqs, opened.Events[0].Type)
	// Output: 201 Created [1] PathwayOpened
}
