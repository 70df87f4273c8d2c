//go:build ignore

/*
 * Syscalls per cgroup: for a configured set of syscall numbers, calls, errors
 * by errno and a log2 latency histogram, aggregated in the kernel. On demand,
 * every syscall (or a chosen set) of chosen cgroups is also streamed as
 * single events, like strace for a pod; nothing is streamed while no cgroup
 * is chosen.
 */
#include "orb8.h"
#include "orb8_hist.h"

#define MAX_NR 512      /* sysnames.MaxNr */
#define MAX_STREAMS 1024
#define MAX_ERRNO 4095

/* Syscall number -> nonzero when tracked. Written by the agent at start. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_NR);
	__type(key, __u32);
	__type(value, __u32);
} tracked SEC(".maps");

/* Slot 0: how many cgroups are streamed; 0 skips the stream lookups. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} streaming SEC(".maps");

/* Syscall numbers a streamed cgroup's events are wanted for, one bit each. */
struct stream_filter {
	__u64 nrs[MAX_NR / 64];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_STREAMS);
	__type(key, __u64);
	__type(value, struct stream_filter);
} streamed SEC(".maps");

struct call_start {
	__u64 start_ns;
	__u32 nr;
	__u32 pad;
};

/*
 * The followed syscall each thread is in (start_ns 0: none). Task storage:
 * no hashing or bucket lock per call, freed with the thread.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct call_start);
} inflight SEC(".maps");

struct call_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 pad;
};

struct call_stats {
	__u64 calls;
	__u64 errors;
	struct orb8_log2_hist latency; /* calls whose entry was seen */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct call_key);
	__type(value, struct call_stats);
} stats SEC(".maps");

struct error_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 err; /* positive errno */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct error_key);
	__type(value, __u64);
} errors SEC(".maps");

struct event {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u64 duration_ns; /* valid when timed */
	__s64 ret;
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 nr;
	__u8 timed;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct event);
} events SEC(".maps");

static const struct call_stats zero_stats;
static const __u64 zero_count;

static __always_inline int is_tracked(__u32 nr)
{
	__u32 *on = bpf_map_lookup_elem(&tracked, &nr);
	return on && *on;
}

/* Whether syscall nr of the current cgroup is streamed. */
static __always_inline int is_streamed(__u32 nr)
{
	__u32 zero = 0;
	__u32 *n = bpf_map_lookup_elem(&streaming, &zero);
	if (!n || !*n)
		return 0;
	__u64 cgroup_id = orb8_current_cgroup_id();
	struct stream_filter *f = bpf_map_lookup_elem(&streamed, &cgroup_id);
	return f && (f->nrs[(nr / 64) & (MAX_NR / 64 - 1)] >> (nr % 64)) & 1;
}

/* 32-bit syscalls have other numbers: they are not followed. */
static __always_inline int in_compat_syscall(void)
{
	return orb8_compat_task(bpf_get_current_task_btf());
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	if ((__u64)id >= MAX_NR)
		return 0;
	__u32 nr = id;
	if (!is_tracked(nr) && !is_streamed(nr))
		return 0;
	if (in_compat_syscall())
		return 0;
	struct call_start *s = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!s) {
		orb8_count(ORB8_MAP_FULL);
		return 0;
	}
	s->start_ns = bpf_ktime_get_ns();
	s->nr = nr;
	return 0;
}

static __always_inline void account(__u64 cgroup_id, __u32 nr, long ret, int timed, __u64 duration)
{
	struct call_key k = {.cgroup_id = cgroup_id, .nr = nr};
	struct call_stats *s = orb8_lookup_or_init(&stats, &k, &zero_stats);
	if (!s)
		return;
	s->calls++;
	if (timed)
		orb8_hist_add(&s->latency, duration);
	if (ret >= 0 || ret < -MAX_ERRNO)
		return;
	s->errors++;
	struct error_key ek = {.cgroup_id = cgroup_id, .nr = nr, .err = -ret};
	__u64 *n = orb8_lookup_or_init(&errors, &ek, &zero_count);
	if (n)
		(*n)++;
}

static __always_inline void emit(__u64 cgroup_id, __u32 nr, long ret, int timed, __u64 duration)
{
	struct event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cgroup_id;
	e->duration_ns = duration;
	e->ret = ret;
	e->pid = pid_tgid >> 32;
	e->tid = (__u32)pid_tgid;
	e->ppid = t->real_parent->tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->nr = nr;
	e->timed = timed;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	orb8_submit(e);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 nr64 = orb8_syscall_nr(regs);
	if (nr64 >= MAX_NR)
		return 0;
	__u32 nr = nr64;
	int track = is_tracked(nr);
	int stream = is_streamed(nr);
	if ((!track && !stream) || in_compat_syscall())
		return 0;

	/* Calls that entered before the probe, or without storage, are untimed. */
	__u64 duration = 0;
	int timed = 0;
	struct call_start *s = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (s) {
		if (s->start_ns && s->nr == nr) {
			duration = bpf_ktime_get_ns() - s->start_ns;
			timed = 1;
		}
		s->start_ns = 0;
	}
	__u64 cg = orb8_current_cgroup_id();
	if (track)
		account(cg, nr, ret, timed, duration);
	if (stream)
		emit(cg, nr, ret, timed, duration);
	return 0;
}
