//go:build ignore

/*
 * Memory: OOM kills counted per victim cgroup with a single event per kill,
 * page faults per cgroup and per process, and (optional, hot) page
 * allocations per cgroup and per process.
 *
 * Page faults have no hook: the kernel counts each thread's faults itself
 * (min_flt, maj_flt), and a hook on page_fault_user cost every fault of the
 * node ~220 ns (+15% of a fault here). A task iterator the agent runs every
 * 5 s, and each thread's exit, move what a thread faulted since its last
 * move to its cgroup's counter.
 *
 * Usage and limits: one walk of the memory controller's cgroup tree reads
 * every cgroup's page counter, where reading memory.current (or
 * memory.usage_in_bytes) cost ~4.5 us a cgroup every second in a PTI guest
 * (4.5% of a core beside 10,000 cgroups).
 */
#include "orb8.h"
#include "orb8_cgroup_walk.h"

#define PAGE_SIZE 4096
/*
 * Page allocations are counted per process (cheap: task storage) and moved
 * to the per-cgroup table in batches, to the cgroup the process is in at
 * that moment, and at exit: a hash lookup (and the cgroup's pointer chain)
 * per allocation would cost several times the rest of the hook.
 */
#define FLUSH_EVERY 64

struct mem_stats {
	__u64 oom_kills;
	__u64 page_faults;     /* minor and major faults, as the kernel counts them per task */
	__u64 pages_allocated; /* pages from the page allocator (mm_page_alloc) */
};

/* A process's page allocations, in its leader's task storage. */
struct proc_mem {
	__u64 pages_allocated;
	__u64 pages_flushed; /* the part already added to stats */
};

/* One thread in the top allocators iterator's output (comm: its leader's only); user space sums a process's. */
struct proc_record {
	__u64 cgroup_id;
	__u64 page_faults;
	__u64 pages_allocated;
	__u32 tgid;
	__u8 comm[16];
};

ORB8_ITER_RECORD(proc_record)

struct oom_event {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 uid;
	/* The victim's memory when it was chosen, in bytes (approximate:
	 * per-CPU deltas of the RSS counters are not folded in). */
	__u64 total_vm;
	__u64 anon_rss;
	__u64 file_rss;
	__u64 shmem_rss;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct mem_stats);
} stats SEC(".maps");

/*
 * Per-process counts live with the process (its leader task), per-thread
 * marks with the thread: no table to bound or clean up, and finding them is
 * a pointer chase, not a hash lookup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct proc_mem);
} procs SEC(".maps");

/* Per thread: the part of its fault count already added to stats. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} faults_flushed SEC(".maps");

/* When the programs were loaded (bpf_ktime_get_ns): threads started earlier are counted from then. */
const volatile __u64 loaded_at_ns;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
	__type(value, struct oom_event);
} events SEC(".maps");

static const struct mem_stats zero_stats;

static __always_inline struct mem_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

/* Adds a process's page allocations not yet flushed to a cgroup's entry in stats. */
static __always_inline void flush_pages(struct proc_mem *p, __u64 cgroup_id)
{
	__u64 pages = orb8_claim(&p->pages_flushed, p->pages_allocated);
	if (!pages)
		return;
	struct mem_stats *s = stats_of(cgroup_id);
	if (s)
		s->pages_allocated += pages;
}

static __always_inline __u64 thread_faults(struct task_struct *t)
{
	return t->min_flt + t->maj_flt;
}

/*
 * Adds what thread t faulted since its last flush to cgroup_id. A thread
 * first seen here that predates the programs is counted from now on.
 */
static __always_inline void flush_faults(struct task_struct *t, __u64 cgroup_id)
{
	__u64 now = thread_faults(t);
	bool predates;
	__u64 *mark = orb8_flush_mark(&faults_flushed, t, loaded_at_ns, &predates);
	if (!mark)
		return;
	if (predates) {
		*mark = now;
		return;
	}
	__u64 faults = orb8_claim(mark, now);
	if (!faults)
		return;
	struct mem_stats *s = stats_of(cgroup_id);
	if (s)
		s->page_faults += faults;
}

/* The current process's counts, created on its first allocation. */
static __always_inline struct proc_mem *current_proc(void)
{
	struct task_struct *leader = bpf_get_current_task_btf()->group_leader;
	struct proc_mem *p = bpf_task_storage_get(&procs, leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!p)
		orb8_count(ORB8_MAP_FULL); /* storage could not be allocated */
	return p;
}

static __always_inline __u64 rss_bytes(struct mm_struct *mm, int member)
{
	__s64 pages = BPF_CORE_READ(mm, rss_stat[member].count);
	return pages > 0 ? (__u64)pages * PAGE_SIZE : 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(handle_oom_victim, struct task_struct *task, uid_t uid)
{
	/* The victim's cgroup, not the allocating task's (current). */
	__u64 cg = orb8_task_cgroup_id(task);
	struct mem_stats *s = stats_of(cg);
	if (s)
		s->oom_kills++;

	struct oom_event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cg;
	e->pid = BPF_CORE_READ(task, tgid);
	e->uid = uid;
	e->total_vm = mm ? BPF_CORE_READ(mm, total_vm) * PAGE_SIZE : 0;
	e->anon_rss = mm ? rss_bytes(mm, MM_ANONPAGES) : 0;
	e->file_rss = mm ? rss_bytes(mm, MM_FILEPAGES) : 0;
	e->shmem_rss = mm ? rss_bytes(mm, MM_SHMEMPAGES) : 0;
	bpf_probe_read_kernel_str(e->comm, sizeof(e->comm), BPF_CORE_READ(task, comm));
	orb8_submit(e);
	return 0;
}

/* Optional: fires for every page the kernel allocates, so it is attached only on request. */
SEC("tp_btf/mm_page_alloc")
int BPF_PROG(handle_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags, int migratetype)
{
	/*
	 * Only allocations that may sleep: those in interrupts (which run on
	 * whatever task they interrupted) cannot, nor can kernel threads' atomic ones.
	 */
	if (!(gfp_flags & (1U << ___GFP_DIRECT_RECLAIM_BIT)))
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->flags & PF_KTHREAD)
		return 0;
	struct proc_mem *p = current_proc();
	if (!p)
		return 0;
	__u64 pages = 1ULL << order;
	if (__sync_fetch_and_add(&p->pages_allocated, pages) + pages - p->pages_flushed >= FLUSH_EVERY)
		flush_pages(p, orb8_current_cgroup_id());
	return 0;
}

/* A thread that ends hands its last faults to its cgroup, a process its page allocations. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task, bool group_dead)
{
	if (task->flags & PF_KTHREAD)
		return 0;
	__u64 cg = orb8_task_cgroup_id(task);
	flush_faults(task, cg);
	if (!group_dead)
		return 0;
	struct proc_mem *p = bpf_task_storage_get(&procs, task->group_leader, 0, 0);
	if (p)
		flush_pages(p, cg);
	return 0;
}

/* Moves every thread's faults since its last flush to its cgroup; the agent runs it every 5 s. */
SEC("iter/task")
int flush_all_faults(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || (t->flags & PF_KTHREAD))
		return 0;
	flush_faults(t, orb8_btf_task_cgroup_id(t));
	return 0;
}

/*
 * Lists every user thread's faults since it started, for the top
 * allocators: a leader also carries the faults of its process's ended
 * threads, and its page allocations.
 */
SEC("iter/task")
int list_allocators(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	if (!t || (t->flags & PF_KTHREAD))
		return 0;
	struct proc_record r = {
		.cgroup_id = orb8_btf_task_cgroup_id(t),
		.page_faults = thread_faults(t),
		.tgid = t->tgid,
	};
	if (t->pid == t->tgid) {
		r.page_faults += t->signal->min_flt + t->signal->maj_flt;
		struct proc_mem *p = bpf_task_storage_get(&procs, t, 0, 0);
		if (p)
			r.pages_allocated = p->pages_allocated;
		__builtin_memcpy(r.comm, t->comm, sizeof(r.comm)); /* the process's name, not a thread's */
	}
	write_proc_record(ctx->meta->seq, &r);
	return 0;
}

/*
 * A cgroup's memory controller figures, in pages: memory.current (cgroup
 * v1: memory.usage_in_bytes) is the usage of its page counter, memory.max
 * (memory.limit_in_bytes) the counter's max (PAGE_COUNTER_MAX: none). A
 * cgroup2 cgroup whose parent does not enable the controller has none, nor
 * files: where another controller needs it (io), its memcg is there but
 * hidden (the kernel's css_visible).
 */
struct cgroup_memory {
	__u64 id;
	__u64 usage_pages;
	__u64 max_pages;
	__u32 has_memory;
	__u32 pad;
};

ORB8_CGROUP_WALK(cgroup_memory)

/* The agent runs it every 5 s, over the tree of the hierarchy that has the memory controller. */
SEC("iter/cgroup")
int walk_memory(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;
	struct cgroup_memory *m = walk_slot(ctx->meta, cgrp);
	if (!m)
		return 0;
	m->usage_pages = m->max_pages = 0;
	m->has_memory = 0;
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id))
		return 0;
	__u32 ssid = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);
	struct cgroup_subsys_state *css = BPF_CORE_READ(cgrp, subsys[ssid]);
	if (!css || !(BPF_CORE_READ(cgrp, self.parent, cgroup, subtree_control) & (1 << ssid)))
		return 0;
	/* mem_cgroup begins with its css */
	struct mem_cgroup *memcg = (struct mem_cgroup *)css;
	m->usage_pages = BPF_CORE_READ(memcg, memory.usage.counter);
	m->max_pages = BPF_CORE_READ(memcg, memory.max);
	m->has_memory = 1;
	return 0;
}
