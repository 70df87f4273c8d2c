package events

import "time"

// Syscall is what a syscall event adds: one syscall of a streamed workload
// returned (orb8 trace syscall).
type Syscall struct {
	TID   uint32 `json:"tid"`
	Nr    uint32 `json:"nr"`
	Name  string `json:"name"`
	Ret   int64  `json:"ret"`
	Errno string `json:"errno,omitempty"` // ENOENT, ...; empty on success
	// Duration is entry to return; zero when the entry was not seen (Timed false).
	Duration time.Duration `json:"durationNs"`
	Timed    bool          `json:"timed"`
}
