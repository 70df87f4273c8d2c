//go:build ignore

/*
 * Memory: OOM kills counted per victim cgroup with a single event per kill,
 * user page faults counted per cgroup and per process, and (optional, hot)
 * page allocations per cgroup and per process.
 */
#include "orb8.h"

#define PAGE_SIZE 4096
/* Processes whose allocations are tracked for the top allocator list. */
#define MAX_PROCS 16384

struct mem_stats {
	__u64 oom_kills;
	__u64 page_faults;     /* user-mode page faults */
	__u64 pages_allocated; /* pages from the page allocator (mm_page_alloc) */
};

struct proc_mem {
	__u64 cgroup_id;
	__u64 page_faults;
	__u64 pages_allocated;
	__u8 comm[16];
};

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

/* Keeps struct oom_event in BTF so bpf2go emits its Go twin. */
const struct oom_event *unused_oom_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct mem_stats);
} stats SEC(".maps");

/*
 * tgid -> allocation counts. LRU: a process that stops faulting makes room
 * for new ones instead of a full map dropping them; exits delete their entry.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PROCS);
	__type(key, __u32);
	__type(value, struct proc_mem);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} events SEC(".maps");

static const struct mem_stats zero_stats;

static __always_inline struct mem_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

/* The current process's entry in procs, created on its first allocation. */
static __always_inline struct proc_mem *current_proc(__u64 cgroup_id)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct proc_mem *p = bpf_map_lookup_elem(&procs, &tgid);
	if (p) {
		p->cgroup_id = cgroup_id; /* follows moves between cgroups */
		return p;
	}
	struct proc_mem fresh = { .cgroup_id = cgroup_id };
	bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
	bpf_map_update_elem(&procs, &tgid, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&procs, &tgid);
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
		__sync_fetch_and_add(&s->oom_kills, 1);

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
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(handle_page_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	__u64 cg = bpf_get_current_cgroup_id();
	struct mem_stats *s = stats_of(cg);
	if (s)
		s->page_faults++;
	struct proc_mem *p = current_proc(cg);
	if (p)
		__sync_fetch_and_add(&p->page_faults, 1);
	return 0;
}

/* Optional: fires for every page the kernel allocates, so it is attached only on request. */
SEC("tp_btf/mm_page_alloc")
int BPF_PROG(handle_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags, int migratetype)
{
	struct task_struct *t = bpf_get_current_task_btf();
	if (t->flags & PF_KTHREAD)
		return 0;
	__u64 pages = 1ULL << order;
	__u64 cg = bpf_get_current_cgroup_id();
	struct mem_stats *s = stats_of(cg);
	if (s)
		s->pages_allocated += pages;
	struct proc_mem *p = current_proc(cg);
	if (p)
		__sync_fetch_and_add(&p->pages_allocated, pages);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}
