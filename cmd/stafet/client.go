package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/internal/confdir"
)

// client talks to a running stafetd's HTTP API.
type client struct {
	base  string
	from  string // the setting that named base
	token string
	http  *http.Client
	// flags names the command's flags by the API's field names, so an
	// error the API reports about a field names the flag the user typed.
	flags map[string]string
}

// newClient finds the server (serverURL) and the token: STAFET_TOKEN,
// else the operator token stafetd was given (STAFET_ADMIN_TOKEN) or
// wrote to its key directory (operatorToken).
func newClient(e env) (*client, error) {
	base, from := serverURL(e.getenv)
	tok := e.getenv("STAFET_TOKEN")
	if tok == "" {
		tok = e.getenv("STAFET_ADMIN_TOKEN")
	}
	if tok == "" {
		var err error
		if tok, err = operatorToken(e); err != nil {
			return nil, err
		}
	}
	return &client{base: strings.TrimRight(base, "/"), from: from, token: tok, http: &http.Client{Timeout: 0}}, nil
}

// named gives the API's field names the command's flags ("cluster":
// "-cluster"); problems about those fields then name the flag.
func (c *client) named(flags map[string]string) *client {
	c.flags = flags
	return c
}

// operatorToken reads the operator token where stafetd wrote it: the key
// directory (STAFET_KEY_DIR, default ~/.config/stafet/keys), or the data
// directory of an earlier release.
func operatorToken(e env) (string, error) {
	var tried []string
	if dir, err := keyDir(e); err == nil {
		tried = append(tried, httpapi.OperatorTokenFile(dir))
	}
	tried = append(tried, filepath.Join(envOr(e, "STAFET_DATA_DIR", "data"), "admin-token"))
	for _, path := range tried {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b)), nil
		}
	}
	return "", fmt.Errorf("no token: set STAFET_TOKEN to your organisation's token, or run where stafetd's operator token is readable (%s; STAFET_KEY_DIR names stafetd's key directory)", strings.Join(tried, ", "))
}

// keyDir is stafetd's key directory: STAFET_KEY_DIR, or the operator's
// configuration directory's keys.
func keyDir(e env) (string, error) {
	if dir := e.getenv("STAFET_KEY_DIR"); dir != "" {
		return dir, nil
	}
	d, err := confdir.Dir(e.getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "keys"), nil
}

// problem is the API's RFC 9457 error body.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Field  string `json:"field"`
	Rule   string `json:"rule"`
	Code   string `json:"code"`
	// flag is the command's flag for Field, when it has one.
	flag string
}

func (p problem) Error() string {
	var b strings.Builder
	if p.flag != "" {
		// The user's own words: the flag, then what is wrong with it.
		fmt.Fprintf(&b, "%s: %s", p.flag, p.Detail)
		return b.String()
	}
	fmt.Fprintf(&b, "%d %s", p.Status, p.Title)
	if p.Field != "" {
		fmt.Fprintf(&b, ": field %s", p.Field)
	}
	if p.Rule != "" {
		fmt.Fprintf(&b, ": rule %s", p.Rule)
	}
	if p.Detail != "" {
		fmt.Fprintf(&b, ": %s", p.Detail)
	}
	return b.String()
}

func (c *client) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var r io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case rawBody:
		r, contentType = bytes.NewReader(b), "application/octet-stream"
	default:
		j, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach stafetd at %s (from %s): %w; is it running?", c.base, c.from, unwrapURL(err))
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var p problem
		b, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(b, &p) != nil || p.Status == 0 {
			p = problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
		}
		if p.Field != "" && p.Status < 500 {
			p.flag = c.flags[p.Field]
		}
		if resp.StatusCode == http.StatusUnauthorized {
			p.Detail += "; check STAFET_TOKEN (an organisation's token, or the operator's)"
		}
		return nil, p
	}
	return resp, nil
}

// unwrapURL drops the method and URL net/http puts in front of a
// transport error: the message names the server once, with its setting.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// rawBody is a request body sent as it is (a corrected message).
type rawBody []byte

// getJSON decodes one response into v.
func (c *client) getJSON(ctx context.Context, method, path string, body, v any) error {
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if v == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// pages follows "next" links and returns every item.
func (c *client) pages(ctx context.Context, path string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	for next := path; next != ""; {
		var page struct {
			Items []json.RawMessage `json:"items"`
			Next  string            `json:"next"`
		}
		if err := c.getJSON(ctx, "GET", next, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		next = page.Next
		if u, err := url.Parse(next); err == nil && u.IsAbs() {
			next = u.RequestURI()
		}
	}
	return all, nil
}

// lines streams JSON lines (the rebuild's progress) to fn.
func (c *client) lines(ctx context.Context, method, path string, fn func([]byte) error) error {
	resp, err := c.do(ctx, method, path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if err := fn(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// ago renders a duration for people: 3d4h, 5h12m, 40m.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "in " + ago(-d)
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dm", int(d.Minutes()))
}

func short(id string) string {
	if len(id) > 13 {
		return id[:8] + "…" + id[len(id)-4:]
	}
	return id
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// decodeItems decodes a listing's items. An item the CLI cannot read is
// an error naming it, not a row of zeros.
func decodeItems[T any](items []json.RawMessage) ([]T, error) {
	out := make([]T, 0, len(items))
	for i, raw := range items {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("item %d of the listing is not what this CLI reads (a newer stafetd?): %w", i+1, err)
		}
		out = append(out, v)
	}
	return out, nil
}
