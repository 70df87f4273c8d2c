package api

import "time"

// SetStallLimit shortens how long a stream may stall, for a test.
func SetStallLimit(d time.Duration) (restore func()) {
	old := stallLimit
	stallLimit = d
	return func() { stallLimit = old }
}
