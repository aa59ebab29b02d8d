//go:build !unix

package bench

import (
	"errors"
	"os/exec"
)

// osUser: the PostgreSQL peer runs on Unix only.
type osUser struct{}

func postgresUser() (*osUser, error) {
	return nil, errors.New("bench: the PostgreSQL peer runs on Unix only")
}

func (u *osUser) own(string) error { return nil }
func (u *osUser) apply(*exec.Cmd)  {}
