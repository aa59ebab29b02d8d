package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// TestVerifyAndEraseCommands: stafet verify, reading the log from NATS
// with stafetd's key and trusting only the signing key's public half,
// finds nothing on a clean log and names a message with a changed byte
// (written with stafetd's own credentials); stafet kek add and rewrap
// rotate the key-encryption key; stafet patient erase needs a reason and
// makes the patient's identity unreadable.
func TestVerifyAndEraseCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data, keys := filepath.Join(dir, "data"), filepath.Join(dir, "keys")
	c := newCLIServerWith(t, engine.Config{DataDir: data, KeyDir: keys, ListenAddr: "127.0.0.1:0"})
	const cpr = "0102030405"
	ref, _ := c.store.Vault().Ref(cpr)
	sealed, err := c.store.Vault().Seal(ctx, ref, events.Identity{CPR: cpr, Name: "Søren Jørgensen"})
	if err != nil {
		t.Fatal(err)
	}
	hospital, aarhus := events.SOR("6620000000001"), events.Kommune("0751")
	pw := events.NewID()
	if _, err := c.store.Log().Execute(ctx, events.Command{Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: time.Now().UTC(), Payloads: []events.Payload{
		&events.PathwayOpened{Patient: ref, Identity: sealed, Cluster: "aarhus", Municipality: aarhus},
		&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.store.Log().Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"STAFET_URL": c.url, "STAFET_TOKEN": c.admin, "STAFET_NATS_URL": c.store.NATS().ClientURL(), "STAFET_DATA_DIR": data, "STAFET_KEY_DIR": keys}
	if code, out, errOut := runCLI(t, vars, "verify"); code != 0 || !strings.Contains(out, "Everything matches") {
		t.Fatalf("verify a clean log: exit %d, %q %q", code, out, errOut)
	}

	// A changed byte, the headers of the message it copies.
	nc, err := nats.Connect(c.store.NATS().ClientURL(), nkeyOption(t, engine.StafetdKeyFile(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(ctx, engine.EventStream)
	if err != nil {
		t.Fatal(err)
	}
	subject := engine.Subject("aarhus", pw)
	last, err := st.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(subject)
	m.Header.Set(engine.HeaderPrev, last.Header.Get(engine.HeaderPrev))
	m.Header[engine.HeaderChain] = last.Header[engine.HeaderChain]
	m.Data = bytes.Replace(last.Data, []byte(`"inpatient"`), []byte(`"inpatienT"`), 1)
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify"}, {"verify", "-pathway", pw.String()}} {
		code, _, errOut := runCLI(t, vars, args...)
		if want := "seq " + strconv.FormatUint(ack.Sequence, 10); code != 3 || !strings.Contains(errOut, want) {
			t.Errorf("%v after a changed byte: exit %d, %q; want 3 and %q named", args, code, errOut, want)
		}
	}

	// A KEK rotation: a fresh KEK first in the file, every key wrapped
	// anew under it; the patient's identity still opens.
	if code, out, errOut := runCLI(t, vars, "kek", "add", filepath.Join(keys, "kek")); code != 0 || !strings.Contains(out, "is now first") {
		t.Fatalf("kek add: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, vars, "kek", "rewrap", "-json")
	var rep engine.RewrapReport
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.Rewrapped == 0 || rep.Rewrapped != rep.Keys {
		t.Fatalf("kek rewrap: exit %d, %q %q; want every key wrapped anew", code, out, errOut)
	}
	if id, err := c.store.Vault().Open(ctx, ref, sealed); err != nil || id.CPR != cpr {
		t.Fatalf("after the rotation the identity: %v; want it opened", err)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no reason", []string{"patient", "erase", cpr}, 1, "usage"},
		{"not a CPR number", []string{"patient", "erase", "-reason", "test", "12345"}, 1, "cpr"},
		{"erase", []string{"patient", "erase", "-reason", "the patient's request", cpr}, 0, "1 key(s) destroyed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, vars, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) || strings.Contains(out+errOut, cpr) {
				t.Errorf("exit %d, %q %q; want %d and %q, and no CPR number", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	if _, err := c.store.Vault().Open(ctx, ref, sealed); err == nil {
		t.Error("the identity opens after the erasure")
	}
}

func nkeyOption(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
