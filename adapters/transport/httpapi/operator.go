package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// The operator token at rest (docs/security.md#tokens): the data
// directory keeps only its SHA-256 (admin-token.sha256), so a copy of the
// data directory does not hold it; the token itself is written once, at
// first start, to admin-token in a directory of the operator's outside
// the data directory (stafetd's key directory), where the stafet command
// finds it.
const (
	operatorHashFile  = "admin-token.sha256"
	operatorTokenFile = "admin-token"
)

// Operator is the operator token as stafetd holds it: its hash, and the
// token itself when stafetd has it (given, made now, or in the
// operator's directory).
type Operator struct {
	Token string
	Hash  [sha256.Size]byte
	// Made says the token was made now (show it to the operator once),
	// Moved that it moved out of an earlier release's data directory;
	// File is where it was written.
	Made, Moved bool
	File        string
}

// OperatorTokenFile is where OperatorToken writes the token it makes.
func OperatorTokenFile(dir string) string { return filepath.Join(dir, operatorTokenFile) }

// OperatorToken returns the operator token: given, if set (its hash is
// not kept); else the one whose hash dataDir keeps; else a new one, whose
// hash it keeps in dataDir and which it writes to dir (mode 0600). An
// earlier release's token in the clear in dataDir/admin-token moves to
// dir. The caller tells the operator (Made, Moved).
func OperatorToken(dataDir, dir, given string) (Operator, error) {
	if given != "" {
		return Operator{Token: given, Hash: sha256.Sum256([]byte(given))}, nil
	}
	hashPath, clearPath := filepath.Join(dataDir, operatorHashFile), OperatorTokenFile(dir)
	if b, err := os.ReadFile(hashPath); err == nil {
		return knownOperator(b, clearPath)
	} else if !errors.Is(err, os.ErrNotExist) {
		return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
	}
	legacy := filepath.Join(dataDir, operatorTokenFile)
	tok, moved := "", false
	if b, err := os.ReadFile(legacy); err == nil {
		tok, moved = strings.TrimSpace(string(b)), true
	} else if !errors.Is(err, os.ErrNotExist) {
		return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
	} else {
		tok = NewToken()
	}
	op := Operator{Token: tok, Hash: sha256.Sum256([]byte(tok)), Made: !moved, Moved: moved, File: clearPath}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
	}
	if err := os.WriteFile(clearPath, []byte(tok+"\n"), 0o600); err != nil {
		return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
	}
	if err := os.WriteFile(hashPath, []byte(hex.EncodeToString(op.Hash[:])+"\n"), 0o600); err != nil {
		return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
	}
	if moved {
		if err := os.Remove(legacy); err != nil {
			return Operator{}, fmt.Errorf("httpapi: operator token: %w", err)
		}
	}
	return op, nil
}

// knownOperator reads a kept hash, and the token from the operator's
// file if it is there and matches.
func knownOperator(hashText []byte, clearPath string) (Operator, error) {
	var op Operator
	h, err := hex.DecodeString(string(bytes.TrimSpace(hashText)))
	if err != nil || len(h) != sha256.Size {
		return op, errors.New("httpapi: operator token: the kept hash is not a SHA-256 in hex")
	}
	copy(op.Hash[:], h)
	if b, err := os.ReadFile(clearPath); err == nil {
		tok := strings.TrimSpace(string(b))
		if sha256.Sum256([]byte(tok)) == op.Hash {
			op.Token = tok
		}
	}
	return op, nil
}

// Tell tells the operator what became of the token at start: one made now
// is shown once on w, and only if show (text logs, read by a person: JSON
// logs go to log stores, which must not hold it); else only where it is.
func (op Operator) Tell(w io.Writer, log *slog.Logger, show bool) {
	switch {
	case op.Made && show:
		fmt.Fprintf(w, "\n  Operator token (shown once; also in %s):\n\n    %s\n\n  The command line reads it from there; the dashboard asks for it.\n\n", op.File, op.Token)
	case op.Made:
		log.Warn("operator token made; not logged", "file", op.File)
	case op.Moved:
		log.Warn("operator token moved out of the data directory; the data directory keeps its hash", "file", op.File)
	}
}
