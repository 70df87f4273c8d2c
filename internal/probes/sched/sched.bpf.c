//go:build ignore

/*
 * Run-queue latency per cgroup: the time a task waits between becoming
 * runnable (woken, or preempted while still runnable) and running again,
 * folded into a log2 histogram per cgroup in the kernel. Only the histograms
 * leave the kernel, at scrape time. After bcc's runqlat.
 */
#include "orb8.h"
#include "orb8_hist.h"

#define TASK_RUNNING 0

/*
 * When each thread became runnable (bpf_ktime_get_ns), 0 once it runs. Task
 * storage, not a hash: no hashing or bucket lock on the hottest path, and it
 * is bounded by the threads alive, each entry freed with its thread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} enqueued_at SEC(".maps");

/* Cgroup id of the task that waited -> its histogram. Allocated on first use. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct orb8_log2_hist);
} runq_latency SEC(".maps");

static const struct orb8_log2_hist zero_hist;

/* task_struct.state became __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* tp_btf arguments are BTF pointers: direct loads, no helper call per field. */
static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return ((struct task_struct___pre514 *)t)->state;
}

static __always_inline void enqueue(struct task_struct *t)
{
	if (!t->pid) /* the idle task */
		return;
	__u64 *since = bpf_task_storage_get(&enqueued_at, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!since) {
		orb8_count(ORB8_MAP_FULL);
		return;
	}
	*since = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(handle_wakeup, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(handle_wakeup_new, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	/*
	 * A preempted task stays on the run queue even when it had already
	 * announced a sleep (set_current_state before schedule): it waits too.
	 */
	if (preempt || task_state(prev) == TASK_RUNNING)
		enqueue(prev);

	__u64 *since = bpf_task_storage_get(&enqueued_at, next, 0, 0);
	if (!since || !*since) /* runnable before the probe started, or the idle task */
		return 0;
	__s64 waited = bpf_ktime_get_ns() - *since;
	*since = 0;
	if (waited < 0)
		return 0;

	__u64 cg = next->cgroups->dfl_cgrp->kn->id;
	struct orb8_log2_hist *h = orb8_lookup_or_init(&runq_latency, &cg, &zero_hist);
	if (h)
		orb8_hist_add(h, waited);
	return 0;
}
