package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/internal/faulttest"
	"github.com/stafet/stafet/internal/natstest"
	"github.com/stafet/stafet/internal/settings"
)

// TestEraseLeavesNoTrace (issue 13): after stafetd took a patient's
// admission and discharge over MLLP, and a message naming the patient
// that became a dead letter, an erasure through the API leaves the
// patient's CPR number and name in no file of the data directory — read
// raw, and after decrypting every raw message that can still be
// decrypted — while the gaps and figures are what they were, another
// patient stays readable, and the access log holds the erasure with
// its reason.
func TestEraseLeavesNoTrace(t *testing.T) {
	env, clients := mllpCerts(t)
	dir := t.TempDir()
	svc, stop := startService(t, dir, env)
	base, admin := "http://"+svc.httpAddr.String(), svc.admin
	waitReady(t, base)
	addr := svc.mllpAddr.String()
	a01, err := os.ReadFile("testdata/a01.hl7")
	if err != nil {
		t.Fatal(err)
	}
	unknown := filepath.Join(t.TempDir(), "a99.hl7")
	os.WriteFile(unknown, bytes.ReplaceAll(bytes.ReplaceAll(a01, []byte("ADT^A01^ADT_A01|AUH0001"), []byte("ADT^A99^ADT_A01|AUH0099")), []byte("EVN|A01"), []byte("EVN|A99")), 0o600)
	for _, s := range []struct {
		file, client, want string
	}{
		{"testdata/a01.hl7", "auh-epj", "AA"},
		{"testdata/a03.hl7", "auh-epj", "AA"},
		{unknown, "auh-epj", "AR"},
		{"testdata/a01_cpr_randers.hl7", "rhr-epj", "AA"},
	} {
		if got := sendMLLPAs(t, addr, clients[s.client], s.file); got != s.want && !(s.want == "AR" && got == "AE") {
			t.Fatalf("%s: %s; want %s", s.file, got, s.want)
		}
	}
	waitCaughtUp(t, svc)
	const cpr, family, given = "0102030405", "Jørgensen", "Søren"
	gaps := func() string {
		_, b := get(t, base+"/v1/gaps?status=all", admin)
		return b
	}
	// The figures say when they were computed ("at"): the rest must match.
	at := regexp.MustCompile(`"at":\s*"[^"]*"`)
	figures := func() string {
		_, b := get(t, base+"/v1/municipalities/0751/figures", admin)
		return at.ReplaceAllString(b, `"at":"…"`)
	}
	gapsBefore, figuresBefore := gaps(), figures()
	// Decrypting every raw message that can be decrypted finds the
	// patient in the admission, the discharge and the dead letter, and
	// the other patient in hers; after the erasure, only the other.
	forms := [][]byte{[]byte(cpr), []byte("010203-0405"), []byte(family), []byte(given)}
	other := [][]byte{[]byte("2509479989"), []byte("Berggren")}
	if got := rawNaming(t, svc.store, forms); len(got) != 3 {
		t.Fatalf("raw messages naming the patient before the erasure: %v; want 3", got)
	}
	if !strings.Contains(gapsBefore, "pathway") {
		t.Fatalf("gaps before: %s; want the discharge's gap", gapsBefore)
	}

	var out struct {
		Pathways    []string `json:"pathways"`
		DeadLetters []uint64 `json:"dead_letters_erased"`
	}
	if code := apiJSON(t, "POST", base+"/v1/patients/erase", admin, map[string]string{"cpr": cpr}, nil); code != 400 {
		t.Errorf("an erasure without a reason: %d; want 400", code)
	}
	if code := apiJSON(t, "POST", base+"/v1/patients/erase", admin, map[string]string{"cpr": cpr, "reason": "the patient's request, case 2026-117"}, &out); code != 200 {
		t.Fatalf("erase: %d", code)
	}
	if len(out.Pathways) != 1 || len(out.DeadLetters) != 1 {
		t.Errorf("erased %+v; want the pathway and the dead letter", out)
	}
	if _, b := get(t, base+"/v1/access-log?pathway="+out.Pathways[0], admin); !strings.Contains(b, "case 2026-117") {
		t.Errorf("access log: %s; want the erasure with its reason", b)
	}
	if g, f := gaps(), figures(); g != gapsBefore || f != figuresBefore {
		t.Errorf("after the erasure:\ngaps %s\nfigures %s\nwant as before:\ngaps %s\nfigures %s", g, f, gapsBefore, figuresBefore)
	}

	if got := rawNaming(t, svc.store, forms); len(got) != 0 {
		t.Errorf("raw messages still naming the patient after the erasure: %v", got)
	}
	if got := rawNaming(t, svc.store, other); len(got) != 1 {
		t.Errorf("raw messages naming the other patient: %v; want hers, readable", got)
	}
	stop()
	if files := filesNaming(t, dir, forms); len(files) > 0 {
		t.Errorf("the erased patient is still in %v", files)
	}

	// A copy of the data directory, opened without the key directory,
	// refuses to open: it holds no key-encryption key that unwraps its
	// keys.
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if s, err := engine.Open(context.Background(), engine.Config{DataDir: copied, KeyDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "key-encryption key this instance does not hold") {
		if s != nil {
			s.Close()
		}
		t.Errorf("a copy of the data directory opened with other keys: %v; want a refusal: no KEK", err)
	}
}

// waitCaughtUp waits until the projections applied the whole log.
func waitCaughtUp(t *testing.T, svc *service) {
	t.Helper()
	last, err := svc.store.Log().LastSeq(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); svc.host.Applied() < last; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("projections at %d; want %d", svc.host.Applied(), last)
		}
	}
}

// rawNaming decrypts every raw message that can be decrypted and
// returns those that hold any of the byte strings.
func rawNaming(t *testing.T, s *engine.Store, forms [][]byte) []uint64 {
	t.Helper()
	var out []uint64
	for seq := uint64(1); seq <= rawLast(t, s); seq++ {
		m, err := s.Inbox().Message(context.Background(), seq)
		if err == nil && slices.ContainsFunc(forms, func(f []byte) bool { return bytes.Contains(m.Body, f) }) {
			out = append(out, seq)
		}
	}
	return out
}

func rawLast(t *testing.T, s *engine.Store) uint64 {
	t.Helper()
	st, err := natstest.JetStream(t, s.NATS().Conn()).Stream(context.Background(), engine.RawStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// filesNaming lists the files under dir holding any of the byte strings.
func filesNaming(t *testing.T, dir string, forms [][]byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, f := range forms {
			if bytes.Contains(b, f) {
				out = append(out, path)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestOperatorTokenNotInJSONLogs: a stafetd that makes the operator token
// with JSON logs writes no line that is not JSON and none that holds the
// token; the token is in the key directory, and the data directory keeps
// only its hash. With text logs it is shown once.
func TestOperatorTokenNotInJSONLogs(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			keys := dir + ".keys"
			vars := map[string]string{"STAFET_DATA_DIR": dir, "STAFET_KEY_DIR": keys, "STAFET_HTTP_ADDR": "127.0.0.1:0", "STAFET_MLLP_ADDR": "",
				"STAFET_NATS_ADDR": "none", "STAFET_LOG_FORMAT": format}
			cfg, err := settings.Parse(nil, func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			var out faulttest.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			started, done := make(chan *service, 1), make(chan error, 1)
			go func() { done <- run(ctx, cfg, &out, started) }()
			select {
			case <-started:
			case err := <-done:
				t.Fatalf("stafetd stopped: %v", err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(keys, "admin-token"))
			tok := strings.TrimSpace(string(b))
			if err != nil || !strings.HasPrefix(tok, "stf_") {
				t.Fatalf("the key directory's admin-token: %q, %v", b, err)
			}
			logged := out.String()
			if got := strings.Count(logged, tok); format == "json" && got != 0 || format == "text" && got != 1 {
				t.Errorf("%s logs hold the token %d times", format, got)
			}
			if format == "json" {
				for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
					if !json.Valid([]byte(line)) {
						t.Errorf("a line that is not JSON: %q", line)
					}
				}
			}
			if files := filesNaming(t, dir, [][]byte{[]byte(tok)}); len(files) > 0 {
				t.Errorf("the token is in %v", files)
			}
		})
	}
}
