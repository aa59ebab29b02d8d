package medcom

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readFile reads a file under testdata.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// invalidExamples are the MedCom examples that break a profile, and the
// element Parse names for it. MedCom publishes them as invalid (the
// CareCommunication test protocol's "negative doublet" and "invalid
// message" steps, the HospitalNotification TEK_FCC "containing errors").
var invalidExamples = map[string]string{
	"carecommunication-4.1.0/Bundle-R-Tek-M-dublicate-inv-260a3cc1-38eb-454a-a57b-9e32eabb54a3.xml":  "Bundle.entry[2].resource.payload[0].extension[1].valueIdentifier.value",
	"carecommunication-4.1.0/Bundle-R-Tek-N-dublicate-inv-260f76f2-d986-4ba1-8049-2369b1b164ce.json": "Bundle.entry[2].resource.payload[0].extension[1].valueIdentifier.value",
	"carecommunication-4.1.0/Bundle-R-Tek-O-invalid-3d1149cd-d3e3-421a-ae31-4860decb4272.xml":        "Bundle.entry[2].resource.payload[0].content[x]",
	"hospitalnotification-testscripts/HospitalNotification_Ex_TEK_FCC.json":                          "Bundle.entry[0].resource.eventCoding",
}

// validFiles are the message files MedCom publishes as valid messages.
func validFiles(t testing.TB) []string {
	var out []string
	for _, f := range messageFiles(t) {
		if _, bad := invalidExamples[f]; !bad {
			out = append(out, f)
		}
	}
	return out
}

// messageFiles lists the message files under testdata, relative to it.
func messageFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"acknowledgement", "carecommunication", "carecommunication-4.1.0", "hospitalnotification", "hospitalnotification-testscripts", "vans"} {
		names, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if ext := filepath.Ext(n); ext == ".json" || ext == ".xml" {
				files = append(files, strings.TrimPrefix(filepath.ToSlash(n), "testdata/"))
			}
		}
	}
	slices.Sort(files)
	return files
}

// decodeJSON decodes FHIR JSON keeping numbers as written.
func decodeJSON(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v map[string]any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func encodeJSON(t testing.TB, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// toXML writes a FHIR JSON resource as FHIR XML, leaving out narratives (Parse
// skips their XHTML): an
// independent second rendering of the same message for the format tests.
func toXML(t testing.TB, raw []byte) []byte {
	t.Helper()
	res := decodeJSON(t, raw)
	var buf bytes.Buffer
	typ, _ := res["resourceType"].(string)
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	buf.WriteString("<" + typ + ` xmlns="http://hl7.org/fhir">`)
	writeXMLMembers(t, &buf, res, false)
	buf.WriteString("</" + typ + ">")
	return buf.Bytes()
}

// writeXMLMembers writes the members of obj as child elements; the url of an
// extension is an attribute instead.
func writeXMLMembers(t testing.TB, buf *bytes.Buffer, obj map[string]any, extension bool) {
	keys := make([]string, 0, len(obj))
	for k, v := range obj {
		_, narrative := v.(map[string]any)
		narrative = narrative && k == "text"
		if k != "resourceType" && !narrative && !(extension && k == "url") && !strings.HasPrefix(k, "_") {
			keys = append(keys, k)
		}
	}
	for k := range obj { // primitives known only by their "_name" extensions
		if name, ok := strings.CutPrefix(k, "_"); ok {
			if _, dup := obj[name]; !dup {
				keys = append(keys, name)
			}
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		vals, isList := obj[k].([]any)
		exts, _ := obj["_"+k].([]any)
		if !isList {
			vals = []any{obj[k]}
			exts = []any{obj["_"+k]}
		}
		for i, v := range vals {
			var ext any
			if i < len(exts) {
				ext = exts[i]
			}
			writeXMLElement(t, buf, k, v, ext)
		}
	}
}

func writeXMLElement(t testing.TB, buf *bytes.Buffer, name string, v, ext any) {
	buf.WriteString("<" + name)
	extension := name == "extension" || name == "modifierExtension"
	if m, ok := v.(map[string]any); ok {
		if u, ok := m["url"].(string); ok && extension {
			buf.WriteString(` url="`)
			escapeXML(t, buf, u)
			buf.WriteString(`"`)
		}
		buf.WriteString(">")
		if typ, ok := m["resourceType"].(string); ok {
			buf.WriteString("<" + typ + ">")
			writeXMLMembers(t, buf, m, false)
			buf.WriteString("</" + typ + ">")
		} else {
			writeXMLMembers(t, buf, m, extension)
		}
		buf.WriteString("</" + name + ">")
		return
	}
	switch p := v.(type) {
	case nil:
	case string:
		buf.WriteString(` value="`)
		escapeXML(t, buf, p)
		buf.WriteString(`"`)
	case json.Number:
		buf.WriteString(` value="` + p.String() + `"`)
	case bool:
		if p {
			buf.WriteString(` value="true"`)
		} else {
			buf.WriteString(` value="false"`)
		}
	default:
		t.Fatalf("toXML: unexpected %T in %s", v, name)
	}
	buf.WriteString(">")
	if m, ok := ext.(map[string]any); ok {
		writeXMLMembers(t, buf, m, false)
	}
	buf.WriteString("</" + name + ">")
}

func escapeXML(t testing.TB, buf *bytes.Buffer, s string) {
	if err := xml.EscapeText(buf, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// resources returns the entries' resources of a decoded Bundle.
func resources(b map[string]any) []map[string]any {
	var out []map[string]any
	entries, _ := b["entry"].([]any)
	for _, e := range entries {
		if r, ok := e.(map[string]any)["resource"].(map[string]any); ok {
			out = append(out, r)
		}
	}
	return out
}

// resourceOf returns the first resource of type typ.
func resourceOf(t testing.TB, b map[string]any, typ string) map[string]any {
	t.Helper()
	for _, r := range resources(b) {
		if r["resourceType"] == typ {
			return r
		}
	}
	t.Fatalf("no %s in the bundle", typ)
	return nil
}

// currentProvenance returns the Provenance whose target is the bundle's
// MessageHeader.
func currentProvenance(t testing.TB, b map[string]any) map[string]any {
	t.Helper()
	header := resources(b)[0]["id"].(string)
	for _, r := range resources(b) {
		if r["resourceType"] != "Provenance" {
			continue
		}
		target := r["target"].([]any)[0].(map[string]any)["reference"].(string)
		if strings.HasSuffix(target, "/"+header) {
			return r
		}
	}
	t.Fatal("no current Provenance")
	return nil
}

// mutate decodes a testdata JSON file, lets change edit it and encodes it.
func mutate(t testing.TB, name string, change func(b map[string]any)) []byte {
	t.Helper()
	b := decodeJSON(t, readFile(t, name))
	change(b)
	return encodeJSON(t, b)
}
