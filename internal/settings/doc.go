// Package settings is stafetd's settings from the environment: every
// flag and its STAFET_* variable, their defaults and checks (Parse), the
// key material those settings name (the key directory and the key files,
// keys.go), and the files and process settings read at start: the
// deadline rules (LoadRules), the logger (NewLogger) and the collector's
// pace (GC). Command stafetd parses, then wires what Settings describe.
package settings
