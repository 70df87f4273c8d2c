//go:build ignore

/*
 * Scheduling per cgroup.
 *
 * By default no hook on the scheduler: the kernel already counts, per
 * thread, how long it waited runnable on a run queue (sched_info.run_delay,
 * CONFIG_SCHED_INFO) and how many times it was put on a CPU
 * (sched_info.pcount). A task iterator the agent runs every 5 s, and the
 * end of each thread, move what a thread counted since the last move to
 * its cgroup's counters, as the memory probe does with page faults.
 *
 * Opt-in (a program on every context switch, +3-11% CPU on a same-CPU
 * context-switch ping-pong, docs/benchmarks.md): run-queue latency as a log2 histogram per
 * cgroup, after bcc's runqlat. Two ways to time the wait; the agent loads
 * the first this kernel accepts:
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

/* What a thread's sched_info counted, and what its cgroup's threads did. */
struct sched_counts {
	__u64 wait_ns;    /* run_delay: ns runnable on a run queue, not running */
	__u64 timeslices; /* pcount: times put on a CPU */
};

/* Cgroup id -> what its threads counted since the programs were loaded. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct sched_counts);
} waits SEC(".maps");

/* Per thread: the part of its counts already added to waits. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sched_counts);
} waits_flushed SEC(".maps");

static const struct sched_counts zero_counts;

/* When the programs were loaded (bpf_ktime_get_ns): tasks started earlier are counted from then. */
const volatile __u64 loaded_at_ns;

/*
 * Adds what thread t counted since its last flush to its cgroup. A thread
 * being freed gets no mark (nothing follows): one never flushed counts from
 * birth, or not at all if it predates the programs. Without
 * CONFIG_SCHED_INFO the kernel counts nothing: the agent reads that from
 * the kernel's BTF and says so; here the check only lets the program load.
 */
static __always_inline void flush_waits(struct task_struct *t, bool freed)
{
	if (!bpf_core_field_exists(t->sched_info))
		return;
	__u64 wait = t->sched_info.run_delay;
	__u64 slices = t->sched_info.pcount;
	struct sched_counts *mark;
	if (freed) {
		mark = bpf_task_storage_get(&waits_flushed, t, 0, 0);
		if (!mark && t->start_time < loaded_at_ns)
			return;
	} else {
		bool predates;
		mark = orb8_flush_mark(&waits_flushed, t, loaded_at_ns, &predates);
		if (!mark)
			return;
		if (predates) {
			mark->wait_ns = wait;
			mark->timeslices = slices;
			return;
		}
	}
	if (mark) {
		wait = orb8_claim(&mark->wait_ns, wait);
		slices = orb8_claim(&mark->timeslices, slices);
	}
	if (!wait && !slices)
		return;
	__u64 cg = orb8_btf_task_cgroup_id(t);
	struct sched_counts *c = orb8_lookup_or_init(&waits, &cg, &zero_counts);
	/*
	 * Atomic although per CPU: handle_free runs in an RCU callback, which
	 * may interrupt the iterator on this CPU in the middle of an add.
	 */
	if (c) {
		__sync_fetch_and_add(&c->wait_ns, wait);
		__sync_fetch_and_add(&c->timeslices, slices);
	}
}

/*
 * Moves every user thread's counts since its last flush to its cgroup; the
 * agent runs it every 5 s. Kernel threads are left out: they are no
 * workload's, and skipping them keeps the pass short.
 */
SEC("iter/task")
int flush_all_waits(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || (t->flags & PF_KTHREAD))
		return 0;
	flush_waits(t, false);
	return 0;
}

/*
 * A thread that ended hands its last counts to its cgroup when its task is
 * freed (reaped, then an RCU grace period): after its last context switch,
 * so its counts are final. At sched_process_exit they are not: the rest of
 * do_exit may sleep (closing files, releasing memory) and wait to run again.
 */
SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *task)
{
	if (task->flags & PF_KTHREAD)
		return 0;
	flush_waits(task, true);
	return 0;
}

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
