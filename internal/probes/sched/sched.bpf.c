//go:build ignore

/*
 * Run-queue latency per cgroup: the time a task waits between joining a run
 * queue (woken, or preempted while runnable) and running, folded into a log2
 * histogram per cgroup in the kernel. Only the histograms leave the kernel,
 * at scrape time. After bcc's runqlat.
 *
 * Two ways to time the wait; the agent loads the first this kernel accepts:
 *   handle_switch: the kernel already stamps a task joining a run queue
 *     (sched_info.last_queued, CONFIG_SCHED_INFO) and at the switch adds
 *     rq->clock - last_queued to its run_delay (/proc/<pid>/schedstat).
 *     That clock is current when sched_switch fires, so the same delta is
 *     read here: one program, no wakeup hooks. A task migrated while queued
 *     has the part it waited before the move added to run_delay at the
 *     move; remembering run_delay as of each task's last arrival finds it,
 *     so each wait is one sample and the sum equals the kernel's run_delay.
 *   fallback_*: runqlat's way, stamping wakeups and preemptions ourselves.
 */
#include "orb8.h"
#include "orb8_hist.h"

#define TASK_RUNNING 0

/* Cgroup id of the task that waited -> its histogram. Allocated on first use. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct orb8_log2_hist);
} runq_latency SEC(".maps");

static const struct orb8_log2_hist zero_hist;

/* tp_btf arguments are BTF pointers: direct loads, no helper call per field. */
static __always_inline void record(struct task_struct *t, __s64 waited)
{
	if (waited < 0)
		return;
	__u64 cg = orb8_btf_task_cgroup_id(t);
	struct orb8_log2_hist *h = orb8_lookup_or_init(&runq_latency, &cg, &zero_hist);
	if (h)
		orb8_hist_add(h, waited);
}

/* When the programs were loaded (bpf_ktime_get_ns): tasks started later were seen waiting from birth. */
const volatile __u64 loaded_at_ns;

/* Each task's run_delay as of its last arrival here, that arrival included. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} run_delay_seen SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 queued = next->sched_info.last_queued;

	/*
	 * Not stamped: the idle task (every switch to an idle CPU). A task
	 * that waited always is: a migration that adds the wait before it to
	 * run_delay stamps the task again on its new run queue, so no wait is
	 * pending here and run_delay_seen is still right.
	 */
	if (!queued)
		return 0;
	__u64 delay = next->sched_info.run_delay;
	__u64 before_move; /* waited on another run queue before a migration */
	__u64 *seen = bpf_task_storage_get(&run_delay_seen, next, 0, 0);
	if (seen) {
		before_move = delay - *seen;
	} else {
		before_move = next->start_time >= loaded_at_ns ? delay : 0;
		seen = bpf_task_storage_get(&run_delay_seen, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!seen)
			orb8_count(ORB8_MAP_FULL);
	}
	__u64 here = next->se.cfs_rq->rq->clock - queued;
	if (seen)
		*seen = delay + here;
	if (here || before_move)
		record(next, here + before_move);
	return 0;
}

/*
 * Fallback: when each thread became runnable (bpf_ktime_get_ns), 0 once it
 * runs. Task storage, not a hash: no hashing or bucket lock on the hot path,
 * bounded by the threads alive, each entry freed with its thread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} enqueued_at SEC(".maps");

/* task_struct.state became __state in 5.14. */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

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
int BPF_PROG(fallback_wakeup, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(fallback_wakeup_new, struct task_struct *p)
{
	enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(fallback_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
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
	record(next, waited);
	return 0;
}
