package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/transport/httpapi"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
	"github.com/stafet/stafet/internal/natstest"
	"github.com/stafet/stafet/projections"
)

func runCLI(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(context.Background(), env{args: args[1:], stdout: &out, stderr: &errOut, getenv: func(k string) string { return vars[k] }})
		code := 0
		var ee *exitError
		switch {
		case errors.As(err, &ee):
			code = ee.code
			errOut.WriteString(ee.err.Error())
		case err != nil:
			code = 1
			errOut.WriteString(err.Error())
		}
		return code, out.String(), errOut.String()
	}
	t.Fatalf("no command %s", args[0])
	return 0, "", ""
}

func TestTranslate(t *testing.T) {
	orgs := "../../adapters/translate/hl7v2/testdata/directory/organisations.json"
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"hl7 discharge", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/adt/a03_home_services.hl7"}, 0, `"type":"PatientDischarged"`, ""},
		{"hl7 unknown trigger", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/adt/err_unknown_trigger.hl7"}, 1, "", "MSH-9"},
		{"medcom admission", []string{"translate", "-from", "medcom", "../../adapters/translate/medcom/testdata/hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"}, 0, `"type":"PatientAdmitted"`, ""},
		{"unknown format", []string{"translate", "-from", "edifact", "x"}, 1, "", "edifact"},
		{"the sender and how it maps", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/adt/a03_home_services.hl7"}, 0,
			`{"role":"sender","field":"MSH-3/MSH-4","read":"EPJ / AUH","org":"sor:100011000016001","kind":"hospital","how":"alias in the directory"}`, ""},
		{"the sender of a message that fails", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/adt/err_unknown_trigger.hl7"}, 1, `"role":"sender"`, "MSH-9"},
		{"an HL7 batch file, message by message", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/batch/dk_file_bom_crlf.hl7"}, 0,
			`dk_file_bom_crlf.hl7#2","occurred_at":"2026-03-14T10:00:00+01:00","patient":true,"source":{"message_id":"AUH0302"`, ""},
		{"a batch that lost a message", []string{"translate", "-from", "hl7v2", "-organisations", orgs, "../../adapters/translate/hl7v2/testdata/batch/dk_batch_count_mismatch.hl7"}, 1, "", "BTS-1 declares 3 messages; the batch holds 2"},
		{"a MedCom message in its VANS envelope", []string{"translate", "-from", "medcom", "../../adapters/translate/medcom/testdata/vans/VANS-HospitalNotification-STIN-xml.xml"}, 0, `"Name":"MCM:FDIS20#admit-inpatient"`, ""},
		{"a replacement-CPR CareCommunication", []string{"translate", "-from", "medcom", "../../adapters/translate/medcom/testdata/carecommunication/Bundle-S-Tek-CPR-3-77ff05d0-9eca-4a59-b436-fe1b97673817.json"}, 0, `"patient":true`, ""},
		{"MedCom's invalid example", []string{"translate", "-from", "medcom", "../../adapters/translate/medcom/testdata/carecommunication-4.1.0/Bundle-R-Tek-O-invalid-3d1149cd-d3e3-421a-ae31-4860decb4272.xml"}, 1, `"role":"receiver"`, "payload[0].content[x]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("got exit %d, out %q, err %q; want exit %d with %q / %q", code, out, errOut, tt.code, tt.out, tt.err)
			}
			for _, id := range []string{"0102030405", "2509479989", "0703921VJ", "1206550VK9"} {
				if strings.Contains(out, id) || strings.Contains(errOut, id) {
					t.Errorf("a CPR or replacement number (%s) in translate output", id)
				}
			}
		})
	}
}

// TestReadCommands runs the read commands against the real API on a real
// store with hosted projections.
// cliServer is a running API over a real store with hosted projections:
// the server the CLI's commands talk to.
type cliServer struct {
	store *engine.Store
	host  *engine.Host
	url   string
	admin string
}

func newCLIServer(t *testing.T) *cliServer {
	t.Helper()
	return newCLIServerWith(t, engine.Config{DataDir: t.TempDir()})
}

// newCLIServerWith is newCLIServer on a store of the given settings.
func newCLIServerWith(t *testing.T, cfg engine.Config) *cliServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	store, err := engine.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	set, _ := projections.NewSet(projections.DefaultRules())
	host := store.Log().NewHost("cli-test", set, engine.HostOptions{})
	go host.Run(ctx)
	<-host.Ready()
	dir, _ := events.NewDirectory(nil)
	admin := "operator-token-for-tests"
	tokens, err := httpapi.NewTokens(ctx, store, admin)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: store, Tokens: tokens, Directory: dir, Projections: host, Rules: projections.DefaultRules()}))
	t.Cleanup(srv.Close)
	return &cliServer{store: store, host: host, url: srv.URL, admin: admin}
}

func (c *cliServer) waitApplied(t *testing.T) {
	t.Helper()
	last, _ := c.store.Log().LastSeq(context.Background())
	for deadline := time.Now().Add(10 * time.Second); c.host.Applied() < last; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("projections at %d; want %d", c.host.Applied(), last)
		}
	}
}

func TestReadCommands(t *testing.T) {
	ctx := context.Background()
	c := newCLIServer(t)
	store, admin := c.store, c.admin
	hospital, aarhus := events.SOR("6620000000001"), events.Kommune("0751")
	ref, _ := store.Vault().Ref("0102030405")
	pw := events.NewID()
	t0 := time.Now().Add(-48 * time.Hour).UTC()
	for _, cmd := range []events.Command{
		{Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: t0, Payloads: []events.Payload{
			&events.PathwayOpened{Patient: ref, Cluster: "aarhus", Municipality: aarhus},
			&events.PatientAdmitted{Hospital: hospital, Class: events.Inpatient}}},
		{Pathway: pw, Actor: events.Actor{Org: hospital}, OccurredAt: t0.Add(time.Hour), Payloads: []events.Payload{
			&events.HandoffOffered{Offer: "o1", From: hospital, To: aarhus, What: events.HomeCare, Deadline: t0.Add(5 * time.Hour)}}},
	} {
		if _, err := store.Log().Execute(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	c.waitApplied(t)
	vars := map[string]string{"STAFET_URL": c.url, "STAFET_TOKEN": admin}
	code, out, errOut := runCLI(t, vars, "gaps")
	if code != 0 || !strings.Contains(out, "offer-overdue") {
		t.Errorf("gaps: exit %d, %q %q; want the overdue offer", code, out, errOut)
	}
	code, out, _ = runCLI(t, vars, "pathway", "show", pw.String())
	if code != 0 || !strings.Contains(out, "HandoffOffered") || !strings.Contains(out, "home-care") {
		t.Errorf("pathway show: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, vars, "token", "issue", "-org", "kommune:0751")
	tok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, "stf_") {
		t.Fatalf("token issue: exit %d, %q", code, out)
	}
	code, out, _ = runCLI(t, map[string]string{"STAFET_URL": c.url, "STAFET_TOKEN": tok}, "worklist")
	if code != 0 || !strings.Contains(out, "home-care") || !strings.Contains(out, "OVERDUE") {
		t.Errorf("worklist: exit %d, %q; want the overdue home-care offer", code, out)
	}
	code, _, errOut = runCLI(t, map[string]string{"STAFET_URL": c.url, "STAFET_TOKEN": "wrong"}, "gaps")
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("bad token: exit %d, %q; want a 401 problem", code, errOut)
	}
}

func TestQuarantineAndRebuildCommands(t *testing.T) {
	c := newCLIServer(t)
	vars := map[string]string{"STAFET_URL": c.url, "STAFET_TOKEN": c.admin}
	ack, err := natstest.JetStream(t, c.store.Conn()).Publish(context.Background(), "stafet.ev.aarhus.garbage", []byte("not an event"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitApplied(t)
	seq := strconv.FormatUint(ack.Sequence, 10)
	code, out, errOut := runCLI(t, vars, "quarantine", "list")
	if code != 0 || !strings.Contains(out, "undecodable") || !strings.Contains(out, "stafet.ev.aarhus.garbage") {
		t.Errorf("quarantine list: exit %d, %q %q; want the garbage, undecodable", code, out, errOut)
	}
	code, out, _ = runCLI(t, vars, "quarantine", "show", seq)
	if code != 0 || !strings.Contains(out, `"readable": false`) || !strings.Contains(out, "sha256:") {
		t.Errorf("quarantine show: exit %d, %q", code, out)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"neither decision", []string{"quarantine", "resolve", seq}, 1, "-take-in or -annul"},
		{"take in what cannot be read", []string{"quarantine", "resolve", seq, "-take-in"}, 1, "cannot read"},
		{"annul", []string{"quarantine", "resolve", seq, "-annul", "published by hand"}, 0, "annulled at seq"},
		{"annul again", []string{"quarantine", "resolve", seq, "-annul", "twice"}, 1, "409"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, vars, tt.args...)
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, %q %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	if code, out, _ := runCLI(t, vars, "quarantine", "list"); code != 0 || strings.Contains(out, "garbage") {
		t.Errorf("after the annulment: exit %d, %q; want nothing open", code, out)
	}
	code, out, errOut = runCLI(t, vars, "rebuild")
	if code != 0 || !strings.Contains(out, "same: true — replaying the whole log again gave byte for byte the state that was serving") {
		t.Errorf("rebuild: exit %d, %q %q; want success and what same means", code, out, errOut)
	}
	// A stafetd that cannot rebuild: exit status 1 and the reason.
	dir, _ := events.NewDirectory(nil)
	tokens, err := httpapi.NewTokens(context.Background(), c.store, c.admin)
	if err != nil {
		t.Fatal(err)
	}
	bare := httptest.NewServer(httpapi.New(httpapi.Config{Store: c.store, Tokens: tokens, Directory: dir}))
	defer bare.Close()
	code, _, errOut = runCLI(t, map[string]string{"STAFET_URL": bare.URL, "STAFET_TOKEN": c.admin}, "rebuild")
	if code != 1 || !strings.Contains(errOut, "rebuild failed") || !strings.Contains(errOut, "unchanged") {
		t.Errorf("rebuild without projections: exit %d, %q; want 1 and the reason", code, errOut)
	}
}
