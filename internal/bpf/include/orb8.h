/* Shared helpers for every orb8 BPF program. */
#pragma once

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "orb8_arch.h"

/*
 * A read-only view of obj as the kernel type given, for pointers the verifier
 * does not trust (kfunc since 6.2; libbpf 1.1 lacks the macro).
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define orb8_core_cast(obj, type) ((type *)bpf_rdonly_cast((obj), bpf_core_type_id_kernel(type)))

/*
 * Constants of kernel headers that vmlinux.h, which holds types only, lacks.
 * Syscall numbers and what else differs by architecture are in orb8_arch.h.
 */
#ifndef PF_KTHREAD
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h: task->flags of a kernel thread */
#endif
#ifndef PF_IO_WORKER
#define PF_IO_WORKER 0x00000010 /* include/linux/sched.h: an io_uring worker thread */
#endif
#ifndef EEXIST
#define EEXIST 17 /* include/uapi/asm-generic/errno-base.h */
#endif

/* Upper bound of workloads (cgroups) each per-cgroup map tracks. */
#define ORB8_MAX_CGROUPS 16384

/*
 * Slots of orb8_counters, a per-CPU array that every probe object carries.
 * The agent reads it generically, so losses are exported for every probe
 * without per-probe code.
 */
enum orb8_counter {
	ORB8_RINGBUF_LOST = 0, /* ring buffer full: event dropped */
	ORB8_MAP_FULL = 1,     /* bounded map full: entry not tracked */
	ORB8_COUNTER_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ORB8_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} orb8_counters SEC(".maps");

/*
 * Adds one to slot of a per-CPU array of __u64 counters. Atomically: programs
 * nest on a CPU (a softirq's cgroup_skb ingress over a task's egress, a
 * tracepoint in an interrupt), and a plain add could lose one.
 */
static __always_inline void orb8_count_in(void *counters, __u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(counters, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void orb8_count(__u32 slot)
{
	orb8_count_in(&orb8_counters, slot);
}

/*
 * Declares write_<type>, which writes one iterator record. It is a function
 * of its own so that its prototype carries the record type into BTF, where
 * bpf2go finds it: a record that no map holds has no other way there. The
 * call costs a few instructions per record.
 */
#define ORB8_ITER_RECORD(type)                                                        \
	static __noinline int write_##type(struct seq_file *seq, const struct type *r) \
	{                                                                              \
		return bpf_seq_write(seq, (void *)r, sizeof(*r));                       \
	}

/*
 * Set by the loader where workloads live in cgroup v1 hierarchies (legacy
 * hosts, hybrid ones whose runtime uses v1): there every task's unified
 * cgroup is the root, so workloads are told apart by their memory cgroup.
 * Frozen at load, so the verifier drops the branch a host does not take.
 */
const volatile bool orb8_cgroup_v1 = false;

/* The memory controller's index in a css_set's subsys array (CO-RE). */
#define ORB8_MEMORY_SSID bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)

/*
 * The id of a task's workload cgroup: its unified (v2) cgroup, what
 * bpf_get_current_cgroup_id() returns for current, or in v1 mode its memory
 * cgroup (the directory's inode, as for v2).
 */
static __always_inline __u64 orb8_task_cgroup_id(struct task_struct *t)
{
	if (orb8_cgroup_v1) {
		struct css_set *cgroups = BPF_CORE_READ(t, cgroups);
		struct cgroup_subsys_state *css = NULL;
		bpf_core_read(&css, sizeof(css), &cgroups->subsys[ORB8_MEMORY_SSID]);
		return BPF_CORE_READ(css, cgroup, kn, id);
	}
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

/*
 * orb8_task_cgroup_id of a task pointer the verifier trusts (tp_btf
 * arguments, iterator tasks): on the unified hierarchy, direct loads instead
 * of a helper call per field, for hot paths.
 */
#define orb8_btf_task_cgroup_id(t) (orb8_cgroup_v1 ? orb8_task_cgroup_id(t) : (t)->cgroups->dfl_cgrp->kn->id)

/* orb8_task_cgroup_id of the current task. */
static __always_inline __u64 orb8_current_cgroup_id(void)
{
	if (orb8_cgroup_v1)
		return orb8_task_cgroup_id((struct task_struct *)bpf_get_current_task());
	return bpf_get_current_cgroup_id();
}

/* Whether a cgroup belongs to the hierarchy workload ids come from. */
static __always_inline bool orb8_workload_hierarchy(struct cgroup *cg)
{
	if (orb8_cgroup_v1)
		return BPF_CORE_READ(cg, root, subsys_mask) & (1u << ORB8_MEMORY_SSID);
	return BPF_CORE_READ(cg, root, hierarchy_id) == 0; /* the unified hierarchy */
}

/* Reserve ring buffer space, counting a loss when the buffer is full. */
static __always_inline void *orb8_reserve(void *ringbuf, __u64 size)
{
	void *e = bpf_ringbuf_reserve(ringbuf, size, 0);
	if (!e)
		orb8_count(ORB8_RINGBUF_LOST);
	return e;
}

/*
 * orb8_emit gates single events that only watchers need (exec, exit, ...):
 * bit k is set while someone subscribes to the probe's event kind k, so
 * with nobody watching an event costs only its in-kernel counters, and a
 * watcher of one kind does not pay for the others.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} orb8_emit SEC(".maps");

static __always_inline int orb8_emit_wanted(__u32 kind)
{
	__u32 key = 0;
	__u32 *on = bpf_map_lookup_elem(&orb8_emit, &key);
	return on && (*on & (1U << kind));
}

/*
 * Ring buffer wakeups are throttled: waking the reader is an irq_work
 * self-IPI, which costs ~10 us in a VM (20x the rest of an exec probe), and
 * each wakeup costs the agent a goroutine switch or more. A submit wakes the
 * reader at most once per orb8_wakeup_ns; records in between are picked up
 * by the reader, which polls at that interval or a longer one while records
 * flow (probe.ReadRing) and blocks without polling when idle. The first
 * record after a quiet spell always wakes it, so idle latency stays low.
 * ORB8_WAKEUP_NS, 4 ms: a streamed event waits up to as long again for its
 * batch (api), and the smallest ring (256 KiB) holds 4 ms of 64 MB/s of
 * records. User space raises orb8_wakeup_ns, never above its readers' own
 * poll interval, for an object whose records nobody waits for
 * (probe.Objects.RelaxWakeups).
 */
#define ORB8_WAKEUP_NS 4000000ULL

volatile __u64 orb8_wakeup_ns = ORB8_WAKEUP_NS;

/*
 * The last forced wakeup of the object's ring. An object with several rings
 * keeps one such time per other ring (orb8_submit_to): the reader of a ring
 * goes idle trusting its ring's next record to wake it, which a busy sibling
 * ring's wakeups must not prevent.
 */
static __u64 orb8_last_wakeup_ns;

/* The flags of a submit to the ring whose last forced wakeup is *last. */
static __always_inline __u64 orb8_wakeup_flags(__u64 *last)
{
	__u64 now = bpf_ktime_get_ns();
	if (now - *last < orb8_wakeup_ns)
		return BPF_RB_NO_WAKEUP;
	*last = now; /* a racing CPU may wake once more: harmless */
	/* Forced: the default wakes only a consumer that has read every
	 * earlier record, which un-woken records prevent. */
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void orb8_submit_to(void *e, __u64 *last)
{
	bpf_ringbuf_submit(e, orb8_wakeup_flags(last));
}

static __always_inline void orb8_submit(void *e)
{
	orb8_submit_to(e, &orb8_last_wakeup_ns);
}

/*
 * Find or create the value for key in a bounded hash map. A full map is
 * counted, never silently ignored.
 */
static __always_inline void *orb8_lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);
	if (v)
		return v;
	long err = bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	if (err && err != -EEXIST) { /* EEXIST: a racing CPU created it */
		orb8_count(ORB8_MAP_FULL);
		return 0;
	}
	return bpf_map_lookup_elem(map, key);
}

/*
 * Counts the kernel keeps per thread (page faults, run-queue waits) reach
 * per-cgroup counters without a hook: a task iterator the agent runs, and
 * each thread's exit, move what a thread counted since the last move. The
 * mark of what was moved lives in the thread's task storage.
 */

/*
 * Claims the part of a count not yet moved. An iterator pass and the
 * thread's exit (or threads sharing a count) can race: only the one whose
 * compare-and-swap moves the mark adds.
 */
static __always_inline __u64 orb8_claim(__u64 *flushed, __u64 now)
{
	__u64 old = *flushed;
	if (now <= old || !__sync_bool_compare_and_swap(flushed, old, now))
		return 0;
	return now - old;
}

/*
 * Thread t's mark in task storage, created on first sight (NULL, counted,
 * when it cannot be). *predates says a thread just seen started before the
 * programs were loaded (loaded_at_ns): the caller sets its mark to the
 * counts as they stand, so it is counted from now on. A later thread's mark
 * starts at zero: counted from birth.
 */
static __always_inline void *orb8_flush_mark(void *storage, struct task_struct *t, __u64 loaded_at_ns, bool *predates)
{
	*predates = false;
	void *mark = bpf_task_storage_get(storage, t, 0, 0);
	if (mark)
		return mark;
	mark = bpf_task_storage_get(storage, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!mark)
		orb8_count(ORB8_MAP_FULL);
	else
		*predates = t->start_time < loaded_at_ns;
	return mark;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
