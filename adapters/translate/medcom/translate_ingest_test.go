package medcom_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stafet/stafet/adapters/ingest"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/engine"
	"github.com/stafet/stafet/events"
)

// The MedCom examples' stay: the heart department of Herlev og Gentofte
// Hospital notifies "Plejecenter Herlev", which the directory below knows
// as Herlev Kommune.
const (
	stin   = "hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"
	reSTIN = "hospitalnotification/bfab3e80-9584-11ec-b909-0242ac120002.json"
	anSTIN = "hospitalnotification/c83671a4-9584-11ec-b909-0242ac120002.json"
	stor   = "hospitalnotification/d3128d9b-cede-4c7f-8904-809eab322d7d.json"
	slor   = "hospitalnotification/e94de8ee-bd94-475e-b454-b8fbbef8a685.json"
	slhj   = "hospitalnotification/f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json"
	mors   = "hospitalnotification/g099bbf3-3fca-4722-a248-bfe1aa956410.json"
	anSLHJ = "derived/AN_SLHJ.json"
	reSLHJ = "derived/RE_SLHJ.json"
	ackOK  = "ack/ok-STIN.json"

	heart  = events.OrgID("sor:265161000016000")
	herlev = events.OrgID("kommune:0163")
)

const organisations = `{"organisations": [
	{"id": "sor:265161000016000", "kind": "hospital", "name": "Herlev og Gentofte Hospital, Hjerteafdelingen", "region": "Hovedstaden", "clusters": ["midt-hovedstaden"]},
	{"id": "kommune:0163", "kind": "municipality", "name": "Herlev", "region": "Hovedstaden", "aliases": ["953741000016009"]}
]}`

func read(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// medcomIngest runs a real ingest on an embedded event store with the
// MedCom translator, and returns a function that receives a message the
// way the MedCom endpoint does: MessageHeader.id is the control id.
func medcomIngest(t *testing.T) (*engine.Store, func(raw []byte) (engine.Outcome, error)) {
	t.Helper()
	ctx := context.Background()
	store, err := engine.Open(ctx, engine.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		t.Fatal(err)
	}
	tr := medcom.NewTranslator(dir)
	in := ingest.New(store, dir, map[string]ingest.Translator{medcom.System: tr.Translate}, nil)
	return store, func(raw []byte) (engine.Outcome, error) {
		t.Helper()
		m, err := medcom.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return in.Receive(ctx, engine.RawMessage{System: medcom.System, Sender: m.Sender.SOR, ControlID: m.HeaderID, ContentType: "application/fhir+json", Body: raw})
	}
}

// history loads a pathway and returns its events' types and its state.
func history(t *testing.T, store *engine.Store, out engine.Outcome) ([]events.Envelope, []events.Type, *events.Pathway) {
	t.Helper()
	h, err := store.Log().Load(context.Background(), out.Pathway)
	if err != nil {
		t.Fatal(err)
	}
	var types []events.Type
	for _, e := range h {
		types = append(types, e.Type)
	}
	return h, types, events.Fold(h)
}

// annulled returns the types of the events the pathway's Corrections annul.
func annulled(h []events.Envelope) []events.Type {
	byID := make(map[string]events.Type)
	for _, e := range h {
		byID[e.ID.String()] = e.Type
	}
	var out []events.Type
	for _, e := range h {
		if id, ok := e.Annuls(); ok {
			out = append(out, byID[id.String()])
		}
	}
	slices.Sort(out)
	return out
}

func TestIngestMedCom(t *testing.T) {
	const (
		opened  = events.TypePathwayOpened
		admit   = events.TypePatientAdmitted
		sent    = events.TypeDocumentSent
		correct = events.TypeCorrection
	)
	receiveAll := func(t *testing.T, names ...string) (*engine.Store, engine.Outcome) {
		t.Helper()
		store, receive := medcomIngest(t)
		var out engine.Outcome
		for _, n := range names {
			var err error
			if out, err = receive(read(t, n)); err != nil {
				t.Fatalf("%s: %v", n, err)
			}
		}
		return store, out
	}

	t.Run("admission, discharge, discharge cancelled", func(t *testing.T) {
		store, out := receiveAll(t, stin, slhj, anSLHJ)
		h, types, p := history(t, store, out)
		want := []events.Type{opened, admit, sent, events.TypePatientDischarged, sent, correct, correct, sent}
		if !slices.Equal(types, want) {
			t.Fatalf("events %v; want %v", types, want)
		}
		if got := annulled(h); !slices.Equal(got, []events.Type{sent, events.TypePatientDischarged}) {
			t.Errorf("annulled %v; want the discharge and its notification", got)
		}
		if !p.Admitted() || p.Hospital() != heart || p.Holder(events.HospitalStay) != heart {
			t.Errorf("admitted %v at %s, stay held by %s; want admitted at %s again", p.Admitted(), p.Hospital(), p.Holder(events.HospitalStay), heart)
		}
		if p.Municipality() != herlev || p.Cluster() != "midt-hovedstaden" {
			t.Errorf("municipality %s, cluster %s; want %s, midt-hovedstaden", p.Municipality(), p.Cluster(), herlev)
		}
		if h[0].Payload.(*events.PathwayOpened).Episode != "bd481c38-a921-11ed-afa1-0242ac120002" {
			t.Errorf("pathway opened for episode %q", h[0].Payload.(*events.PathwayOpened).Episode)
		}
	})

	t.Run("admission cancelled", func(t *testing.T) {
		store, out := receiveAll(t, stin, anSTIN)
		h, _, p := history(t, store, out)
		if got := annulled(h); !slices.Equal(got, []events.Type{sent, admit}) {
			t.Errorf("annulled %v; want the admission and its notification", got)
		}
		if p.Admitted() || p.Holder(events.HospitalStay) != "" {
			t.Errorf("admitted %v, stay held by %q after AN_STIN; want neither", p.Admitted(), p.Holder(events.HospitalStay))
		}
	})

	t.Run("admission corrected", func(t *testing.T) {
		store, out := receiveAll(t, stin, reSTIN)
		h, types, p := history(t, store, out)
		want := []events.Type{opened, admit, sent, correct, correct, admit, sent}
		if !slices.Equal(types, want) {
			t.Fatalf("events %v; want %v", types, want)
		}
		if got := annulled(h); !slices.Equal(got, []events.Type{sent, admit}) {
			t.Errorf("annulled %v; want the first admission and its notification", got)
		}
		if !p.Admitted() || p.Hospital() != heart {
			t.Errorf("admitted %v at %s; want admitted at %s", p.Admitted(), p.Hospital(), heart)
		}
	})

	t.Run("leave and death", func(t *testing.T) {
		store, out := receiveAll(t, stin, stor, slor, mors)
		_, types, p := history(t, store, out)
		want := []events.Type{opened, admit, sent, events.TypeLeaveStarted, sent, events.TypeLeaveEnded, sent, events.TypePatientDied, sent}
		if !slices.Equal(types, want) {
			t.Fatalf("events %v; want %v", types, want)
		}
		if p.Admitted() {
			t.Error("still admitted after MORS")
		}
	})

	t.Run("resend with a new Bundle.id", func(t *testing.T) {
		store, receive := medcomIngest(t)
		raw := read(t, stin)
		first, err := receive(raw)
		if err != nil {
			t.Fatal(err)
		}
		resent := bytes.Replace(raw, []byte(`"id": "a5e5b880-c087-4055-b9ec-99108695f81d"`), []byte(`"id": "0f5f0f3e-6e3c-4c55-9d6f-3c3a0f1d2e4b"`), 1)
		if bytes.Equal(resent, raw) {
			t.Fatal("the Bundle.id was not replaced")
		}
		again, err := receive(resent)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Result.Duplicate || again.Pathway != first.Pathway || again.Result.FirstSeq != first.Result.FirstSeq {
			t.Errorf("resend: duplicate %v, pathway %s seq %d; want the original's %s seq %d", again.Result.Duplicate, again.Pathway, again.Result.FirstSeq, first.Pathway, first.Result.FirstSeq)
		}
		if _, types, _ := history(t, store, first); len(types) != 3 {
			t.Errorf("events %v after a resend; want the admission's three once", types)
		}
	})

	t.Run("RE_SLHJ corrects the discharge", func(t *testing.T) {
		store, receive := medcomIngest(t)
		for _, n := range []string{stin, slhj} {
			if _, err := receive(read(t, n)); err != nil {
				t.Fatal(err)
			}
		}
		out, err := receive(read(t, reSLHJ))
		if err != nil {
			t.Fatalf("RE_SLHJ: %v; want the corrected discharge appended", err)
		}
		_, types, p := history(t, store, out)
		if p.Admitted() || types[len(types)-1] != events.TypeDocumentSent || !slices.Contains(types, events.TypeCorrection) {
			t.Errorf("after RE_SLHJ: admitted %v, events %v; want a Correction and the discharge again", p.Admitted(), types)
		}
	})
	t.Run("AN_STIN follows an earlier RE_STIN", func(t *testing.T) {
		store, receive := medcomIngest(t)
		for _, n := range []string{stin, reSTIN} {
			if _, err := receive(read(t, n)); err != nil {
				t.Fatal(err)
			}
		}
		// MedCom's AN_STIN names the STIN, whose events the RE_STIN has
		// annulled already; the ingest follows the correction to the
		// RE_STIN's admission and cancels that.
		out, err := receive(read(t, anSTIN))
		if err != nil {
			t.Fatalf("AN_STIN after RE_STIN: %v; want the corrected admission cancelled", err)
		}
		if _, _, p := history(t, store, out); p.Admitted() {
			t.Error("still admitted after AN_STIN; want the admission cancelled")
		}
	})
	t.Run("an acknowledgement lands on the pathway of its document", func(t *testing.T) {
		store, receive := medcomIngest(t)
		first, err := receive(read(t, stin))
		if err != nil {
			t.Fatal(err)
		}
		out, err := receive(read(t, ackOK))
		if err != nil {
			t.Fatalf("acknowledgement: %v; want it appended", err)
		}
		_, types, _ := history(t, store, out)
		if out.Pathway != first.Pathway || types[len(types)-1] != events.TypeDocumentAcknowledged {
			t.Errorf("got pathway %s, events %v; want the STIN's pathway ending in DocumentAcknowledged", out.Pathway, types)
		}
	})
}

func ExampleTranslator_Translate() {
	dir, err := events.NewDirectory(strings.NewReader(organisations))
	if err != nil {
		log.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json")
	if err != nil {
		log.Fatal(err)
	}
	tr, err := medcom.NewTranslator(dir).Translate(raw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("episode", tr.Episode, "in cluster", tr.Cluster, "message", tr.Source.MessageID)
	for _, p := range tr.Payloads {
		data, _ := json.Marshal(p)
		fmt.Println(p.Type(), string(data))
	}

	_, err = medcom.NewTranslator(dir).Translate([]byte("MSH|^~\\&|"))
	var me *events.MessageError
	if errors.As(err, &me) {
		fmt.Println(me.Code, me.Rejected)
	}
	// Output:
	// episode bd481c38-a921-11ed-afa1-0242ac120002 in cluster midt-hovedstaden message b9b4818e-02de-4cc4-b418-d20cbc7b5404
	// PatientAdmitted {"hospital":"sor:265161000016000","class":"inpatient","episode":"bd481c38-a921-11ed-afa1-0242ac120002","notified":"kommune:0163","report_requested":true}
	// DocumentSent {"document":"b9b4818e-02de-4cc4-b418-d20cbc7b5404","kind":"hospital-notification","from":"sor:265161000016000","to":"kommune:0163"}
	// not-medcom true
}
