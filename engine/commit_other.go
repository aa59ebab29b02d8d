//go:build !linux

package engine

const groupCommitAvailable = false

// fileSystemSync is not available here: the embedded server fsyncs every
// message itself (Config.FsyncEach).
func fileSystemSync(string) (func() error, func() error, error) { return nil, nil, nil }
