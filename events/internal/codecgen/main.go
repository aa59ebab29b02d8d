// Command codecgen writes events/codec_gen.go from the event catalogue:
// for every `TypeX Type = "X"` constant of package events and its payload
// struct X, the Type method, the catalogue list (Types), NewPayload, the
// encoder's case (the bytes encoding/json writes for the struct's json
// tags) and the canonical reader's case. Run it with `go generate
// ./events` after adding an event type or a field (docs/events.md, "Adding
// an event type or a field").
//
// Field kinds it knows: string and named string types, bool, uint64,
// time.Time, uuid.UUID, []byte and a pointer to a struct of the package
// made of those. A string is read as text (mostly unique to its message) unless
// its type is a named string type or its tag says `codec:"repeats"`; a
// named string type that does not repeat says `codec:"unique"`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

func main() {
	dir := flag.String("dir", ".", "directory of package events")
	out := flag.String("out", "codec_gen.go", "file to write, relative to -dir")
	flag.Parse()
	pkg, err := load(*dir, *out)
	if err != nil {
		log.Fatalf("codecgen: %v", err)
	}
	src, err := pkg.generate()
	if err != nil {
		log.Fatalf("codecgen: %v", err)
	}
	if err := os.WriteFile(filepath.Join(*dir, *out), src, 0o644); err != nil {
		log.Fatalf("codecgen: %v", err)
	}
}

// kind is how a field is written and read.
type kind int

const (
	kString kind = iota
	kBool
	kUint // uint64: a log sequence
	kTime
	kUUID
	kBytes
	kStruct // pointer to a struct of the package
)

type field struct {
	name    string // Go name
	key     string // JSON key
	kind    kind
	named   bool   // a named string type: needs a conversion
	repeats bool   // read through the Decoder's shared strings
	omit    bool   // omitempty (strings, bools, bytes, pointers) or omitzero (times, uuids)
	elem    string // the struct's name, for kStruct
}

type payload struct {
	constName string // TypePathwayOpened
	typeName  string // the stored name, "PathwayOpened"
	goName    string // the struct, PathwayOpened
}

type pkg struct {
	catalogue []payload
	structs   map[string]*ast.StructType
	strings   map[string]bool // named string types
	fields    map[string][]field
}

// load reads the non-test files of the package in dir, except out.
func load(dir, out string) (*pkg, error) {
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	p := &pkg{structs: map[string]*ast.StructType{}, strings: map[string]bool{}, fields: map[string][]field{}}
	sort.Strings(matches)
	for _, name := range matches {
		if strings.HasSuffix(name, "_test.go") || filepath.Base(name) == out {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			return nil, err
		}
		p.collect(f)
	}
	if len(p.catalogue) == 0 {
		return nil, fmt.Errorf("no constants of type Type in %s", dir)
	}
	for _, c := range p.catalogue {
		if _, err := p.structFields(c.goName); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *pkg) collect(f *ast.File) {
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range g.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				switch t := s.Type.(type) {
				case *ast.StructType:
					p.structs[s.Name.Name] = t
				case *ast.Ident:
					if t.Name == "string" {
						p.strings[s.Name.Name] = true
					}
				}
			case *ast.ValueSpec:
				if g.Tok != token.CONST || !isIdent(s.Type, "Type") {
					continue
				}
				for i, n := range s.Names {
					lit, ok := s.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, _ := strconv.Unquote(lit.Value)
					p.catalogue = append(p.catalogue, payload{n.Name, v, strings.TrimPrefix(n.Name, "Type")})
				}
			}
		}
	}
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(s.X, pkg) && s.Sel.Name == name
}

// structFields returns the stored fields of the struct name, in order.
func (p *pkg) structFields(name string) ([]field, error) {
	if fs, ok := p.fields[name]; ok {
		return fs, nil
	}
	st, ok := p.structs[name]
	if !ok {
		return nil, fmt.Errorf("no struct %s for the catalogue", name)
	}
	var fs []field
	for _, f := range st.Fields.List {
		if len(f.Names) != 1 || f.Tag == nil {
			return nil, fmt.Errorf("%s: every field needs a name of its own and a json tag", name)
		}
		tag, _ := strconv.Unquote(f.Tag.Value)
		fd, err := p.field(name, f.Names[0].Name, f.Type, reflect.StructTag(tag))
		if err != nil {
			return nil, err
		}
		fs = append(fs, fd)
	}
	if len(fs) > 32 {
		// The canonical reader keeps the members it has seen in a uint32.
		return nil, fmt.Errorf("%s: more than 32 fields", name)
	}
	p.fields[name] = fs
	return fs, nil
}

func (p *pkg) field(owner, name string, typ ast.Expr, tag reflect.StructTag) (field, error) {
	js, ok := tag.Lookup("json")
	parts := strings.Split(js, ",")
	if !ok || parts[0] == "" || parts[0] == "-" {
		return field{}, fmt.Errorf("%s.%s: want a json tag with a key", owner, name)
	}
	f := field{name: name, key: parts[0]}
	opts := map[string]bool{}
	for _, o := range parts[1:] {
		opts[o] = true
	}
	switch {
	case isIdent(typ, "string"):
		f.kind = kString
	case isIdent(typ, "bool"):
		f.kind = kBool
	case isIdent(typ, "uint64"):
		f.kind = kUint
	case isSelector(typ, "time", "Time"):
		f.kind = kTime
	case isSelector(typ, "uuid", "UUID"):
		f.kind = kUUID
	default:
		if id, ok := typ.(*ast.Ident); ok && p.strings[id.Name] {
			f.kind, f.named, f.repeats = kString, true, true
			break
		}
		if a, ok := typ.(*ast.ArrayType); ok && a.Len == nil && isIdent(a.Elt, "byte") {
			f.kind = kBytes
			break
		}
		if s, ok := typ.(*ast.StarExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && p.structs[id.Name] != nil {
				if _, err := p.structFields(id.Name); err != nil {
					return field{}, err
				}
				f.kind, f.elem = kStruct, id.Name
				break
			}
		}
		return field{}, fmt.Errorf("%s.%s: codecgen does not know the field's type; extend events/internal/codecgen", owner, name)
	}
	switch c := tag.Get("codec"); {
	case c == "repeats" && f.kind == kString:
		f.repeats = true
	case c == "unique" && f.kind == kString:
		f.repeats = false
	case c != "":
		return field{}, fmt.Errorf("%s.%s: codec tag %q: want repeats or unique on a string", owner, name, c)
	}
	// encoding/json's omitempty leaves out empty strings, false, nil
	// pointers and empty slices; omitzero leaves out zero times and
	// uuids. Other combinations would do nothing and are refused, so the
	// tag says what happens.
	switch f.kind {
	case kTime, kUUID:
		f.omit = opts["omitzero"]
		if opts["omitempty"] {
			return field{}, fmt.Errorf("%s.%s: omitempty does nothing on this type; use omitzero", owner, name)
		}
	default:
		f.omit = opts["omitempty"]
		if opts["omitzero"] {
			return field{}, fmt.Errorf("%s.%s: use omitempty on this type", owner, name)
		}
	}
	return f, nil
}

func (p *pkg) generate() ([]byte, error) {
	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	for _, c := range p.catalogue {
		w("// Type returns %s.\nfunc (*%s) Type() Type { return %s }\n\n", c.constName, c.goName, c.constName)
	}

	w("// Types lists the event catalogue.\nfunc Types() []Type {\n\treturn []Type{\n")
	for _, c := range p.catalogue {
		w("%s,\n", c.constName)
	}
	w("}\n}\n\n")

	w("// NewPayload returns a new zero payload of type t, or nil for an unknown\n// type.\nfunc NewPayload(t Type) Payload {\n\tswitch t {\n")
	for _, c := range p.catalogue {
		w("case %s:\nreturn new(%s)\n", c.constName, c.goName)
	}
	w("}\nreturn nil\n}\n\n")

	w("// appendCatalogued appends p as encoding/json marshals it if p is a\n// payload of the catalogue.\n")
	w("func appendCatalogued(b []byte, p Payload) ([]byte, bool, error) {\n\tvar err error\n\tswitch p := p.(type) {\n")
	for _, c := range p.catalogue {
		w("case *%s:\nb, err = append%s(b, p)\n", c.goName, c.goName)
	}
	w("default:\nreturn b, false, nil\n}\nreturn b, true, err\n}\n\n")
	for _, name := range p.structNames() {
		p.encoder(w, name)
	}

	w("// payload reads the fields of p's type.\nfunc (s *scanner) payload(p Payload) bool {\n\tswitch p := p.(type) {\n")
	for _, c := range p.catalogue {
		w("case *%s:\nreturn s.read%s(p, 1) != 0\n", c.goName, c.goName)
	}
	w("}\nreturn false\n}\n\n")
	for _, name := range p.structNames() {
		p.reader(w, name)
	}

	var head bytes.Buffer
	head.WriteString("// Code generated by codecgen from the event catalogue; DO NOT EDIT.\n")
	head.WriteString("// Add an event type or a field in catalogue.go, then run go generate ./events.\n\n")
	head.WriteString("package events\n\nimport (\n")
	// The standard library's imports, a blank line, the others.
	for _, imp := range [][2]string{{"strconv.", "\"strconv\"\n\n"}, {"uuid.", "\"github.com/google/uuid\"\n"}} {
		if bytes.Contains(b.Bytes(), []byte(imp[0])) {
			head.WriteString(imp[1])
		}
	}
	head.WriteString(")\n\n")
	src, err := format.Source(append(head.Bytes(), b.Bytes()...))
	if err != nil {
		return nil, fmt.Errorf("format generated code: %w\n%s", err, b.Bytes())
	}
	return src, nil
}

// structNames lists the payloads in catalogue order, then the structs
// they hold, by name.
func (p *pkg) structNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, c := range p.catalogue {
		names = append(names, c.goName)
		seen[c.goName] = true
	}
	var nested []string
	for name := range p.fields {
		if !seen[name] {
			nested = append(nested, name)
		}
	}
	sort.Strings(nested)
	return append(names, nested...)
}

// encoder writes append<Name>, which appends a *Name as encoding/json
// marshals it. Members follow the struct's order; a comma goes before a
// member when one is certainly written before it, and is decided at run
// time while every member before was optional.
func (p *pkg) encoder(w func(string, ...any), name string) {
	fs := p.fields[name]
	w("func append%s(b []byte, p *%s) ([]byte, error) {\n", name, name)
	if needsErr(fs) {
		w("var err error\n")
	}
	certain := false
	for i, f := range fs {
		switch {
		case i == 0 && !f.omit:
			// The common case: the object opens with a member that is
			// always written.
			w("b = append(b, `{%q:`...)\n", f.key)
		case i == 0:
			w("b = append(b, '{')\n")
			if needsStart(fs) {
				w("start := len(b)\n")
			}
			w("if %s {\nb = append(b, `%q:`...)\n", nonZero(f), f.key)
		case f.omit:
			w("if %s {\n", nonZero(f))
			if !certain {
				w("if len(b) > start {\nb = append(b, ',')\n}\n")
				w("b = append(b, `%q:`...)\n", f.key)
			} else {
				w("b = append(b, `,%q:`...)\n", f.key)
			}
		case certain:
			w("b = append(b, `,%q:`...)\n", f.key)
		default:
			w("if len(b) > start {\nb = append(b, ',')\n}\n")
			w("b = append(b, `%q:`...)\n", f.key)
		}
		p.value(w, f)
		if f.omit {
			w("}\n")
		}
		certain = certain || !f.omit
	}
	if len(fs) == 0 {
		w("b = append(b, '{')\n")
	}
	w("return append(b, '}'), nil\n}\n\n")
}

// needsErr reports whether writing fs can fail.
func needsErr(fs []field) bool {
	for _, f := range fs {
		if f.kind == kTime || f.kind == kStruct {
			return true
		}
	}
	return false
}

// needsStart reports whether a comma before a member of fs must be
// decided at run time: a member after the first follows only optional
// ones.
func needsStart(fs []field) bool { return len(fs) > 1 && fs[0].omit }

// nonZero is the condition under which an omitted-when-empty member is
// written.
func nonZero(f field) string {
	v := "p." + f.name
	switch f.kind {
	case kString:
		return v + ` != ""`
	case kBool:
		return v
	case kUint:
		return v + " != 0"
	case kTime:
		return "!" + v + ".IsZero()"
	case kUUID:
		return v + " != uuid.Nil"
	case kBytes:
		return "len(" + v + ") > 0"
	default:
		return v + " != nil"
	}
}

// value writes the code that appends the value of f.
func (p *pkg) value(w func(string, ...any), f field) {
	v := "p." + f.name
	switch f.kind {
	case kString:
		if f.named {
			v = "string(" + v + ")"
		}
		w("b = appendString(b, %s)\n", v)
	case kBool:
		w("b = strconv.AppendBool(b, %s)\n", v)
	case kUint:
		w("b = strconv.AppendUint(b, %s, 10)\n", v)
	case kTime:
		w("if b, err = appendTime(b, %s); err != nil {\nreturn nil, err\n}\n", v)
	case kUUID:
		w("b = appendUUID(b, %s)\n", v)
	case kBytes:
		w("b = appendBytes(b, %s)\n", v)
	case kStruct:
		if !f.omit {
			w("if %s == nil {\nb = append(b, \"null\"...)\n} else ", v)
		}
		w("if b, err = append%s(b, %s); err != nil {\nreturn nil, err\n}\n", f.elem, v)
	}
}

// reader writes read<Name>, which reads a *Name's members in canonical
// form and returns bit, or 0 (scanner.object), and the keys it knows, in
// the order Encode writes them.
func (p *pkg) reader(w func(string, ...any), name string) {
	fs := p.fields[name]
	w("var keys%s = []string{", name)
	for i, f := range fs {
		if i > 0 {
			w(", ")
		}
		if k := strconv.Quote(f.key) + ":"; strconv.CanBackquote(k) {
			w("`%s`", k)
		} else {
			w("%q", k)
		}
	}
	w("}\n\n")
	w("func (s *scanner) read%s(p *%s, bit uint32) uint32 {\n", name, name)
	w("return s.object(keys%s, func(key int) uint32 {\nswitch key {\n", name)
	for i, f := range fs {
		dst := "&p." + f.name
		if f.named {
			dst = "(*string)(" + dst + ")"
		}
		mask := fmt.Sprintf("1<<%d", i)
		w("case %d: // %s\n", i, f.key)
		switch f.kind {
		case kString:
			if f.repeats {
				w("return s.sym(%s, %s)\n", dst, mask)
			} else {
				w("return s.text(%s, %s)\n", dst, mask)
			}
		case kBool:
			w("return s.bool(%s, %s)\n", dst, mask)
		case kUint:
			w("return s.uint(%s, %s)\n", dst, mask)
		case kTime:
			w("return s.time(%s, %s)\n", dst, mask)
		case kUUID:
			w("return s.uuid(%s, %s)\n", dst, mask)
		case kBytes:
			w("return s.base64(%s, %s)\n", dst, mask)
		case kStruct:
			w("p.%s = new(%s)\nreturn s.read%s(p.%s, %s)\n", f.name, f.elem, f.elem, f.name, mask)
		}
	}
	w("}\nreturn 0\n}, bit)\n}\n\n")
}
