package engine

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

const groupCommitAvailable = true

// fileSystemSync returns a function that flushes the file system holding
// dir to disk (syncfs(2)): the server's message blocks, the files it
// created and their directory entries, in one call however many streams
// were written. It syncs the whole file system: give the data directory a
// volume of its own in production (docs/operations.md).
func fileSystemSync(dir string) (sync func() error, closeFn func() error, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("engine: group commit: %w", err)
	}
	sync = func() error {
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			return fmt.Errorf("engine: group commit: syncfs: %w", err)
		}
		return nil
	}
	return sync, f.Close, nil
}
