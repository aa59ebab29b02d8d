package simulator

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stafet/stafet/adapters/translate/hl7v2"
	"github.com/stafet/stafet/adapters/translate/medcom"
	"github.com/stafet/stafet/events"
)

func newModel(t testing.TB, seed uint64, opts ModelOptions) *Model {
	t.Helper()
	m, err := NewModel(seed, opts)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	return m
}

func steps(t testing.TB, m *Model, n int) []Step {
	t.Helper()
	out := make([]Step, n)
	for i := range out {
		out[i] = m.Next()
	}
	return out
}

func TestDeterministic(t *testing.T) {
	tests := []struct {
		name string
		opts ModelOptions
	}{
		{"defaults", ModelOptions{}},
		{"compressed", ModelOptions{TimeScale: 60, Start: time.Date(2026, 1, 5, 7, 0, 0, 0, time.UTC), RunID: "r1"}},
		{"two clusters", ModelOptions{Clusters: []string{"aarhus", "byen"}, ArrivalsPerHour: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := steps(t, newModel(t, 42, tt.opts), 1500)
			b := steps(t, newModel(t, 42, tt.opts), 1500)
			for i := range a {
				if !bytes.Equal(a[i].Body, b[i].Body) || !a[i].At.Equal(b[i].At) || a[i].Kind != b[i].Kind || a[i].Path != b[i].Path {
					t.Fatalf("step %d differs between two models with seed 42:\n%s\n%s", i, a[i].Body, b[i].Body)
				}
			}
			c := steps(t, newModel(t, 43, tt.opts), 10)
			if bytes.Equal(a[0].Body, c[0].Body) {
				t.Errorf("seeds 42 and 43 gave the same first message")
			}
		})
	}
}

func TestRunIDChangesIDsNotPatients(t *testing.T) {
	a := steps(t, newModel(t, 7, ModelOptions{RunID: "a"}), 50)
	b := steps(t, newModel(t, 7, ModelOptions{RunID: "b"}), 50)
	for i := range a {
		if a[i].ID == b[i].ID {
			t.Fatalf("step %d: run ids a and b gave the same message id %s", i, a[i].ID)
		}
		if a[i].Kind != b[i].Kind || !a[i].At.Equal(b[i].At) {
			t.Fatalf("step %d: run id changed what happens: %s at %s; want %s at %s", i, b[i].Kind, b[i].At, a[i].Kind, a[i].At)
		}
	}
}

func TestStepsInTimeOrder(t *testing.T) {
	m := newModel(t, 1, ModelOptions{TimeScale: 60})
	last := time.Time{}
	for i, s := range steps(t, m, 5000) {
		if s.At.Before(last) {
			t.Fatalf("step %d at %s comes before the step before it (%s)", i, s.At, last)
		}
		last = s.At
	}
	// 60 simulated minutes per second: a day of simulation is 24 s of wire
	// time.
	if d := m.WireDuration(24 * time.Hour); d != 24*time.Second {
		t.Errorf("WireDuration(24h) = %s; want 24s", d)
	}
}

// expectHL7 is what a trigger's message must say.
var expectHL7 = map[string]struct{ structure string }{
	"A01": {"ADT_A01"}, "A02": {"ADT_A02"}, "A03": {"ADT_A03"}, "A06": {"ADT_A06"},
	"A11": {"ADT_A09"}, "A16": {"ADT_A16"}, "A21": {"ADT_A21"}, "A22": {"ADT_A21"},
}

func TestHL7MessagesParse(t *testing.T) {
	w, err := loadWorld()
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(t, 3, ModelOptions{})
	seen := map[string]int{}
	for _, s := range steps(t, m, 20000) {
		if s.Channel != HL7 {
			continue
		}
		seen[s.Kind]++
		msg, err := hl7v2.Parse(s.Body)
		if err != nil {
			t.Fatalf("%s: hl7v2.Parse: %v\n%s", s.Kind, err, s.Body)
		}
		code, trigger, structure := msg.MessageType()
		want, ok := expectHL7[s.Kind]
		if !ok || code != "ADT" || trigger != s.Kind || structure != want.structure {
			t.Fatalf("MSH-9 = %s^%s^%s; want ADT^%s^%s", code, trigger, structure, s.Kind, want.structure)
		}
		if !strings.HasSuffix(string(s.Body), "\r") || strings.Contains(string(s.Body), "\n") {
			t.Fatalf("%s: segments must end in CR only", s.Kind)
		}
		if got := msg.ControlID(); got != s.ID || len(got) > 20 {
			t.Errorf("MSH-10 = %q; want %q (at most 20 characters)", got, s.ID)
		}
		if msg.Version() != "2.5" || msg.Charset() != "UNICODE UTF-8" {
			t.Errorf("MSH-12/18 = %s/%s; want 2.5/UNICODE UTF-8", msg.Version(), msg.Charset())
		}
		sender := events.SOR(msg.Get("MSH-4"))
		if sender != s.Org {
			t.Errorf("MSH-4 = %s; want %s", sender, s.Org)
		}
		if _, ok := w.dir.Resolve(msg.Get("MSH-4")); ok {
			t.Errorf("MSH-4 %s is in the reference directory; want a fictitious SOR code", msg.Get("MSH-4"))
		}
		if got := msg.Get("PID-3.5"); got != "CPR" {
			t.Errorf("PID-3.5 = %q; want CPR", got)
		}
		cpr := msg.Get("PID-3.1")
		if _, err := events.NormalizeCPR(cpr); err != nil || mod11(cpr) {
			t.Errorf("PID-3.1 %s: want a CPR number with a valid date that fails modulus 11 (err %v)", cpr, err)
		}
		if msg.Get("PV1-19") != s.Episode {
			t.Errorf("PV1-19 = %q; want the episode %s", msg.Get("PV1-19"), s.Episode)
		}
		if kc := msg.Get("PID-11.9"); w.byMunicipality[events.Kommune(kc)] == nil {
			t.Errorf("PID-11.9 = %q; want a kommune code", kc)
		}
		if class := msg.Get("PV1-2"); class != "E" && class != "I" {
			t.Errorf("PV1-2 = %q; want E or I", class)
		}
		if _, err := hl7v2.ParseTime(msg.Get("EVN-6"), time.UTC); err != nil {
			t.Errorf("EVN-6: %v", err)
		}
		switch s.Kind {
		case "A03":
			disp := msg.Get("PV1-36")
			if disp == "" || msg.Get("PV1-45") == "" {
				t.Errorf("A03 without PV1-36 (%q) or PV1-45", disp)
			}
			if disp == "20" && msg.Get("PID-30") != "Y" {
				t.Errorf("A03 for a death: PID-30 = %q; want Y", msg.Get("PID-30"))
			}
			if disp != "01" && disp != "20" && w.byMunicipality[events.Kommune(msg.Get("PV1-37"))] == nil {
				t.Errorf("A03 to municipal care (PV1-36 %s): PV1-37 = %q; want a kommune code", disp, msg.Get("PV1-37"))
			}
		case "A02":
			if msg.Get("PV1-3.4") == msg.Get("PV1-6.4") || msg.Get("PV1-6.4") != msg.Get("MSH-4") {
				t.Errorf("A02: PV1-3.4 %s, PV1-6.4 %s, MSH-4 %s; want a move from MSH-4 to another hospital", msg.Get("PV1-3.4"), msg.Get("PV1-6.4"), msg.Get("MSH-4"))
			}
		case "A16":
			if _, err := hl7v2.ParseTime(msg.Get("PV2-9"), time.UTC); err != nil {
				t.Errorf("A16: PV2-9 %q: %v", msg.Get("PV2-9"), err)
			}
		}
	}
	for trigger := range expectHL7 {
		if seen[trigger] == 0 {
			t.Errorf("no %s in 20 000 steps", trigger)
		}
	}
}

// wantCodes are the MedCom messages the model sends by Step.Kind.
var wantCodes = []string{"STAA", "STIN", "STOR", "SLOR", "SLHJ", "MORS", "AN_STIN", "CareCommunication", "Acknowledgement"}

func TestMedComMessagesParse(t *testing.T) {
	w, err := loadWorld()
	if err != nil {
		t.Fatal(err)
	}
	bySOR := map[string]events.OrgID{}
	for _, h := range w.hospitals {
		bySOR[h.sor] = h.id
	}
	for _, mu := range w.municipalities {
		bySOR[mu.sor] = mu.id
	}
	m := newModel(t, 5, ModelOptions{Clusters: []string{"fyn", "aarhus", "vest", "lillebaelt"}})
	seen := map[string]int{}
	for _, s := range steps(t, m, 12000) {
		if s.Channel != MedCom {
			continue
		}
		seen[s.Kind]++
		msg, err := medcom.Parse(s.Body)
		if err != nil {
			t.Fatalf("%s: medcom.Parse: %v\n%s", s.Kind, err, s.Body)
		}
		if msg.HeaderID != s.ID {
			t.Errorf("%s: MessageHeader.id %s; want the step's id %s", s.Kind, msg.HeaderID, s.ID)
		}
		if got := bySOR[msg.Sender.SOR]; got != s.Org {
			t.Errorf("%s: sender SOR %s is %s; want the step's organisation %s", s.Kind, msg.Sender.SOR, got, s.Org)
		}
		switch s.Kind {
		case "CareCommunication":
			if msg.Kind != medcom.KindCareCommunication || msg.Communication == nil || msg.Encounter == nil {
				t.Fatalf("CareCommunication parsed as %s, communication %v, encounter %v", msg.Kind, msg.Communication != nil, msg.Encounter != nil)
			}
			if msg.Encounter.StayID.Value != s.Episode {
				t.Errorf("CareCommunication: episode %q; want %s", msg.Encounter.StayID.Value, s.Episode)
			}
		case "Acknowledgement":
			if msg.Kind != medcom.KindAcknowledgement || msg.Acknowledgement == nil {
				t.Fatalf("Acknowledgement parsed as %s", msg.Kind)
			}
		default:
			code, err := msg.NotificationCode()
			if err != nil {
				t.Fatalf("%s: NotificationCode: %v\n%s", s.Kind, err, s.Body)
			}
			if code != s.Kind {
				t.Errorf("NotificationCode = %s; want %s", code, s.Kind)
			}
			if msg.Encounter.StayID.Value != s.Episode {
				t.Errorf("%s: episode %q; want %s", s.Kind, msg.Encounter.StayID.Value, s.Episode)
			}
			if _, err := events.NormalizeCPR(msg.Patient.CPR); err != nil {
				t.Errorf("%s: CPR: %v", s.Kind, err)
			}
		}
	}
	for _, c := range wantCodes {
		if seen[c] == 0 {
			t.Errorf("no %s in 12 000 steps of Region Syddanmark and Midtjylland", c)
		}
	}
}

func TestMedComTranslates(t *testing.T) {
	// The organisations file makes every sender and receiver known, so the
	// MedCom translator names them by the directory's ids.
	dir, err := events.NewDirectory(bytes.NewReader(Organisations()))
	if err != nil {
		t.Fatalf("NewDirectory(Organisations()): %v", err)
	}
	tr := medcom.NewTranslator(dir)
	m := newModel(t, 9, ModelOptions{Clusters: []string{"aarhus"}})
	for _, s := range steps(t, m, 3000) {
		if s.Channel != MedCom {
			continue
		}
		got, err := tr.Translate(s.Body)
		if err != nil {
			t.Fatalf("%s: Translate: %v", s.Kind, err)
		}
		if got.Source.Org != s.Org {
			t.Errorf("%s: translated sender %s; want %s", s.Kind, got.Source.Org, s.Org)
		}
		if s.Kind == "STIN" && got.Cluster != "aarhus" {
			t.Errorf("STIN: cluster %q; want aarhus", got.Cluster)
		}
	}
}

func TestAPISteps(t *testing.T) {
	m := newModel(t, 11, ModelOptions{})
	seen := map[string]int{}
	for _, s := range steps(t, m, 20000) {
		if s.Channel != API {
			continue
		}
		if s.Method != "POST" || s.Path != EventsPath || s.ID == "" {
			t.Fatalf("API step %s %s id %q; want POST %s with an id", s.Method, s.Path, s.ID, EventsPath)
		}
		var body struct {
			Type       events.Type     `json:"type"`
			OccurredAt time.Time       `json:"occurred_at"`
			Data       json.RawMessage `json:"data"`
		}
		dec := json.NewDecoder(bytes.NewReader(s.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			t.Fatalf("API body: %v", err)
		}
		var pl events.Payload
		switch body.Type {
		case events.TypeReadyForDischarge:
			pl = &events.ReadyForDischarge{}
		case events.TypeDocumentSent:
			pl = &events.DocumentSent{}
		default:
			t.Fatalf("API step of type %s", body.Type)
		}
		if err := json.Unmarshal(body.Data, pl); err != nil {
			t.Fatal(err)
		}
		if err := pl.Validate(); err != nil {
			t.Errorf("%s: %v", body.Type, err)
		}
		if d, ok := pl.(*events.DocumentSent); ok {
			seen[string(d.Kind)]++
		} else {
			seen[string(body.Type)]++
		}
		if !body.OccurredAt.Equal(s.At) {
			t.Errorf("occurred_at %s; want the step's time %s", body.OccurredAt, s.At)
		}
	}
	for _, k := range []string{"ReadyForDischarge", "discharge-letter", "rehabilitation-plan"} {
		if seen[k] == 0 {
			t.Errorf("no %s among the API steps", k)
		}
	}
}

func TestOrganisations(t *testing.T) {
	dir, err := events.NewDirectory(bytes.NewReader(Organisations()))
	if err != nil {
		t.Fatalf("NewDirectory(Organisations()): %v", err)
	}
	if n := len(dir.Organisations(events.KindMunicipality)); n != 98 {
		t.Errorf("%d municipalities; want 98", n)
	}
	hospitals := dir.Organisations(events.KindHospital)
	if n := len(hospitals); n != 22 {
		t.Errorf("%d hospitals; want 22 (21 acute hospitals and Rigshospitalet)", n)
	}
	gps := dir.Organisations(events.KindGP)
	if n := len(gps); n < 1500 || n > 2000 {
		t.Errorf("%d practices; want about 1 700", n)
	}
	for _, h := range hospitals {
		if dir.ClusterOf(h.ID) == "" {
			t.Errorf("hospital %s is in no cluster", h.ID)
		}
		if o, ok := dir.Resolve(h.ID.Code()); !ok || o.ID != h.ID {
			t.Errorf("Resolve(%s) = %v, %v; want %s", h.ID.Code(), o.ID, ok, h.ID)
		}
		if o, ok := dir.ByEAN(h.EAN); !ok || o.ID != h.ID {
			t.Errorf("ByEAN(%s) = %v; want %s", h.EAN, o.ID, h.ID)
		}
	}
	aarhus, _ := dir.Lookup(events.Kommune("0751"))
	if aarhus.Population < 300000 || len(aarhus.Clusters) == 0 {
		t.Errorf("kommune:0751 lost its population or clusters: %+v", aarhus)
	}
	if o, ok := dir.Resolve("992007510000000"); !ok || o.ID != "kommune:0751" {
		t.Errorf("Resolve(Aarhus's SOR code) = %s, %v; want kommune:0751", o.ID, ok)
	}
	if !bytes.Equal(Organisations(), Organisations()) {
		t.Error("Organisations() differs between calls")
	}
}

func TestCPR(t *testing.T) {
	m := newModel(t, 1, ModelOptions{})
	for i := range 5000 {
		p := m.plan(uint64(i), m.start)
		c := p.patient.cpr
		if _, err := events.NormalizeCPR(c); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if mod11(c) {
			t.Fatalf("%s passes modulus 11; want only numbers that fail it", c)
		}
		if c[:4] == "0101" {
			t.Fatalf("%s: born 1 January", c)
		}
		if male := (c[9]-'0')%2 == 1; male != p.patient.male {
			t.Fatalf("%s: last digit does not give the sex", c)
		}
	}
}

func TestNewModelRejects(t *testing.T) {
	bad := DefaultMix()
	bad.AcuteAmbulant = 1.5
	tests := []struct {
		name string
		opts ModelOptions
	}{
		{"unknown cluster", ModelOptions{Clusters: []string{"atlantis"}}},
		{"negative time scale", ModelOptions{TimeScale: -1}},
		{"negative rate", ModelOptions{ArrivalsPerHour: -1}},
		{"bad mix", ModelOptions{Mix: &bad}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewModel(1, tt.opts); err == nil {
				t.Error("NewModel: no error")
			}
		})
	}
}

// within reports whether got is within tol (absolute) of want.
func within(got, want, tol float64) bool { return math.Abs(got-want) <= tol }
