package medcom

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
)

// ToXML renders a FHIR resource written in JSON, such as an
// acknowledgement Acknowledge built, as FHIR XML: an element per member
// in the order written (which must be FHIR's order, as Acknowledge's is),
// primitives in value attributes, Extension.url as an attribute, and
// contained resources under their type's element. It serves the
// resources Stafet writes; narratives (XHTML) and primitive extensions
// ("_name" members) are not supported.
func ToXML(fhirJSON []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(fhirJSON))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, &Error{Reason: "ToXML: not a JSON object"}
	}
	members, err := readMembers(dec, 1)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(xml.Header)
	if err := writeResource(&out, members, true); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// member is one JSON member: a primitive, an object (members) or an
// array of either.
type member struct {
	name    string
	value   *string
	object  []member
	array   []member // elements, each a value or an object, with name unset
	isArray bool
}

func readMembers(dec *json.Decoder, depth int) ([]member, error) {
	if depth > maxDepth {
		return nil, &Error{Reason: "ToXML: " + errDepth.Error()}
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		name, _ := tok.(string)
		m, err := readMember(dec, depth)
		if err != nil {
			return nil, err
		}
		m.name = name
		out = append(out, m)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, jsonError(err)
	}
	return out, nil
}

func readMember(dec *json.Decoder, depth int) (member, error) {
	tok, err := dec.Token()
	if err != nil {
		return member{}, jsonError(err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj, err := readMembers(dec, depth+1)
			return member{object: obj}, err
		case '[':
			m := member{isArray: true}
			for dec.More() {
				el, err := readMember(dec, depth+1)
				if err != nil {
					return m, err
				}
				m.array = append(m.array, el)
			}
			_, err := dec.Token() // ']'
			return m, err
		}
	case string:
		return member{value: &t}, nil
	case json.Number:
		s := t.String()
		return member{value: &s}, nil
	case bool:
		s := fmt.Sprint(t)
		return member{value: &s}, nil
	}
	return member{}, nil // null: left out
}

// writeResource writes a resource: its type's element with the members
// inside; root says whether to declare the FHIR namespace.
func writeResource(w io.Writer, members []member, root bool) error {
	rtype := ""
	for _, m := range members {
		if m.name == "resourceType" && m.value != nil {
			rtype = *m.value
		}
	}
	if rtype == "" {
		return &Error{Reason: "ToXML: a resource without resourceType"}
	}
	ns := ""
	if root {
		ns = ` xmlns="` + fhirNS + `"`
	}
	fmt.Fprintf(w, "<%s%s>", rtype, ns)
	if err := writeMembers(w, members); err != nil {
		return err
	}
	fmt.Fprintf(w, "</%s>", rtype)
	return nil
}

func writeMembers(w io.Writer, members []member) error {
	for _, m := range members {
		if m.name == "resourceType" {
			continue
		}
		if !m.isArray {
			if err := writeElement(w, m.name, m); err != nil {
				return err
			}
			continue
		}
		for _, el := range m.array {
			if err := writeElement(w, m.name, el); err != nil {
				return err
			}
		}
	}
	return nil
}

func writeElement(w io.Writer, name string, m member) error {
	if m.value != nil {
		fmt.Fprintf(w, `<%s value="%s"/>`, name, escapeAttr(*m.value))
		return nil
	}
	if m.object == nil {
		return nil
	}
	for _, k := range m.object {
		if k.name == "resourceType" {
			// A contained resource: <resource><Type>…</Type></resource>.
			fmt.Fprintf(w, "<%s>", name)
			if err := writeResource(w, m.object, false); err != nil {
				return err
			}
			fmt.Fprintf(w, "</%s>", name)
			return nil
		}
	}
	attrs, rest := "", m.object
	if name == "extension" || name == "modifierExtension" {
		rest = nil
		for _, k := range m.object {
			if k.name == "url" && k.value != nil {
				attrs = ` url="` + escapeAttr(*k.value) + `"`
				continue
			}
			rest = append(rest, k)
		}
	}
	fmt.Fprintf(w, "<%s%s>", name, attrs)
	if err := writeMembers(w, rest); err != nil {
		return err
	}
	fmt.Fprintf(w, "</%s>", name)
	return nil
}

// escapeAttr escapes a value for an attribute in double quotes
// (EscapeText escapes quotes and line ends too).
func escapeAttr(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
