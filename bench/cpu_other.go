//go:build !unix

package bench

import "time"

// cpuTime is not measured here; CPU figures are left out.
func cpuTime() time.Duration { return 0 }
