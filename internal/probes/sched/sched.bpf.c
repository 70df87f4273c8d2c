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
/* Threads waiting for a CPU at once, plus threads woken while still running. */
#define MAX_QUEUED 65536

/* Thread id -> when it became runnable (bpf_ktime_get_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_QUEUED);
	__type(key, __u32);
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

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state);
}

static __always_inline void enqueue(struct task_struct *t)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	if (!tid) /* the idle task */
		return;
	__u64 now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&enqueued_at, &tid, &now, BPF_ANY))
		orb8_count(ORB8_MAP_FULL);
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

	__u32 tid = BPF_CORE_READ(next, pid);
	__u64 *since = bpf_map_lookup_elem(&enqueued_at, &tid);
	if (!since) /* runnable before the probe started, or the idle task */
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 waited = now - *since;
	bpf_map_delete_elem(&enqueued_at, &tid);
	if ((__s64)waited < 0)
		return 0;

	__u64 cg = orb8_task_cgroup_id(next);
	struct orb8_log2_hist *h = orb8_lookup_or_init(&runq_latency, &cg, &zero_hist);
	if (h)
		orb8_hist_add(h, waited);
	return 0;
}

/*
 * A thread woken while it still ran keeps its entry until it next switches
 * in; one that exits instead would hold it forever. Freed tasks drop theirs.
 */
SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	bpf_map_delete_elem(&enqueued_at, &tid);
	return 0;
}
