package medcom

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxDepth bounds element nesting. MedCom messages nest about a dozen levels
// deep; the bound keeps hostile input from exhausting the stack.
const maxDepth = 64

const fhirNS = "http://hl7.org/fhir"

// node is one FHIR element, read from either JSON or XML, so that the rest of
// the package reads both formats with the same code. A primitive keeps its
// value (with has set) and, like any element, may have children such as
// extensions. A node that holds a resource (Bundle.entry.resource, or the
// root) has rtype set and the resource's elements as children.
type node struct {
	name  string
	value string
	has   bool
	rtype string
	kids  []*node
}

// child returns the first child called name, or nil. It is safe on a nil node.
func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

// all returns the children called name, in document order.
func (n *node) all(name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// str returns the value of the child called name, or "".
func (n *node) str(name string) string {
	if c := n.child(name); c != nil {
		return c.value
	}
	return ""
}

// at follows a chain of first children, e.g. at("details", "text").
func (n *node) at(names ...string) *node {
	for _, name := range names {
		n = n.child(name)
	}
	return n
}

var errDepth = fmt.Errorf("elements nested more than %d deep", maxDepth)

// jsonTree reads a FHIR JSON resource. It merges the "_name" siblings that
// carry a primitive's id and extensions into the primitive's node.
func jsonTree(raw []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // the opening brace, checked by the caller
		return nil, jsonError(err)
	}
	root := &node{}
	if err := readObject(dec, root, 1); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Reason: "invalid JSON: data after the top-level object"}
	}
	return root, nil
}

func jsonError(err error) error {
	if errors.Is(err, errDepth) {
		return &Error{Reason: "invalid JSON: " + err.Error()}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{Reason: fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Reason: "invalid JSON: unexpected end of input"}
	}
	return &Error{Reason: "invalid JSON: " + err.Error()}
}

// readObject reads the members of an object whose opening brace has been
// consumed, and the closing brace.
func readObject(dec *json.Decoder, n *node, depth int) error {
	if depth > maxDepth {
		return jsonError(errDepth)
	}
	// byName indexes the children created for each member name, so that a
	// "_name" array can be paired with the "name" array by position.
	var byName map[string][]*node
	slot := func(name string, i int) *node {
		if byName == nil {
			byName = make(map[string][]*node)
		}
		for len(byName[name]) <= i {
			k := &node{name: name}
			n.kids = append(n.kids, k)
			byName[name] = append(byName[name], k)
		}
		return byName[name][i]
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(err)
		}
		key, _ := tok.(string) // the decoder only yields strings as keys
		if key == "resourceType" {
			tok, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			s, ok := tok.(string)
			if !ok {
				return &Error{Reason: "invalid JSON: resourceType is not a string"}
			}
			n.rtype = s
			continue
		}
		name := strings.TrimPrefix(key, "_")
		tok, err = dec.Token()
		if err != nil {
			return jsonError(err)
		}
		if d, ok := tok.(json.Delim); ok && d == '[' {
			for i := 0; dec.More(); i++ {
				tok, err := dec.Token()
				if err != nil {
					return jsonError(err)
				}
				if err := readValue(dec, tok, func() *node { return slot(name, i) }, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil { // ']'
				return jsonError(err)
			}
			continue
		}
		if err := readValue(dec, tok, func() *node { return slot(name, 0) }, depth+1); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return jsonError(err)
	}
	return nil
}

// readValue stores one JSON value, whose first token is tok, in the node that
// slot returns. Null leaves the node out altogether.
func readValue(dec *json.Decoder, tok json.Token, slot func() *node, depth int) error {
	switch t := tok.(type) {
	case nil:
		return nil
	case json.Delim:
		if t != '{' {
			return &Error{Reason: "invalid JSON: an array inside an array"}
		}
		return readObject(dec, slot(), depth)
	case string:
		k := slot()
		k.value, k.has = t, true
	case json.Number:
		k := slot()
		k.value, k.has = t.String(), true
	case bool:
		k := slot()
		k.value, k.has = "false", true
		if t {
			k.value = "true"
		}
	}
	return nil
}

// xmlTree reads a FHIR XML resource. Elements outside the FHIR namespace (the
// XHTML of narratives) are skipped; the value and url attributes become the
// node's value and a "url" child, as in JSON.
func xmlTree(raw []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(raw))
	var root *node
	var stack []*node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, xmlError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root == nil {
				if t.Name.Space != fhirNS {
					return nil, fmt.Errorf("%w: the root element is %s in namespace %q", ErrNotMedCom, t.Name.Local, t.Name.Space)
				}
				root = &node{rtype: t.Name.Local}
				stack = append(stack, root)
				continue
			}
			if len(stack) == 0 {
				return nil, &Error{Reason: "invalid XML: more than one root element"}
			}
			if len(stack) >= maxDepth {
				return nil, &Error{Reason: "invalid XML: " + errDepth.Error()}
			}
			if t.Name.Space != fhirNS {
				if err := dec.Skip(); err != nil {
					return nil, xmlError(err)
				}
				continue
			}
			parent := stack[len(stack)-1]
			if holdsResource(parent) && parent.rtype == "" && len(parent.kids) == 0 && !parent.has {
				// <resource><Patient>…</Patient></resource>: the resource's
				// elements belong to the container node itself.
				parent.rtype = t.Name.Local
				stack = append(stack, parent)
				continue
			}
			k := &node{name: t.Name.Local}
			for _, a := range t.Attr {
				if a.Name.Space != "" {
					continue
				}
				switch a.Name.Local {
				case "value":
					k.value, k.has = a.Value, true
				case "url":
					k.kids = append(k.kids, &node{name: "url", value: a.Value, has: true})
				}
			}
			parent.kids = append(parent.kids, k)
			stack = append(stack, k)
		case xml.EndElement:
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrNotMedCom)
	}
	return root, nil
}

// holdsResource reports whether n is an element whose content is a whole
// resource rather than a data type.
func holdsResource(n *node) bool {
	switch n.name {
	case "resource", "contained", "outcome":
		return true
	}
	return false
}

func xmlError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Reason: fmt.Sprintf("invalid XML at line %d: %s", se.Line, se.Msg)}
	}
	return &Error{Reason: "invalid XML: " + err.Error()}
}
