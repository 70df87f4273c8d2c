//go:build ignore

/*
 * CUDA runtime (libcudart) and driver (libcuda) API calls, aggregated per
 * cgroup in the kernel: kernel launches, device memory allocated, freed and
 * outstanding, and memcpy bytes by direction.
 *
 * Every hooked function gets its meaning from the attach cookie (enum op), so
 * one entry and one return program serve all symbols.
 *
 * No double counting: a call with a return probe leaves a per-thread record
 * (calls) from entry to return; any hooked call made while a record exists
 * (cudaMalloc reaching cuMemAlloc_v2, cudaLaunchKernel reaching cuLaunchKernel)
 * is nested and skipped. Only the outermost call is counted.
 */
#include "orb8.h"

#define PROT_EXEC 0x4
#define MAX_THREADS_IN_CALLS 16384
#define MAX_ALLOCATIONS 65536
#define MAX_PROCESSES 8192
/* A process that maps executable files is reported at most this often. */
#define MMAP_REPORT_GAP_NS (100 * 1000 * 1000ULL)

/* What a hooked function is: the attach cookie. */
enum op {
	OP_MALLOC = 1,  /* (void **ptr, size_t size, ...): counted on successful return */
	OP_FREE = 2,    /* (void *ptr, ...) */
	OP_LAUNCH = 3,  /* kernel launch */
	OP_MEMCPY = 4,  /* runtime: (dst, src, count, enum cudaMemcpyKind kind, ...) */
	OP_COPY_H2D = 5, /* driver, direction in the name: (dst, src, count, ...) */
	OP_COPY_D2H = 6,
	OP_COPY_D2D = 7,
	OP_COPY_ANY = 8, /* driver cuMemcpy/cuMemcpyAsync: unified addressing, direction unknown */
};

enum copy_kind {
	COPY_H2D = 0,
	COPY_D2H = 1,
	COPY_D2D = 2,
	COPY_OTHER = 3,
	COPY_KINDS = 4,
};

struct cuda_stats {
	__u64 launches;
	__u64 malloc_bytes;
	__u64 free_bytes;
	__s64 outstanding; /* per-CPU delta; the sum over CPUs is the gauge */
	__u64 memcpy_bytes[COPY_KINDS];
};

/* A hooked call in progress on one thread. */
struct call {
	__u32 op;
	__u32 depth; /* hooked calls nested in it, plus one */
	__u64 arg[4];
};

struct alloc_key {
	__u32 tgid;
	__u32 pad;
	__u64 ptr;
};

struct alloc {
	__u64 size;
	__u64 cgroup_id;
};

/* A process mapped an executable file: user space looks for CUDA libraries in it. */
struct mmap_event {
	__u32 tgid;
};

/* Keep these in BTF so bpf2go emits their Go twins. */
const struct mmap_event *unused_mmap_event __attribute__((unused));
const enum op *unused_op __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct cuda_stats);
} stats SEC(".maps");

/* pid_tgid -> the outermost hooked call running on that thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_THREADS_IN_CALLS);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

/* (process, device pointer) -> live allocation. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_ALLOCATIONS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct alloc_key);
	__type(value, struct alloc);
} allocs SEC(".maps");

/* Processes with live allocations: only their exit walks allocs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCESSES);
	__type(key, __u32);
	__type(value, __u8);
} owners SEC(".maps");

/* tgid -> last time its executable mappings were reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PROCESSES);
	__type(key, __u32);
	__type(value, __u64);
} mmap_reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} mmaps SEC(".maps");

static const struct cuda_stats zero_stats;

static __always_inline struct cuda_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

static __always_inline void count_memcpy(__u32 kind, __u64 bytes)
{
	/* Masked in asm: clang would drop a C mask it can prove redundant, and the verifier needs it. */
	asm volatile("%0 &= 3" : "+r"(kind));
	struct cuda_stats *s = stats_of(bpf_get_current_cgroup_id());
	if (s)
		s->memcpy_bytes[kind] += bytes;
}

/* enum cudaMemcpyKind: 0 host->host, 1 h2d, 2 d2h, 3 d2d, 4 default (inferred by the runtime). */
static __always_inline __u32 runtime_copy_kind(__u64 kind)
{
	switch (kind) {
	case 1:
		return COPY_H2D;
	case 2:
		return COPY_D2H;
	case 3:
		return COPY_D2D;
	}
	return COPY_OTHER;
}

static __always_inline void record_alloc(__u64 ptr, __u64 size)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct alloc_key k = {.tgid = tgid, .ptr = ptr};
	struct alloc a = {.size = size, .cgroup_id = cg};
	struct alloc *old = bpf_map_lookup_elem(&allocs, &k);
	if (old) {
		/* The pointer was freed where we could not see it: forget the old size. */
		struct cuda_stats *os = stats_of(old->cgroup_id);
		if (os)
			os->outstanding -= old->size;
	}
	struct cuda_stats *s = stats_of(cg);
	if (s)
		s->malloc_bytes += size;
	if (bpf_map_update_elem(&allocs, &k, &a, BPF_ANY)) {
		orb8_count(ORB8_MAP_FULL);
		return;
	}
	if (s)
		s->outstanding += size;
	__u8 one = 1;
	if (bpf_map_update_elem(&owners, &tgid, &one, BPF_ANY))
		orb8_count(ORB8_MAP_FULL);
}

static __always_inline void record_free(__u64 ptr)
{
	struct alloc_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .ptr = ptr};
	struct alloc *a = bpf_map_lookup_elem(&allocs, &k);
	if (!a)
		return; /* NULL, or allocated before the library was hooked */
	struct cuda_stats *s = stats_of(a->cgroup_id);
	if (s) {
		s->free_bytes += a->size;
		s->outstanding -= a->size;
	}
	bpf_map_delete_elem(&allocs, &k);
}

/* Entry of a hooked call that also has a return probe. */
SEC("uprobe")
int BPF_KPROBE(call_enter, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &id);
	if (c) {
		c->depth++;
		return 0;
	}
	struct call n = {
		.op = bpf_get_attach_cookie(ctx),
		.depth = 1,
		.arg = {a0, a1, a2, a3},
	};
	if (bpf_map_update_elem(&calls, &id, &n, BPF_NOEXIST))
		orb8_count(ORB8_MAP_FULL);
	return 0;
}

/* Return of a hooked call: the outermost one is counted if it succeeded. */
SEC("uretprobe")
int BPF_KRETPROBE(call_return, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &id);
	if (!c)
		return 0;
	if (c->depth > 1) {
		c->depth--;
		return 0;
	}
	struct call done = *c;
	bpf_map_delete_elem(&calls, &id);
	if (ret != 0) /* cudaSuccess / CUDA_SUCCESS */
		return 0;

	switch (done.op) {
	case OP_MALLOC: {
		__u64 ptr = 0;
		if (bpf_probe_read_user(&ptr, sizeof(ptr), (void *)done.arg[0]) == 0 && ptr)
			record_alloc(ptr, done.arg[1]);
		break;
	}
	case OP_FREE:
		record_free(done.arg[0]);
		break;
	case OP_LAUNCH: {
		struct cuda_stats *s = stats_of(bpf_get_current_cgroup_id());
		if (s)
			s->launches++;
		break;
	}
	case OP_MEMCPY:
		count_memcpy(runtime_copy_kind(done.arg[3]), done.arg[2]);
		break;
	}
	return 0;
}

/*
 * Entry-only hook of a driver call (launch, free, memcpy): cheaper than
 * entry+return, counted unless it runs inside another hooked call.
 */
SEC("uprobe")
int BPF_KPROBE(driver_call, __u64 a0, __u64 a1, __u64 a2)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (bpf_map_lookup_elem(&calls, &id))
		return 0;
	__u32 op = bpf_get_attach_cookie(ctx);
	switch (op) {
	case OP_LAUNCH: {
		struct cuda_stats *s = stats_of(bpf_get_current_cgroup_id());
		if (s)
			s->launches++;
		break;
	}
	case OP_FREE:
		record_free(a0);
		break;
	case OP_COPY_H2D:
	case OP_COPY_D2H:
	case OP_COPY_D2D:
	case OP_COPY_ANY:
		count_memcpy(op - OP_COPY_H2D, a2);
		break;
	}
	return 0;
}

/* Releases one allocation of an exited process (bpf_for_each_map_elem callback). */
static long release_alloc(struct bpf_map *map, struct alloc_key *k, struct alloc *a, __u32 *tgid)
{
	if (k->tgid != *tgid)
		return 0;
	struct cuda_stats *s = stats_of(a->cgroup_id);
	if (s)
		s->outstanding -= a->size;
	bpf_map_delete_elem(map, k);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	/* A thread that dies inside a hooked call must not leave its record behind. */
	bpf_map_delete_elem(&calls, &id);
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads of the process live on */
	__u32 tgid = id >> 32;
	if (bpf_map_delete_elem(&owners, &tgid))
		return 0; /* no device memory tracked for it */
	bpf_for_each_map_elem(&allocs, release_alloc, &tgid, 0);
	return 0;
}

/* An executable file mapping (a library at exec or dlopen): report the process. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int watch_mmap(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[2] & PROT_EXEC) || (int)ctx->args[4] < 0)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(&mmap_reported, &tgid);
	if (last && now - *last < MMAP_REPORT_GAP_NS)
		return 0;
	bpf_map_update_elem(&mmap_reported, &tgid, &now, BPF_ANY);
	struct mmap_event *e = orb8_reserve(&mmaps, sizeof(*e));
	if (!e)
		return 0;
	e->tgid = tgid;
	orb8_submit(e);
	return 0;
}
