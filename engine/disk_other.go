//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package engine

// diskSpace is unknown here: the monitor falls back to JetStream's
// account limit.
func diskSpace(string) (free, total uint64, ok bool) { return 0, 0, false }
