//go:build linux || darwin || freebsd || netbsd || openbsd

package engine

import "syscall"

// diskSpace returns the bytes free to unprivileged writers and the size
// of the file system holding dir.
func diskSpace(dir string) (free, total uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, true
}
