package confdir

import (
	"errors"
	"path/filepath"
)

// ErrNone is returned when neither XDG_CONFIG_HOME nor HOME is set.
var ErrNone = errors.New("no configuration directory: neither XDG_CONFIG_HOME nor HOME is set")

// Dir returns the operator's Stafet directory.
func Dir(getenv func(string) string) (string, error) {
	if d := getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "stafet"), nil
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "stafet"), nil
	}
	return "", ErrNone
}
