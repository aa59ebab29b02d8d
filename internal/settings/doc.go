// Package settings is stafetd's settings from the environment: every
// flag and its STAFET_* variable, their defaults and checks (Parse,
// settings.go), the HTTP and MLLP listeners' limits with the ranges they
// accept (limits.go), and the key material the settings name (the key
// directory and the key files, keys.go). Beside them, what stafetd reads
// at start from what the settings name: the listeners' certificates
// (TLS), the deadline rules (LoadRules), the logger (NewLogger), where
// the data and the operator token are (Where), and the collector's pace
// (GC). Command stafetd parses, then wires what Settings describe.
package settings
