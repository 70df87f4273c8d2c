//go:build ignore

/*
 * Process lifecycle: exec, fork and exit counted per cgroup in the kernel,
 * running processes per cgroup, and single exec/exit events for streaming.
 */
#include "orb8.h"
#include "orb8_path.h"
#include "orb8_exec.h"

#define FILENAME_LEN 256

enum event_kind : __u32 {
	EVENT_EXEC = 1,
	EVENT_EXIT = 2,
};

struct proc_stats {
	__u64 execs;
	__u64 forks;
	__u64 exits_code;   /* exited through exit(2)/exit_group(2) */
	__u64 exits_signal; /* killed by a signal */
	__u64 crashes;      /* killed by a program-fault signal or dumped core */
	__u64 short_lived;  /* ended less than SHORT_LIVED_NS after it started */
	__s64 running;      /* per-CPU delta; the sum over CPUs is the gauge */
};

/* Processes that live less than this are "short-lived" (cron jobs, probes, crash loops). */
#define SHORT_LIVED_NS 1000000000ULL

struct event {
	__u64 boot_ns;
	__u64 cgroup_id;
	enum event_kind kind;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 exit_code; /* exit status, valid when signal == 0 */
	__u32 signal;    /* fatal signal, 0 for a normal exit */
	__u8 core_dumped;
	__u8 crash;
	__u64 lifetime_ns; /* exit only */
	__u8 comm[16];
};

/* An exec: the event, then what the new program is and was given. */
struct exec_event {
	struct event head;
	__u32 args_len;        /* bytes of args, NULs included */
	__u8 args_truncated;   /* argv was longer than ORB8_ARGS_LEN */
	__u8 path_truncated;   /* components of path were left out */
	__u8 parent_path_truncated;
	__u8 pad;
	__u8 filename[FILENAME_LEN];    /* as given to execve */
	__u8 path[ORB8_PATH_LEN];       /* the executable, resolved */
	__u8 parent_path[ORB8_PATH_LEN]; /* the parent's executable, resolved */
	__u8 args[ORB8_ARGS_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct proc_stats);
} stats SEC(".maps");

/*
 * tgid -> cgroup the process is counted in as running, so that an exit or a
 * move between cgroups subtracts from the right one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);
	__type(key, __u32);
	__type(value, __u64);
} proc_cgroup SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct exec_event); /* or a struct event, by kind */
} events SEC(".maps");

static const struct proc_stats zero_stats;

static __always_inline struct proc_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

static __always_inline void add_running(__u64 cgroup_id, __s64 delta)
{
	struct proc_stats *s = stats_of(cgroup_id);
	if (s)
		s->running += delta;
}

/* Start counting a process as running in a cgroup, once. */
static __always_inline void track(__u32 tgid, __u64 cgroup_id)
{
	long err = bpf_map_update_elem(&proc_cgroup, &tgid, &cgroup_id, BPF_NOEXIST);
	if (!err)
		add_running(cgroup_id, 1);
	else if (err != -EEXIST)
		orb8_count(ORB8_MAP_FULL);
}

static __always_inline int is_user_process(struct task_struct *t)
{
	return !(BPF_CORE_READ(t, flags) & PF_KTHREAD) && BPF_CORE_READ(t, pid) == BPF_CORE_READ(t, tgid);
}

/* Signal numbers of arch/x86/include/uapi/asm/signal.h. */
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGSYS 31

/* Signals a program gets for its own faults: a crash, not an outside kill. */
static __always_inline int is_fault_signal(__u32 sig)
{
	switch (sig) {
	case SIGILL:
	case SIGTRAP:
	case SIGABRT:
	case SIGBUS:
	case SIGFPE:
	case SIGSEGV:
	case SIGSYS:
		return 1;
	}
	return 0;
}

static __always_inline void fill_task(struct event *e, struct task_struct *t, enum event_kind kind, __u64 cgroup_id)
{
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cgroup_id;
	e->kind = kind;
	e->pid = BPF_CORE_READ(t, tgid);
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->uid = BPF_CORE_READ(t, cred, uid.val);
	e->exit_code = 0;
	e->signal = 0;
	e->core_dumped = 0;
	e->crash = 0;
	e->lifetime_ns = 0;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), BPF_CORE_READ(t, comm));
}

/* The executables of the process and of its parent, each resolved against its own root. */
static __always_inline void fill_paths(struct exec_event *e, struct task_struct *p, struct linux_binprm *bprm)
{
	struct fs_struct *fs = BPF_CORE_READ(p, fs);
	int cut = orb8_path(BPF_CORE_READ(bprm, file), &fs->root, (char *)e->path);
	e->path_truncated = cut > 0;
	if (cut < 0)
		e->path[0] = 0;
	struct task_struct *parent = BPF_CORE_READ(p, real_parent);
	struct file *exe = BPF_CORE_READ(parent, mm, exe_file);
	fs = BPF_CORE_READ(parent, fs);
	cut = exe && fs ? orb8_path(exe, &fs->root, (char *)e->parent_path) : -1;
	e->parent_path_truncated = cut > 0;
	if (cut < 0)
		e->parent_path[0] = 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!is_user_process(child))
		return 0;
	/* The child's own cgroup: clone3(CLONE_INTO_CGROUP) places it elsewhere than the parent. */
	__u64 cg = orb8_task_cgroup_id(child);
	struct proc_stats *s = stats_of(cg);
	if (s)
		s->forks++;
	track(BPF_CORE_READ(child, tgid), cg);
	return 0;
}

/*
 * An exec: counted, and sent to user space while someone listens, with the
 * new program's arguments and, where resolve (bpf_loop, 5.17), the
 * executables of the process and its parent.
 */
static __always_inline int on_exec(struct task_struct *p, struct linux_binprm *bprm, bool resolve)
{
	__u64 cg = orb8_current_cgroup_id();
	struct proc_stats *s = stats_of(cg);
	if (s)
		s->execs++;
	/*
	 * A process that predates the agent's seeding is learned here. Looked
	 * up first: an update that finds the key takes the bucket lock.
	 */
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!bpf_map_lookup_elem(&proc_cgroup, &tgid))
		track(tgid, cg);

	if (!orb8_emit_wanted(EVENT_EXEC))
		return 0;
	struct exec_event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	fill_task(&e->head, p, EVENT_EXEC, cg);
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	orb8_exec_args(p, e->args, &e->args_len, &e->args_truncated);
	if (resolve) {
		fill_paths(e, p, bprm);
	} else {
		e->path[0] = 0;
		e->parent_path[0] = 0;
		e->path_truncated = 0;
		e->parent_path_truncated = 0;
	}
	orb8_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm, true);
}

/* handle_exec where the kernel has no bpf_loop: executables unresolved. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec_unresolved, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return on_exec(p, bprm, false);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	if (BPF_CORE_READ(p, flags) & PF_KTHREAD)
		return 0;
	/*
	 * Every thread passes here. do_exit has already decremented signal->live,
	 * so a thread that leaves others running (a worker thread, the threads
	 * an exec from a non-leader kills) does not end the process.
	 */
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	__u64 *counted_in = bpf_map_lookup_elem(&proc_cgroup, &tgid);
	if (counted_in) {
		__u64 old = *counted_in;
		/* Threads that race here after the last decrement: only the one whose delete succeeds counts. */
		if (bpf_map_delete_elem(&proc_cgroup, &tgid))
			return 0;
		add_running(old, -1);
	} else if (BPF_CORE_READ(p, pid) != tgid) {
		/* Untracked: counted at its leader alone. */
		return 0;
	}

	__u64 cg = orb8_current_cgroup_id();
	__u32 code = BPF_CORE_READ(p, exit_code);
	__u32 sig = code & 0x7f;
	__u8 core = (code & 0x80) != 0;
	__u8 crash = core || is_fault_signal(sig);
	__u64 lifetime = bpf_ktime_get_boot_ns() - BPF_CORE_READ(p, group_leader, start_boottime);
	struct proc_stats *s = stats_of(cg);
	if (s) {
		if (sig)
			s->exits_signal++;
		else
			s->exits_code++;
		if (crash)
			s->crashes++;
		if (lifetime < SHORT_LIVED_NS)
			s->short_lived++;
	}

	if (!orb8_emit_wanted(EVENT_EXIT))
		return 0;
	struct event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	fill_task(e, p, EVENT_EXIT, cg);
	e->signal = sig;
	e->core_dumped = core;
	e->crash = crash;
	e->lifetime_ns = lifetime;
	e->exit_code = (code >> 8) & 0xff;
	orb8_submit(e);
	return 0;
}

/* Moves between cgroups (runc placing a container's init, systemd, kubelet). */
SEC("tp_btf/cgroup_attach_task")
int BPF_PROG(handle_attach, struct cgroup *dst, const char *path, struct task_struct *task, bool threadgroup)
{
	if (!orb8_workload_hierarchy(dst))
		return 0;
	if (BPF_CORE_READ(task, flags) & PF_KTHREAD)
		return 0;
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u64 to = BPF_CORE_READ(dst, kn, id);
	__u64 *from = bpf_map_lookup_elem(&proc_cgroup, &tgid);
	if (!from) {
		track(tgid, to);
		return 0;
	}
	if (*from == to)
		return 0;
	add_running(*from, -1);
	add_running(to, 1);
	*from = to;
	return 0;
}

/* Seeds proc_cgroup and the running gauges with the processes alive at start. */
SEC("iter/task")
int seed_processes(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || !is_user_process(t))
		return 0;
	track(BPF_CORE_READ(t, tgid), orb8_task_cgroup_id(t));
	return 0;
}
