package probe

import "github.com/orb8/orb8/internal/events"

// Hears reports whether anyone listens for events of kind. Ask it per
// record: a client may start listening at any time, and a probe builds no
// event while nobody does.
func (e Env) Hears(kind string) bool { return e.Events != nil && e.Events.Wants(kind) }

// PublishAt publishes ev for the workload of cgroup id, timed at bootNs
// (bpf_ktime_get_boot_ns), unless the resolver hides that workload.
func (e Env) PublishAt(id, bootNs uint64, ev events.Event) {
	w, ok := e.Resolver.Visible(id)
	if !ok {
		return
	}
	ev.Time, ev.Workload = BootTime(bootNs), w
	e.Events.Publish(ev)
}
