//go:build unix

package bench

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// osUser is the account PostgreSQL's programs run as when the bench runs
// as root; a nil *osUser runs them as the bench's own user.
type osUser struct{ uid, gid uint32 }

// postgresUser returns the postgres account (Debian's package makes it)
// when the bench runs as root, and nil otherwise.
func postgresUser() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("bench: PostgreSQL refuses to run as root, and there is no postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("bench: postgres user: uid %q, gid %q", u.Uid, u.Gid)
	}
	return &osUser{uint32(uid), uint32(gid)}, nil
}

// own gives the account everything under dir.
func (u *osUser) own(dir string) error {
	if u == nil {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.uid), int(u.gid))
	})
}

// apply makes cmd run as the account.
func (u *osUser) apply(cmd *exec.Cmd) {
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
	}
}
