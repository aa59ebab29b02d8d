package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedIsCurrent fails when events/codec_gen.go is not what the
// catalogue generates: someone changed an event type or a field and did
// not run `go generate ./events`.
func TestGeneratedIsCurrent(t *testing.T) {
	p, err := load("../..", "codec_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../codec_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("events/codec_gen.go is stale: run go generate ./events")
	}
}

// TestRefuses checks that fields the generator cannot write faithfully
// stop it with an error that names them.
func TestRefuses(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown type", "type X struct {\n N int `json:\"n\"`\n}", "X.N: codecgen does not know"},
		{"no json tag", "type X struct {\n N string\n}", "X: every field needs"},
		{"omitempty on a time", "type X struct {\n T time.Time `json:\"t,omitempty\"`\n}", "X.T: omitempty does nothing"},
		{"omitzero on a string", "type X struct {\n S string `json:\"s,omitzero\"`\n}", "X.S: use omitempty"},
		{"codec tag on a time", "type X struct {\n T time.Time `json:\"t\" codec:\"repeats\"`\n}", "X.T: codec tag"},
		{"no struct", "type Y struct{}", "no struct X"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := "package events\n\nimport \"time\"\n\nvar _ time.Time\n\ntype Type string\n\nconst TypeX Type = \"X\"\n\n" + tc.src + "\n"
			if err := os.WriteFile(dir+"/catalogue.go", []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := load(dir, "codec_gen.go")
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Errorf("got %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
