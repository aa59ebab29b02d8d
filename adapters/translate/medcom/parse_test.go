package medcom

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/model and testdata/ack")

// TestParseKeyFields checks, for every message under testdata, the fields a
// mapping depends on against the values written in the file.
func TestParseKeyFields(t *testing.T) {
	tests := []struct {
		file, kind, bundle, header, cpr, senderSOR, receiverSOR, stay, code string
	}{
		{"acknowledgement/Ack_3.3.1.1_A-AA.xml", "acknowledgement-message", "44bb93f9-94d7-4ef5-87e0-56a983c3dcb8", "0746dd4e-faec-4525-b968-1aeab18d4465", "", "953741000016009", "265161000016000", "", ""},
		{"acknowledgement/Ack_3.3.2.1_A_AE.xml", "acknowledgement-message", "b540407f-9cea-4b45-85f4-c829f2a0dc7a", "074f4b22-43a3-477a-ad44-96830aaf4ef4", "", "953741000016009", "265161000016000", "", ""},
		{"acknowledgement/Ack_3.3.3.1_A_AR.xml", "acknowledgement-message", "4db08f7f-b2b4-45f4-b5af-317e31c5ea3d", "55ab759a-de78-4fe4-a601-e2ebfaa0485f", "", "953741000016009", "265161000016000", "", ""},
		{"acknowledgement/Ack_3.3.3.4_A_AR.xml", "acknowledgement-message", "5445e556-aa51-4eea-8871-887fb3afacda", "fb00b77f-c2d5-4f4e-ab3f-1f257b06cae7", "", "953741000016009", "265161000016000", "", ""},
		{"acknowledgement/Ack_3.4.1_A_AA.xml", "acknowledgement-message", "8fa4b46a-80a0-4cb2-b9cb-ab365e89eb03", "a735cd6a-b7c2-42c9-a8d7-053244e75b62", "", "953741000016009", "265161000016000", "", ""},
		{"acknowledgement/Ack_3.4.4_A_AE.json", "acknowledgement-message", "afbdcb9c-ab3b-4391-9f5f-98fac2cd89c4", "b033429c-3d01-4ea1-8d8b-9f45515d952c", "", "953741000016009", "265161000016000", "", ""},
		{"carecommunication/Bundle-R-A-new-b10f940e-2000-4ec8-9e0b-a3fb60fc5bb5.json", "care-communication-message", "R-A-new-b10f940e-2000-4ec8-9e0b-a3fb60fc5bb5", "7ed8da8d-fd74-4948-bc92-924842b30adf", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-B-reply-91b4b79a-520f-48cb-bb9a-9c3e27301968.xml", "care-communication-message", "R-B-reply-91b4b79a-520f-48cb-bb9a-9c3e27301968", "8daf0286-2477-4766-8ed2-cc76970e44b1", "2509479989", "265161000016000", "382871000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-A-0c8dddf2-c882-4b00-8870-5035279e7d01.xml", "care-communication-message", "R-Tek-A-0c8dddf2-c882-4b00-8870-5035279e7d01", "4e60a233-2980-4d0f-9d7b-e38853be77ab", "2509479989", "441211000016000", "330461000016004", "urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7", ""},
		{"carecommunication/Bundle-R-Tek-B-82875f08-4b9e-4a23-b81a-e23ec1251334.json", "care-communication-message", "R-Tek-B-82875f08-4b9e-4a23-b81a-e23ec1251334", "ejklfdsio8klakfd.hjfkdshfjk-hfjkdshfj89432n7f", "", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-CPR-1-06326cfc-5cfc-4bb1-bcd0-c49b8f8033e6.json", "care-communication-message", "R-Tek-CPR-1-06326cfc-5cfc-4bb1-bcd0-c49b8f8033e6", "ea9d2910-fe51-416f-bd92-3e8a23c22c59", "2509479989", "325371000016006", "325251000016005", "", ""},
		{"carecommunication/Bundle-R-Tek-CPR-2-e678c36a-0e2e-4831-a739-3cfc1225691d.xml", "care-communication-message", "R-Tek-CPR-2-e678c36a-0e2e-4831-a739-3cfc1225691d", "855bee22-ca86-4ac4-99f9-7981aeced68b", "2509479989", "325371000016006", "325251000016005", "", ""},
		{"carecommunication/Bundle-R-Tek-D-68f5c0f8-e33e-4302-89b0-cdea52801ec9.xml", "care-communication-message", "R-Tek-D-68f5c0f8-e33e-4302-89b0-cdea52801ec9", "221b6439-c282-4bf9-9ddc-8c2b8975e809", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-E-new-parallel-c1edf6f3-2554-4b72-b58b-0f030ee555ba.json", "care-communication-message", "R-Tek-E-new-parallel-c1edf6f3-2554-4b72-b58b-0f030ee555ba", "9db30fd5-f443-4c7f-8e1a-e8da7e758f0a", "2509479989", "265161000016000", "382871000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-G-20fcbedb-ced8-4949-9edf-a145e0bb9b09.json", "care-communication-message", "R-Tek-G-20fcbedb-ced8-4949-9edf-a145e0bb9b09", "f7f519bd-a104-43fb-ab8a-058eeaec68c7", "2509479989", "330461000016004", "1017421000016003", "", ""},
		{"carecommunication/Bundle-R-Tek-H-3e047a9d-c86a-4828-b686-6a80403df5eb.xml", "care-communication-message", "R-Tek-H-3e047a9d-c86a-4828-b686-6a80403df5eb", "2414b445-665f-41af-9ecd-b97c0b58c081", "", "265161000016000", "382871000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-J-dublicate-7283eae8-0427-4bb0-8486-06b4febd416c.xml", "care-communication-message", "R-Tek-J-dublicate-7283eae8-0427-4bb0-8486-06b4febd416c", "7784a5ff-0293-4a54-aaf1-974714807fb3", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-K-dublicate-5de12884-eae7-4fd3-ba4a-d8b56be4baff.json", "care-communication-message", "R-Tek-K-dublicate-5de12884-eae7-4fd3-ba4a-d8b56be4baff", "559e4be0-e1f2-4371-969d-29bbbd5ca9d1", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-M-dublicate-inv-260a3cc1-38eb-454a-a57b-9e32eabb54a3.json", "care-communication-message", "R-Tek-M-dublicate-inv-260a3cc1-38eb-454a-a57b-9e32eabb54a3", "6550cb10-06e1-44fa-a66d-72f3f60c7c55", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-R-Tek-N-dublicate-inv-260f76f2-d986-4ba1-8049-2369b1b164ce.xml", "care-communication-message", "R-Tek-N-dublicate-inv-260f76f2-d986-4ba1-8049-2369b1b164ce", "6550cb10-06e1-44fa-a66d-72f3f60c7c55", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2.json", "care-communication-message", "S-A-new-1932711d-49d0-4ad7-b1ee-61de711892d2", "0ebb6284-eb20-45eb-8113-6620d2d08608", "2509479989", "441211000016000", "330461000016004", "", ""},
		{"carecommunication/Bundle-S-B-new-720f68cf-21bf-4c40-a90c-a113e00e88a8.xml", "care-communication-message", "S-B-new-720f68cf-21bf-4c40-a90c-a113e00e88a8", "2dd1d41f-4fc5-40e7-8fd6-850bbc3cc22c", "2509479989", "330461000016004", "1017421000016003", "", ""},
		{"carecommunication/Bundle-S-D-new-1e9fdc8f-50f0-4dc3-9879-facdf331a2fe.xml", "care-communication-message", "S-D-new-1e9fdc8f-50f0-4dc3-9879-facdf331a2fe", "3480293d-1e3b-4132-ac19-ee3b9a0bd19b", "2509479989", "330461000016004", "1017421000016003", "", ""},
		{"carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json", "care-communication-message", "S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a", "3dbffafe-ce3c-45b0-bca7-2c008c478e79", "2509479989", "1382601000016006", "1017421000016003", "", ""},
		{"carecommunication/Bundle-S-Tek-B-new-episodeOfCare-98eb081e-a66f-41a2-b2f7-c455782563b0.json", "care-communication-message", "S-Tek-B-new-episodeOfCare-98eb081e-a66f-41a2-b2f7-c455782563b0", "7969a2b7-3ff4-4802-9246-8ed74102ed73", "2509479989", "328081000016004", "1017421000016003", "urn:uuid:39e3e169-9ece-4ba4-bd24-2e0fbeebc333", ""},
		{"carecommunication/Bundle-S-Tek-C-new-7be9d2ba-6026-4f19-850c-896de206f2c2.xml", "care-communication-message", "S-Tek-C-new-7be9d2ba-6026-4f19-850c-896de206f2c2", "f927c454-ef3e-4f60-9640-6727961d6a1f", "2509479989", "265161000016000", "382871000016004", "", ""},
		{"carecommunication/Bundle-S-Tek-CPR-2-7e1a1611-b69b-4538-bbc3-03e13b67b517.xml", "care-communication-message", "S-Tek-CPR-2-7e1a1611-b69b-4538-bbc3-03e13b67b517", "855bee22-ca86-4ac4-99f9-7981aeced68b", "2509479989", "325371000016006", "325251000016005", "", ""},
		{"carecommunication/Bundle-S-Tek-CPR-3-77ff05d0-9eca-4a59-b436-fe1b97673817.json", "care-communication-message", "S-Tek-CPR-3-77ff05d0-9eca-4a59-b436-fe1b97673817", "73893146-ff6f-4455-99c3-9126c74d16a2", "", "325371000016006", "325251000016005", "", ""},
		{"hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json", "hospital-notification-message", "a5e5b880-c087-4055-b9ec-99108695f81d", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "STIN"},
		{"hospitalnotification/bfab3e80-9584-11ec-b909-0242ac120002.json", "hospital-notification-message", "bfab3e80-9584-11ec-b909-0242ac120002", "cc47c1e2-78e6-4291-b071-f423a4f7fbfe", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "RE_STIN"},
		{"hospitalnotification/c83671a4-9584-11ec-b909-0242ac120002.json", "hospital-notification-message", "c83671a4-9584-11ec-b909-0242ac120002", "d8749b54-1aeb-4089-8941-8d876bdffc51", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "AN_STIN"},
		{"hospitalnotification/d3128d9b-cede-4c7f-8904-809eab322d7d.json", "hospital-notification-message", "d3128d9b-cede-4c7f-8904-809eab322d7d", "e563a2b2-bf92-4b13-bbd2-0a021a95bded", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "STOR"},
		{"hospitalnotification/e94de8ee-bd94-475e-b454-b8fbbef8a685.json", "hospital-notification-message", "e94de8ee-bd94-475e-b454-b8fbbef8a685", "f47254da-f170-46f0-b624-4778a9c92b1f", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "SLOR"},
		{"hospitalnotification/f4aa42a4-86db-4e68-9b38-9dda0dfd5774.json", "hospital-notification-message", "f4aa42a4-86db-4e68-9b38-9dda0dfd5774", "g1affa53-c157-4080-abb0-8e681524f969", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "SLHJ"},
		{"hospitalnotification/g099bbf3-3fca-4722-a248-bfe1aa956410.json", "hospital-notification-message", "g099bbf3-3fca-4722-a248-bfe1aa956410", "hefc6d95-6161-4493-99c9-f359488dedb8", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "MORS"},
		{"hospitalnotification/h1c8e4a8-6b45-4669-94ad-2a99ad96bf03.json", "hospital-notification-message", "h1c8e4a8-6b45-4669-94ad-2a99ad96bf03", "i50fc5fe-2d11-4ef3-acac-2e2e5c6c0029", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "STAA"},
		{"hospitalnotification/hn_dkmedcom_2020_example.json", "patient-link", "medComHospitalNotificationEncounterMessage", "267b18ce-3d37-4581-9baa-6fada338038b", "0506504005", "323841000016009", "323841000016009", "6f59a619-a8cf-487b-bd57-0ac3b352ebd5", ""},
		{"hospitalnotification/hn_touchstone_STIN_a5e5b880.json", "hospital-notification-message", "a5e5b880-c087-4055-b9ec-99108695f81d", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "STIN"},
		{"hospitalnotification/hn_touchstone_STIN_a5e5b880.xml", "hospital-notification-message", "a5e5b880-c087-4055-b9ec-99108695f81d", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "STIN"},
		{"hospitalnotification/kcab461b-f44e-4d97-a041-ef7e64800587.json", "hospital-notification-message", "kcab461b-f44e-4d97-a041-ef7e64800587", "m9bea09c-e662-4d59-b84f-9af570b57f42", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "SLHJ"},
		{"hospitalnotification/ld31e08a-b91f-49c3-841a-ce80e6380517.json", "hospital-notification-message", "ld31e08a-b91f-49c3-841a-ce80e6380517", "nabb68aa-c97b-4905-a60c-71ff3209fd51", "2509479989", "265161000016000", "953741000016009", "bd481c38-a921-11ed-afa1-0242ac120002", "MORS"},
		{"hospitalnotification/m908i967-9ie3-9023-b9ec-98108695f01d.json", "hospital-notification-message", "m908i967-9ie3-9023-b9ec-98108695f01d", "o9b4818e-12de-5cc4-c418-d30cbc7b5404", "2509479989", "265161000016000", "953741000016009", "urn:uuid:bd481c38-a921-11ed-afa1-0242ac120002", "STIN"},
		{"hospitalnotification/n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json", "hospital-notification-message", "n73ccf30-80b9-4bd2-bf50-1ac1914498f0", "1ca19ddf-31bc-4597-8739-968c38dd88f8", "2509479989", "265161000016000", "953741000016009", "urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7", "STIN"},
	}
	covered := make(map[string]bool)
	for _, tt := range tests {
		covered[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			m, err := Parse(readFile(t, tt.file))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var cpr, stay string
			if m.Patient != nil {
				cpr = m.Patient.CPR
			}
			if m.Encounter != nil {
				stay = m.Encounter.StayID.Value
			}
			got := []string{string(m.Kind), m.BundleID, m.HeaderID, cpr, m.Sender.SOR, m.Receiver.SOR, stay}
			want := []string{tt.kind, tt.bundle, tt.header, tt.cpr, tt.senderSOR, tt.receiverSOR, tt.stay}
			names := []string{"Kind", "BundleID", "HeaderID", "Patient.CPR", "Sender.SOR", "Receiver.SOR", "Encounter.StayID"}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("%s = %q; want %q", names[i], got[i], want[i])
				}
			}
			if m.Kind != KindHospitalNotification {
				return
			}
			code, err := m.NotificationCode()
			if err != nil || code != tt.code {
				t.Errorf("NotificationCode() = %q, %v; want %q", code, err, tt.code)
			}
		})
	}
	for _, f := range messageFiles(t) {
		// The examples added for issue 16 are pinned by their model and
		// translation goldens, and by TestParseInvalidExamples.
		if dir := filepath.Dir(f); !covered[f] && dir != "carecommunication-4.1.0" && dir != "hospitalnotification-testscripts" && dir != "vans" &&
			!strings.Contains(f, "Ack_3.3.3.3") && !strings.Contains(f, "Ack_3.3.3.6") && !strings.Contains(f, "Ack_3.4.2") && !newCareExamples[filepath.Base(f)] {
			t.Errorf("%s is not in the table", f)
		}
	}
}

// newCareExamples are the CareCommunication examples of MedCom's 5.0 zip
// files added for issue 16.
var newCareExamples = map[string]bool{
	"Bundle-R-C-forward-8352b67a-23b2-44c5-b43a-725270a90722.json": true, "Bundle-R-Tek-C-5d29cc7d-dcf7-4b50-81b1-a8d971973ff6.xml": true,
	"Bundle-R-Tek-CPR-3-4d9d90c5-5647-4b4a-8c61-770bc5c3e092.json": true, "Bundle-R-Tek-F-new-parallel-0e2864ad-a6a1-4e84-a9dc-aeacee63f981.xml": true,
	"Bundle-R-Tek-I-reply-order-7c5a0cc0-f0f8-4a2e-9de9-d9293598bf94.json": true, "Bundle-R-Tek-L-dublicate-fa97e431-332f-4605-ad37-c259dc2b8637.xml": true,
	"Bundle-R-Tek-O-invalid-3d1149cd-d3e3-421a-ae31-4860decb4272.json": true, "Bundle-S-C-new-aca3d03a-febd-4b88-ad53-ac1bc36da615.json": true,
	"Bundle-S-Tek-A-new-episodeOfCare-b43146a2-99ec-4b05-bb8f-5b44af4fe424.xml": true, "Bundle-S-Tek-CPR-1-17189afd-5946-4d9e-8dd7-3de5eaf1a5d4.json": true,
}

// TestParseInvalidExamples: MedCom's invalid examples are refused, naming
// the element, with an *Error a fatal-error acknowledgement can carry.
func TestParseInvalidExamples(t *testing.T) {
	for f, path := range invalidExamples {
		t.Run(f, func(t *testing.T) {
			_, err := Parse(readFile(t, f))
			var e *Error
			if !errors.As(err, &e) || e.Path != path {
				t.Fatalf("got %v; want an *Error at %s", err, path)
			}
		})
	}
}

// TestParseGolden compares the whole model of every message with
// testdata/model; go test -update rewrites those files.
func TestParseGolden(t *testing.T) {
	for _, f := range messageFiles(t) {
		t.Run(f, func(t *testing.T) {
			var got []byte
			m, err := Parse(readFile(t, f))
			switch {
			case err != nil && invalidExamples[f] == "":
				t.Fatalf("Parse: %v", err)
			case err != nil:
				got, err = json.MarshalIndent(map[string]any{"error": err}, "", "  ")
			default:
				got, err = json.MarshalIndent(m, "", "  ")
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := filepath.Join("testdata", "model", f+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("model of %s differs from %s (go test -update rewrites it):\n%s", f, golden, got)
			}
		})
	}
}

// TestParseDetails spells out the fields the golden files hold for a few
// messages, so that a reviewer need not read the golden files to trust them.
func TestParseDetails(t *testing.T) {
	t.Run("STOR leave and provenance history", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/d3128d9b-cede-4c7f-8904-809eab322d7d.json"))
		e := m.Encounter
		if e.Class != "IMP" || e.Status != "onleave" {
			t.Errorf("class, status = %s, %s; want IMP, onleave", e.Class, e.Status)
		}
		if e.Leave == nil || !e.Leave.Start.Equal(mustTime(t, "2022-12-13T14:00:10+02:00")) || !e.Leave.End.IsZero() {
			t.Errorf("Leave = %+v; want start 2022-12-13T14:00:10+02:00, no end", e.Leave)
		}
		if !e.Period.Start.Equal(mustTime(t, "2022-12-07T12:00:00+02:00")) {
			t.Errorf("Period.Start = %v", e.Period.Start)
		}
		if e.ServiceProvider == nil || e.ServiceProvider.SOR != "265161000016000" {
			t.Errorf("ServiceProvider = %+v; want SOR 265161000016000", e.ServiceProvider)
		}
		p := m.CurrentProvenance()
		if p == nil || p.Activity != "start-leave-inpatient" || p.Role != "revision" || p.Previous != "b9b4818e-02de-4cc4-b418-d20cbc7b5404" {
			t.Fatalf("CurrentProvenance() = %+v; want start-leave-inpatient revising b9b4818e-…", p)
		}
		if !p.Occurred.Equal(mustTime(t, "2022-12-13T14:00:12+02:00")) {
			t.Errorf("Occurred = %v", p.Occurred)
		}
		if len(m.Provenances) != 2 || m.Provenances[0].Activity != "admit-inpatient" || m.Provenances[0].Target != "b9b4818e-02de-4cc4-b418-d20cbc7b5404" {
			t.Errorf("Provenances = %+v; want the admission first", m.Provenances)
		}
	})
	t.Run("STIN report of admission", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"))
		e := m.Encounter
		if !e.ReportOfAdmission || e.ReportOfAdmissionRecipient == nil || e.ReportOfAdmissionRecipient.SOR != "265161000016000" {
			t.Errorf("ReportOfAdmission = %v, %+v; want true, SOR 265161000016000", e.ReportOfAdmission, e.ReportOfAdmissionRecipient)
		}
		if m.Sender.EAN != "5790000209354" || m.Receiver.EAN != "5790001348120" || m.Sender.Name != "Hjerteafdelingen på Herlev og Gentofte hospital" {
			t.Errorf("Sender, Receiver = %+v, %+v", m.Sender, m.Receiver)
		}
		if m.SourceEndpoint != "https://sor2.sum.dsdn.dk/#id=265161000016000" || m.Receiver.Endpoint != "https://sor2.sum.dsdn.dk/#id=953741000016009" {
			t.Errorf("endpoints = %q, %q", m.SourceEndpoint, m.Receiver.Endpoint)
		}
		if m.Patient.Family != "Elmer" || m.Patient.Deceased {
			t.Errorf("Patient = %+v", m.Patient)
		}
	})
	t.Run("STIN different service provider", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/m908i967-9ie3-9023-b9ec-98108695f01d.json"))
		if sp := m.Encounter.ServiceProvider; sp == nil || sp.SOR != "399841000016000" || sp.EAN != "" {
			t.Errorf("ServiceProvider = %+v; want SOR 399841000016000 only", sp)
		}
		if m.Encounter.ReportOfAdmission {
			t.Error("ReportOfAdmission = true; want false")
		}
	})
	t.Run("MORS deceased", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/g099bbf3-3fca-4722-a248-bfe1aa956410.json"))
		if !m.Patient.Deceased || m.Encounter.Status != "finished" || !m.Encounter.Period.End.Equal(mustTime(t, "2022-12-09T09:45:30+02:00")) {
			t.Errorf("Patient.Deceased, status, end = %v, %s, %v", m.Patient.Deceased, m.Encounter.Status, m.Encounter.Period.End)
		}
	})
	t.Run("two episodeOfCare identifiers", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/n73ccf30-80b9-4bd2-bf50-1ac1914498f0.json"))
		want := []Identifier{
			{System: "https://www.esundhed.dk/Registre/Landspatientregisteret", Value: "urn:uuid:fc60e762-b13b-5773-865e-67f3907bdcc7"},
			{System: "https://sor2.sum.dsdn.dk/#id=265161000016000", Value: "urn:uuid:bd481c38-a921-11ed-afa1-0242ac120002"},
		}
		if !reflect.DeepEqual(m.Encounter.EpisodeOfCare, want) {
			t.Errorf("EpisodeOfCare = %+v; want %+v", m.Encounter.EpisodeOfCare, want)
		}
	})
	t.Run("CareCommunication forward", func(t *testing.T) {
		m := mustParse(t, readFile(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json"))
		c := m.Communication
		if c.Category != "decease" || c.Topic != "Afgået ved døden" || c.Identifier != "urn:uuid:06a106f9-df1c-4064-9031-b6a4cb841e85" {
			t.Errorf("Communication = %+v", c)
		}
		if len(c.Payloads) != 2 {
			t.Fatalf("len(Payloads) = %d; want 2", len(c.Payloads))
		}
		p := c.Payloads[1]
		if !strings.HasPrefix(p.Text, "Tak for informationen.") || p.Author == nil || p.Author.Name != "Kim Jensen" || p.Author.Role != "sygeplejerske" {
			t.Errorf("Payloads[1] = %+v, author %+v", p, p.Author)
		}
		if p.Organization == nil || p.Organization.SOR != "1382601000016006" || !p.Time.Equal(mustTime(t, "2024-09-14T14:25:00+02:00")) {
			t.Errorf("Payloads[1] organization, time = %+v, %v", p.Organization, p.Time)
		}
		cur := m.CurrentProvenance()
		if cur == nil || cur.Activity != "forward-message" || cur.Role != "revision" || cur.Previous != "42fa2844-5020-45dd-bd5f-77137ba5ca1f" {
			t.Errorf("CurrentProvenance() = %+v; want forward-message revising 42fa2844-…", cur)
		}
		if !reflect.DeepEqual(cur.Sources, []string{"urn:uuid:cfc9886a-5f54-463b-9255-99bfaf778d8c"}) {
			t.Errorf("Sources = %v", cur.Sources)
		}
		if !m.Patient.Deceased {
			t.Error("Patient.Deceased = false; want true")
		}
	})
	t.Run("CareCommunication attachments and encounter", func(t *testing.T) {
		m := mustParse(t, readFile(t, "carecommunication/Bundle-R-Tek-A-0c8dddf2-c882-4b00-8870-5035279e7d01.xml"))
		c := m.Communication
		if c.Priority != "asap" || c.Topic != "Kritisk tilstand" || len(c.Payloads) != 8 {
			t.Fatalf("Communication priority, topic, payloads = %q, %q, %d", c.Priority, c.Topic, len(c.Payloads))
		}
		if a := c.Payloads[1].Attachment; a == nil || a.ContentType != "application/pdf" || a.Title != "PDF-application-testOfTitle" {
			t.Errorf("Payloads[1].Attachment = %+v", a)
		}
		if a := c.Payloads[7].Attachment; a == nil || a.URL != "https://medcom.dk/" {
			t.Errorf("Payloads[7].Attachment = %+v", a)
		}
		if !strings.Contains(c.Payloads[0].Text, `"prøve" på 'nogle' særlige <tegn>; til test & certificering`) {
			t.Errorf("Payloads[0].Text = %q", c.Payloads[0].Text)
		}
		if m.Encounter == nil || m.Encounter.ID != "ca0f5d0c-cb2a-4ad5-a08a-e7dbd2092b13" || len(m.Encounter.EpisodeOfCare) != 2 {
			t.Errorf("Encounter = %+v", m.Encounter)
		}
	})
	t.Run("replacement CPR only", func(t *testing.T) {
		m := mustParse(t, readFile(t, "carecommunication/Bundle-S-Tek-CPR-3-77ff05d0-9eca-4a59-b436-fe1b97673817.json"))
		want := []Identifier{
			{System: "urn:oid:1.2.208.176.1.6.1.1", Value: "0703921VJ5"},
			{System: "urn:oid:1.2.208.176.1.6.1.3", Value: "1206550VK9"},
		}
		if m.Patient.CPR != "" || !reflect.DeepEqual(m.Patient.Identifiers, want) {
			t.Errorf("CPR, Identifiers = %q, %+v; want none, %+v", m.Patient.CPR, m.Patient.Identifiers, want)
		}
	})
	t.Run("primitive with extension only", func(t *testing.T) {
		m := mustParse(t, readFile(t, "carecommunication/Bundle-R-Tek-B-82875f08-4b9e-4a23-b81a-e23ec1251334.json"))
		if m.Patient.Family != "" || !reflect.DeepEqual(m.Patient.Given, []string{"Peter"}) {
			t.Errorf("name = %q %q; want no family, given Peter", m.Patient.Family, m.Patient.Given)
		}
	})
	t.Run("acknowledgement fatal-error", func(t *testing.T) {
		m := mustParse(t, readFile(t, "acknowledgement/Ack_3.4.4_A_AE.json"))
		want := &Acknowledgement{ResponseTo: "53128d9b-cede-4c7f-8904-809eab322d7d", Code: "fatal-error",
			Issues: []Issue{{Severity: "error", Code: "structure", Detail: "MSG_VALUESET_VALUE_UNKNOWN"}}}
		if !reflect.DeepEqual(m.Acknowledgement, want) {
			t.Errorf("Acknowledgement = %+v; want %+v", m.Acknowledgement, want)
		}
	})
	t.Run("acknowledgement issue text", func(t *testing.T) {
		m := mustParse(t, readFile(t, "acknowledgement/Ack_3.3.3.4_A_AR.xml"))
		a := m.Acknowledgement
		if a.Code != "transient-error" || len(a.Issues) != 1 || a.Issues[0].Text != "No summary for the Patient instance." {
			t.Errorf("Acknowledgement = %+v", a)
		}
	})
	t.Run("old urn:uuid references, cc and urn:oid:1.3.88", func(t *testing.T) {
		m := mustParse(t, readFile(t, "hospitalnotification/hn_dkmedcom_2020_example.json"))
		if len(m.CC) != 1 || m.CC[0].ID != "c6abef7c-5638-44dc-9596-a5c8fca57682" || m.CC[0].EAN != "5790000121830" {
			t.Errorf("CC = %+v", m.CC)
		}
		if m.Encounter == nil || m.Encounter.Period.End != time.Date(2011, 5, 27, 0, 0, 0, 0, time.UTC) {
			t.Errorf("Encounter = %+v", m.Encounter)
		}
		if _, err := m.NotificationCode(); !isError(err, "Bundle.entry[0].resource.eventCoding") {
			t.Errorf("NotificationCode() error = %v; want one at eventCoding", err)
		}
	})
}

// TestParseFormatsAgree checks that JSON and XML renderings of one message
// give the same model: MedCom's own pairs, and every JSON file under testdata
// against its rendering as XML.
func TestParseFormatsAgree(t *testing.T) {
	pairs := []struct{ name, json, xml string }{
		{"touchstone STIN", "hospitalnotification/hn_touchstone_STIN_a5e5b880.json", "hospitalnotification/hn_touchstone_STIN_a5e5b880.xml"},
	}
	for _, f := range validFiles(t) {
		if strings.HasSuffix(f, ".json") {
			pairs = append(pairs, struct{ name, json, xml string }{f + " as XML", f, ""})
		}
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			raw := readFile(t, p.json)
			fromJSON := mustParse(t, raw)
			var x []byte
			if p.xml != "" {
				x = readFile(t, p.xml)
			} else {
				x = toXML(t, raw)
			}
			fromXML := mustParse(t, x)
			if !reflect.DeepEqual(fromJSON, fromXML) {
				j, _ := json.MarshalIndent(fromJSON, "", " ")
				k, _ := json.MarshalIndent(fromXML, "", " ")
				t.Errorf("models differ: %s", firstDiff(string(j), string(k)))
			}
		})
	}
	t.Run("duplicate sent as JSON and as XML", func(t *testing.T) {
		// MedCom's test pair for a resubmission: same MessageHeader, new
		// Bundle.id and timestamp.
		j := mustParse(t, readFile(t, "carecommunication/Bundle-R-Tek-M-dublicate-inv-260a3cc1-38eb-454a-a57b-9e32eabb54a3.json"))
		x := mustParse(t, readFile(t, "carecommunication/Bundle-R-Tek-N-dublicate-inv-260f76f2-d986-4ba1-8049-2369b1b164ce.xml"))
		if j.HeaderID != x.HeaderID || j.BundleID == x.BundleID {
			t.Errorf("HeaderID %q, %q; BundleID %q, %q: want the same header in two bundles", j.HeaderID, x.HeaderID, j.BundleID, x.BundleID)
		}
		if !reflect.DeepEqual(j.Patient, x.Patient) || !reflect.DeepEqual(j.Sender, x.Sender) || !reflect.DeepEqual(j.Receiver, x.Receiver) {
			t.Error("patient or parties differ between the JSON and the XML copy")
		}
	})
}

func TestParseErrors(t *testing.T) {
	const stin = "hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"
	tests := []struct {
		name    string
		input   []byte
		notFHIR bool   // want ErrNotMedCom
		path    string // else want an *Error at this path
		reason  string // and, if set, this reason
	}{
		{name: "empty", input: nil, notFHIR: true},
		{name: "whitespace", input: []byte(" \n\t"), notFHIR: true},
		{name: "binary", input: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), notFHIR: true},
		{name: "text", input: []byte("MSH|^~\\&|ADT"), notFHIR: true},
		{name: "JSON array", input: []byte(`[{"resourceType":"Bundle"}]`), notFHIR: true},
		{name: "JSON without resourceType", input: []byte(`{"type":"message"}`), notFHIR: true},
		{name: "JSON Patient", input: []byte(`{"resourceType":"Patient","id":"p"}`), notFHIR: true},
		{name: "XML Patient", input: []byte(`<Patient xmlns="http://hl7.org/fhir"><id value="p"/></Patient>`), notFHIR: true},
		{name: "XML Bundle outside the FHIR namespace", input: []byte(`<Bundle><type value="message"/></Bundle>`), notFHIR: true},
		{name: "XML without root", input: []byte(`<?xml version="1.0"?>`), notFHIR: true},
		{name: "invalid JSON", input: []byte(`{"resourceType":"Bundle","type":`), path: ""},
		{name: "invalid JSON syntax", input: []byte(`{"resourceType":"Bundle" "type":"message"}`), path: ""},
		{name: "JSON with trailing data", input: append(readFile(t, stin), `{}`...), path: "", reason: "invalid JSON: data after the top-level object"},
		{name: "JSON nested arrays", input: []byte(`{"resourceType":"Bundle","entry":[[1]]}`), path: ""},
		{name: "JSON resourceType not a string", input: []byte(`{"resourceType":7}`), path: ""},
		{name: "invalid XML", input: []byte(`<Bundle xmlns="http://hl7.org/fhir"><type value="message"></Bundle>`), path: ""},
		{name: "XML with two roots", input: []byte(`<Bundle xmlns="http://hl7.org/fhir"></Bundle><Bundle xmlns="http://hl7.org/fhir"></Bundle>`), path: ""},
		{name: "XML in another charset", input: []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><Bundle xmlns="http://hl7.org/fhir"/>`), path: ""},
		{name: "too large", input: bytes.Repeat([]byte(" "), MaxSize+1), path: ""},
		{name: "JSON nested too deep", input: []byte(`{"resourceType":"Bundle","a":` + strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 101)), path: ""},
		{name: "XML nested too deep", input: []byte(`<Bundle xmlns="http://hl7.org/fhir">` + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + `</Bundle>`), path: ""},
		{name: "document Bundle", path: "Bundle.type", reason: "want message, got document",
			input: mutate(t, stin, func(b map[string]any) { b["type"] = "document" })},
		{name: "no Bundle.type", path: "Bundle.type",
			input: mutate(t, stin, func(b map[string]any) { delete(b, "type") })},
		{name: "no Bundle.id", path: "Bundle.id", reason: "missing",
			input: mutate(t, stin, func(b map[string]any) { delete(b, "id") })},
		{name: "Bundle.id not a FHIR id", path: "Bundle.id",
			input: mutate(t, stin, func(b map[string]any) { b["id"] = "a/b" })},
		{name: "no timestamp", path: "Bundle.timestamp", reason: "missing",
			input: mutate(t, stin, func(b map[string]any) { delete(b, "timestamp") })},
		{name: "bad timestamp", path: "Bundle.timestamp",
			input: mutate(t, stin, func(b map[string]any) { b["timestamp"] = "7 December 2022" })},
		{name: "no entries", path: "Bundle.entry",
			input: mutate(t, stin, func(b map[string]any) { delete(b, "entry") })},
		{name: "MessageHeader not first", path: "Bundle.entry[0].resource", reason: "want MessageHeader, got Patient",
			input: mutate(t, stin, func(b map[string]any) {
				e := b["entry"].([]any)
				e[0], e[1] = e[1], e[0]
			})},
		{name: "no MessageHeader at all", path: "Bundle.entry[0].resource",
			input: mutate(t, stin, func(b map[string]any) { b["entry"] = b["entry"].([]any)[1:] })},
		{name: "entry without resource", path: "Bundle.entry[1].resource", reason: "missing",
			input: mutate(t, stin, func(b map[string]any) { delete(b["entry"].([]any)[1].(map[string]any), "resource") })},
		{name: "a reference to a repeated fullUrl", path: "Bundle.entry[2].resource.subject.reference",
			input: mutate(t, stin, func(b map[string]any) {
				e := b["entry"].([]any)
				e[1].(map[string]any)["fullUrl"] = e[0].(map[string]any)["fullUrl"]
			})},
		{name: "a reference to a repeated resource id", path: "Bundle.entry[2].resource.subject.reference",
			input: mutate(t, stin, func(b map[string]any) {
				e := b["entry"].([]any)
				dup := map[string]any{"fullUrl": "urn:uuid:another", "resource": e[1].(map[string]any)["resource"]}
				b["entry"] = append(e, dup)
			})},
		{name: "a Provenance without target", path: "Bundle.entry[5].resource.target",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Provenance"), "target") })},
		{name: "a Provenance without agent", path: "Bundle.entry[5].resource.agent.who",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Provenance"), "agent") })},
		{name: "no Provenance", path: "Bundle.entry",
			input: mutate(t, stin, func(b map[string]any) { b["entry"] = b["entry"].([]any)[:5] })},
		{name: "no source endpoint", path: "Bundle.entry[0].resource.source.endpoint",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0], "source") })},
		{name: "no eventCoding system", path: "Bundle.entry[0].resource.eventCoding.system",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0]["eventCoding"].(map[string]any), "system") })},
		{name: "no episode of care", path: "Bundle.entry[2].resource.episodeOfCare.identifier",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Encounter"), "episodeOfCare") })},
		{name: "no start of the stay", path: "Bundle.entry[2].resource.period.start",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Encounter"), "period") })},
		{name: "no service provider", path: "Bundle.entry[2].resource.serviceProvider",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Encounter"), "serviceProvider") })},
		{name: "no encounter status", path: "Bundle.entry[2].resource.status",
			input: mutate(t, stin, func(b map[string]any) { delete(resourceOf(t, b, "Encounter"), "status") })},
		{name: "no MessageHeader.id", path: "Bundle.entry[0].resource.id",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0], "id") })},
		{name: "no eventCoding", path: "Bundle.entry[0].resource.eventCoding",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0], "eventCoding") })},
		{name: "broken sender reference", path: "Bundle.entry[0].resource.sender.reference",
			reason: "Organization/nowhere is not in the Bundle",
			input: mutate(t, stin, func(b map[string]any) {
				resources(b)[0]["sender"] = map[string]any{"reference": "Organization/nowhere"}
			})},
		{name: "sender is not an Organization", path: "Bundle.entry[0].resource.sender.reference",
			input: mutate(t, stin, func(b map[string]any) {
				resources(b)[0]["sender"] = map[string]any{"reference": "Patient/t33cef33-3626-422b-955d-d506aaa65fe1"}
			})},
		{name: "no sender", path: "Bundle.entry[0].resource.sender", reason: "missing",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0], "sender") })},
		{name: "broken receiver reference", path: "Bundle.entry[0].resource.destination[0].receiver.reference",
			input: mutate(t, stin, func(b map[string]any) {
				d := resources(b)[0]["destination"].([]any)[0].(map[string]any)
				d["receiver"] = map[string]any{"reference": "https://example.org/Organization/x"}
			})},
		{name: "broken focus reference", path: "Bundle.entry[0].resource.focus[0].reference",
			input: mutate(t, stin, func(b map[string]any) {
				resources(b)[0]["focus"] = []any{map[string]any{"reference": "Encounter/gone"}}
			})},
		{name: "broken serviceProvider reference", path: "Bundle.entry[2].resource.serviceProvider.reference",
			input: mutate(t, stin, func(b map[string]any) {
				resourceOf(t, b, "Encounter")["serviceProvider"] = map[string]any{"reference": "Organization/gone"}
			})},
		{name: "broken subject reference", path: "Bundle.entry[2].resource.subject.reference",
			input: mutate(t, stin, func(b map[string]any) {
				resourceOf(t, b, "Encounter")["subject"] = map[string]any{"reference": "#contained"}
			})},
		{name: "two primary receivers", path: "Bundle.entry[0].resource.destination[1]",
			input: mutate(t, stin, func(b map[string]any) {
				h := resources(b)[0]
				d := h["destination"].([]any)
				h["destination"] = append(d, d[0])
			})},
		{name: "no destination", path: "Bundle.entry[0].resource.destination", reason: "no primary receiver",
			input: mutate(t, stin, func(b map[string]any) { delete(resources(b)[0], "destination") })},
		{name: "unknown destination use", path: "Bundle.entry[0].resource.destination[0].extension",
			input: mutate(t, stin, func(b map[string]any) {
				d := resources(b)[0]["destination"].([]any)[0].(map[string]any)
				d["extension"].([]any)[0].(map[string]any)["valueCoding"] = map[string]any{"code": "bcc"}
			})},
		{name: "HospitalNotification without Encounter", path: "Bundle.entry[0].resource.focus",
			input: mutate(t, stin, func(b map[string]any) {
				var keep []any
				for _, e := range b["entry"].([]any) {
					if e.(map[string]any)["resource"].(map[string]any)["resourceType"] != "Encounter" {
						keep = append(keep, e)
					}
				}
				b["entry"] = keep
				delete(resources(b)[0], "focus")
			})},
		{name: "bad deceasedBoolean", path: "Bundle.entry[1].resource.deceasedBoolean",
			input: mutate(t, stin, func(b map[string]any) { resourceOf(t, b, "Patient")["deceasedBoolean"] = "yes" })},
		{name: "bad period", path: "Bundle.entry[2].resource.period.start",
			input: mutate(t, stin, func(b map[string]any) {
				resourceOf(t, b, "Encounter")["period"] = map[string]any{"start": "2022-13-45"}
			})},
		{name: "bad occurredDateTime", path: "Bundle.entry[5].resource.occurredDateTime",
			input: mutate(t, stin, func(b map[string]any) { resourceOf(t, b, "Provenance")["occurredDateTime"] = "2022-12-07T12:00" })},
		{name: "bad reportOfAdmission flag", path: "Bundle.entry[0].resource.extension[0].valueBoolean",
			input: mutate(t, stin, func(b map[string]any) {
				resources(b)[0]["extension"].([]any)[0].(map[string]any)["valueBoolean"] = "maybe"
			})},
		{name: "acknowledgement without response", path: "Bundle.entry[0].resource.response",
			input: mutate(t, "acknowledgement/Ack_3.4.4_A_AE.json", func(b map[string]any) { delete(resources(b)[0], "response") })},
		{name: "acknowledgement with unknown code", path: "Bundle.entry[0].resource.response.code",
			input: mutate(t, "acknowledgement/Ack_3.4.4_A_AE.json", func(b map[string]any) {
				resources(b)[0]["response"].(map[string]any)["code"] = "maybe"
			})},
		{name: "CareCommunication without Communication", path: "Bundle.entry[0].resource.focus",
			input: mutate(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json", func(b map[string]any) {
				var keep []any
				for _, e := range b["entry"].([]any) {
					if e.(map[string]any)["resource"].(map[string]any)["resourceType"] != "Communication" {
						keep = append(keep, e)
					}
				}
				b["entry"] = keep
				delete(resources(b)[0], "focus")
			})},
		{name: "broken payload author", path: "Bundle.entry[2].resource.payload[0].extension[2].valueReference.reference",
			input: mutate(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json", func(b map[string]any) {
				p := resourceOf(t, b, "Communication")["payload"].([]any)[0].(map[string]any)
				p["extension"].([]any)[2].(map[string]any)["valueReference"] = map[string]any{"reference": "PractitionerRole/gone"}
			})},
		{name: "payload author is an Organization", path: "Bundle.entry[2].resource.payload[0].extension[2].valueReference.reference",
			input: mutate(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json", func(b map[string]any) {
				p := resourceOf(t, b, "Communication")["payload"].([]any)[0].(map[string]any)
				p["extension"].([]any)[2].(map[string]any)["valueReference"] = map[string]any{"reference": "Organization/7260b118-d744-4396-bbf2-80245933b1dd"}
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse = %+v, nil; want an error", m)
			}
			if m != nil {
				t.Errorf("Parse returned a message with error %v", err)
			}
			if tt.notFHIR {
				if !errors.Is(err, ErrNotMedCom) {
					t.Errorf("Parse error = %v; want ErrNotMedCom", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error = %T %v; want *Error", err, err)
			}
			if e.Path != tt.path {
				t.Errorf("Path = %q; want %q (error %v)", e.Path, tt.path, err)
			}
			if tt.reason != "" && e.Reason != tt.reason {
				t.Errorf("Reason = %q; want %q", e.Reason, tt.reason)
			}
		})
	}
}

func TestParseXMLErrors(t *testing.T) {
	// The same reference checks apply to XML.
	x := readFile(t, "hospitalnotification/hn_touchstone_STIN_a5e5b880.xml")
	broken := bytes.Replace(x, []byte(`<reference value="Organization/o7056980-a8b2-42aa-8a0e-c1fc85d1f40d"/>
        </sender>`), []byte(`<reference value="Organization/elsewhere"/>
        </sender>`), 1)
	if bytes.Equal(x, broken) {
		t.Fatal("the sender reference was not found in the XML")
	}
	_, err := Parse(broken)
	if !isError(err, "Bundle.entry[0].resource.sender.reference") {
		t.Errorf("Parse error = %v; want one at the sender reference", err)
	}
	doc := bytes.Replace(x, []byte(`<type value="message"/>`), []byte(`<type value="document"/>`), 1)
	_, err = Parse(doc)
	if err == nil || err.Error() != "medcom: Bundle.type: want message, got document" {
		t.Errorf("Parse error = %v; want medcom: Bundle.type: want message, got document", err)
	}
}

func TestParseReferenceForms(t *testing.T) {
	// Relative references resolve against the fullUrl base, by Type/id when
	// fullUrls are relative or absent, and absolute ones by fullUrl.
	const stin = "hospitalnotification/a5e5b880-c087-4055-b9ec-99108695f81d.json"
	tests := []struct {
		name   string
		change func(b map[string]any)
	}{
		{"absolute reference", func(b map[string]any) {
			resources(b)[0]["sender"] = map[string]any{"reference": "https://medcomfhir.dk/ig/hospitalnotification/Organization/o7056980-a8b2-42aa-8a0e-c1fc85d1f40d"}
		}},
		{"versioned reference", func(b map[string]any) {
			resources(b)[0]["sender"] = map[string]any{"reference": "Organization/o7056980-a8b2-42aa-8a0e-c1fc85d1f40d/_history/1"}
		}},
		{"urn:uuid fullUrls", func(b map[string]any) {
			for _, e := range b["entry"].([]any) {
				e := e.(map[string]any)
				r := e["resource"].(map[string]any)
				e["fullUrl"] = "urn:uuid:" + r["id"].(string)
			}
			resources(b)[0]["sender"] = map[string]any{"reference": "urn:uuid:o7056980-a8b2-42aa-8a0e-c1fc85d1f40d"}
		}},
		{"no fullUrls", func(b map[string]any) {
			for _, e := range b["entry"].([]any) {
				delete(e.(map[string]any), "fullUrl")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, mutate(t, stin, tt.change))
			if m.Sender.SOR != "265161000016000" {
				t.Errorf("Sender.SOR = %q; want 265161000016000", m.Sender.SOR)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Path: "Bundle.type", Reason: "want message, got document"}, "medcom: Bundle.type: want message, got document"},
		{&Error{Reason: "invalid JSON: unexpected end of input"}, "medcom: invalid JSON: unexpected end of input"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestLogValueHidesPatient(t *testing.T) {
	m := mustParse(t, readFile(t, "carecommunication/Bundle-S-E-forward-77c771ca-05d6-4efb-9a74-2fc513787f3a.json"))
	for name, s := range map[string]string{
		"Message":       m.LogValue().String(),
		"Patient":       m.Patient.LogValue().String(),
		"Communication": m.Communication.LogValue().String(),
		"Payload":       m.Communication.Payloads[0].LogValue().String(),
	} {
		for _, secret := range []string{"2509479989", "Elmer", "Afgået", "Bruno"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s.LogValue() = %s; shows %q", name, s, secret)
			}
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, f := range []string{
		"hospitalnotification/hn_touchstone_STIN_a5e5b880.json",
		"hospitalnotification/hn_touchstone_STIN_a5e5b880.xml",
		"carecommunication/Bundle-R-Tek-A-0c8dddf2-c882-4b00-8870-5035279e7d01.xml",
	} {
		raw := readFile(b, f)
		b.Run(filepath.Base(f), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustParse(t testing.TB, raw []byte) *Message {
	t.Helper()
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// firstDiff shows the first line where two texts differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: %.200q vs %.200q", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines vs %d lines", len(al), len(bl))
}

// isError reports whether err is an *Error at path.
func isError(err error, path string) bool {
	var e *Error
	return errors.As(err, &e) && e.Path == path
}

func TestParseProvenanceReferences(t *testing.T) {
	// Earlier MessageHeaders are not in the Bundle; their ids come from the
	// reference itself.
	tests := []struct {
		name                   string
		target, what, role     string
		wantTarget, wantBefore string
	}{
		{"relative", "MessageHeader/b9b4818e-02de-4cc4-b418-d20cbc7b5404", "MessageHeader/earlier", "revision", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "earlier"},
		{"urn:uuid", "urn:uuid:b9b4818e-02de-4cc4-b418-d20cbc7b5404", "urn:uuid:earlier", "removal", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "earlier"},
		{"absolute and versioned", "https://medcomfhir.dk/ig/hospitalnotification/MessageHeader/b9b4818e-02de-4cc4-b418-d20cbc7b5404", "https://example.org/fhir/MessageHeader/earlier/_history/2", "revision", "b9b4818e-02de-4cc4-b418-d20cbc7b5404", "earlier"},
		{"not a MessageHeader", "Organization/o7056980-a8b2-42aa-8a0e-c1fc85d1f40d", "Patient/earlier", "revision", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, mutate(t, goldenSTIN, func(b map[string]any) {
				p := resourceOf(t, b, "Provenance")
				p["target"] = []any{map[string]any{"reference": tt.target}}
				p["entity"] = []any{map[string]any{"role": tt.role, "what": map[string]any{"reference": tt.what}}}
			}))
			p := m.Provenances[0]
			if p.Target != tt.wantTarget || p.Previous != tt.wantBefore || p.Role != tt.role {
				t.Errorf("Target, Role, Previous = %q, %q, %q; want %q, %q, %q", p.Target, p.Role, p.Previous, tt.wantTarget, tt.role, tt.wantBefore)
			}
		})
	}
}

func TestParseDates(t *testing.T) {
	tests := []struct {
		value string
		want  time.Time
	}{
		{"2022", time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2022-12", time.Date(2022, 12, 1, 0, 0, 0, 0, time.UTC)},
		{"2022-12-07", time.Date(2022, 12, 7, 0, 0, 0, 0, time.UTC)},
		{"2022-12-07T12:00:00Z", time.Date(2022, 12, 7, 12, 0, 0, 0, time.UTC)},
		{"2022-12-07T12:00:00.250+02:00", time.Date(2022, 12, 7, 10, 0, 0, 250e6, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			m := mustParse(t, mutate(t, goldenMORS, func(b map[string]any) {
				p := resourceOf(t, b, "Patient")
				delete(p, "deceasedBoolean")
				p["deceasedDateTime"] = tt.value
				resourceOf(t, b, "Encounter")["period"] = map[string]any{"start": tt.value}
			}))
			if !m.Patient.Deceased || !m.Patient.DeceasedAt.Equal(tt.want) {
				t.Errorf("Deceased, DeceasedAt = %v, %v; want true, %v", m.Patient.Deceased, m.Patient.DeceasedAt, tt.want)
			}
			if !m.Encounter.Period.Start.Equal(tt.want) {
				t.Errorf("Period.Start = %v; want %v", m.Encounter.Period.Start, tt.want)
			}
			if code, err := m.NotificationCode(); err != nil || code != "MORS" {
				t.Errorf("NotificationCode() = %q, %v; want MORS", code, err)
			}
		})
	}
}
