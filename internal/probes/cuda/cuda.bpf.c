//go:build ignore

/*
 * Accelerator runtime API calls, aggregated per cgroup and runtime in the
 * kernel: the CUDA runtime (libcudart) and driver (libcuda), AMD's HIP
 * runtime (libamdhip64) and the AWS Neuron runtime (libnrt). Kernel launches
 * (Neuron: model executions), device memory allocated, freed and outstanding
 * (Neuron: device tensors), and memcpy bytes by direction; and GEMMs of
 * cuBLAS and cuBLASLt, with FLOP estimates where the arguments give m, n and
 * k. The runtime travels in the attach cookie and is part of the stats key:
 * one table, one lookup per call, whatever the runtime.
 *
 * Every hooked function gets its meaning from the attach cookie (enum op, and
 * where the function lies in its library's code: enum cookie), so one program
 * serves all entry-only symbols and one pair all entry+return ones.
 *
 * Cost: each probe hit is a trap (~0.5-3 us), far more than the programs, so
 * most calls get one probe, at entry (call_entry), and are counted there,
 * failed or not. Only allocations, whose pointer is known at return, have a
 * return probe too (alloc_enter, alloc_return) and count on success.
 *
 * Sampled calls: launches and GEMMs, the calls a launch-bound process makes
 * by the hundred thousand a second, are hooked per process (sampled_entry,
 * one uprobe_multi link per library file and process), which user space
 * attaches in short windows and detaches in between. Each window's calls
 * are counted exactly in stats and, per process, in windows, from which
 * user space estimates the calls between windows. A window also times its
 * threads' steps from one counted launch to the next, by the launch traps
 * each took, less the time its programs ran: from these user space learns
 * what a trap costs that process while the window is open.
 *
 * No double counting: a hooked call made by libcudart's own code
 * (cudaLaunchKernel reaching cuLaunchKernel, cudaMalloc reaching
 * cuMemAlloc_v2) is nested in the runtime call that counts it, and skipped.
 * Each hooked runtime entry records, in the thread's storage, where the code
 * of its libcudart lies in this process (the probe's address less its offset
 * in the library's executable segment, plus the segment's size); a hooked
 * entry whose return address (at the stack pointer) lies there is nested.
 * cuBLAS over cuBLASLt is a second such family (COOKIE_BLAS), with its own
 * record: a cublasLtMatmul that cublasSgemm_v2 makes is its GEMM, while the
 * kernels cuBLASLt launches through the runtime are launches all the same.
 * Nothing waits for a runtime call to reach the driver or to return, so a
 * runtime call that never reaches the driver is counted once, and a driver
 * call that the application makes itself, before or after any runtime call,
 * always counts. Not caught: a hooked driver function that the runtime
 * tail-calls (the real runtime translates the driver's result into its own
 * codes and records the thread's last error, so it does not), and a hooked
 * driver call that an unhooked runtime function makes (cudaMemcpyToSymbol):
 * skipped, as if a hooked runtime call had counted it.
 */
#include "orb8_mmap.h"

#define MAX_ALLOCATIONS 65536
#define MAX_PROCESSES 8192

/* What a hooked function is: the low 5 bits of the attach cookie. */
enum op {
	OP_MALLOC = 1,  /* (void **ptr, size_t size, ...): counted on successful return */
	OP_FREE = 2,    /* (void *ptr, ...) */
	OP_LAUNCH = 3,  /* kernel launch */
	OP_MEMCPY = 4,  /* runtime: (dst, src, count, enum cudaMemcpyKind kind, ...) */
	OP_COPY_H2D = 5, /* driver, direction in the name: (dst, src, count, ...) */
	OP_COPY_D2H = 6,
	OP_COPY_D2D = 7,
	OP_COPY_ANY = 8, /* driver cuMemcpy/cuMemcpyAsync: unified addressing, direction unknown */
	OP_GEMM = 9,         /* cuBLAS (handle, transa, transb, int m, int n, int k, ...): 2mnk FLOPs */
	OP_GEMM_COMPLEX = 10, /* complex: 8mnk FLOPs */
	OP_GEMM_OPAQUE = 11,  /* cublasLtMatmul: shapes in opaque descriptors, no FLOPs */
	OP_CALIBRATE = 12,    /* the agent's own calibration function: a launch, counted apart */
	OP_TENSOR_ALLOC = 13, /* nrt_tensor_allocate(placement, nc, size, name, nrt_tensor_t **out): device placement only */
	OP_TENSOR_FREE = 14,  /* nrt_tensor_free(nrt_tensor_t **tensor) */
	OP_LAUNCH_REPEAT = 15, /* nrt_execute_repeat(model, in, out, int repeat_count): repeat_count launches */
	/* 16, 17: the kernel name hooks (enum name_op) */
	OP_MODEL_LOAD = 18, /* nrt_load(neff, size, start_nc, nc_count, nrt_model_t **out): a model loaded, on success */
	/* nrt_load_collectives(neff, size, start_nc, nc_count, g_device_id, g_device_count, nrt_model_t **out) */
	OP_MODEL_LOAD_COLLECTIVES = 19,
};

/* The runtime whose library a hooked function is in. */
enum runtime {
	RUNTIME_CUDA = 0,
	RUNTIME_HIP = 1,
	RUNTIME_NRT = 2,
	RUNTIMES = 3,
};

/* The rest of the attach cookie. */
enum cookie {
	COOKIE_OP = 0x1f,
	COOKIE_RUNTIME_SHIFT = 5,      /* 2 bits: enum runtime */
	COOKIE_OUTER = 0x100,          /* a libcudart or libcublas function: it records its library's code */
	COOKIE_BLAS = 0x200,           /* the cuBLAS family (cuBLAS, cuBLASLt), else the runtime's */
	COOKIE_DRIVER = 0x400,         /* a launch by the driver (libcuda), else by the runtime */
	COOKIE_BATCH_ARG_SHIFT = 11,   /* 5 bits: a batched GEMM's batch count is this (stack) argument, 1-based */
	COOKIE_TEXT_PAGES_SHIFT = 16,  /* 16 bits: its library's executable segment, in 4 KiB pages */
	COOKIE_TEXT_OFFSET_SHIFT = 32, /* 32 bits: the probe's offset in that segment */
};

enum copy_kind {
	COPY_H2D = 0,
	COPY_D2H = 1,
	COPY_D2D = 2,
	COPY_OTHER = 3,
	COPY_KINDS = 4,
};

struct stats_key {
	__u64 cgroup_id;
	__u32 runtime;
	__u32 pad;
};

struct cuda_stats {
	__u64 launches;
	__u64 malloc_bytes;
	__u64 free_bytes;
	__s64 outstanding; /* per-CPU delta; the sum over CPUs is the gauge */
	__u64 memcpy_bytes[COPY_KINDS];
	__u64 gemms;
	__u64 gemm_flops;
	__s64 models; /* models loaded and not unloaded (nrt), per-CPU delta like outstanding */
};

/* What a thread's hooked calls leave for the next ones. */
struct thread {
	/*
	 * Per family (runtime, cuBLAS): start and end of the code of the outer
	 * library whose hooked function it last entered (0, 0: none yet).
	 */
	__u64 outer[2][2];
	/* The counted allocation in progress: its return address's stack slot (0: none), arguments. */
	__u64 alloc_slot;
	__u64 alloc_arg[2]; /* where the pointer is returned, size */
	__u32 alloc_runtime;
	__u32 alloc_model; /* the allocation in progress is a model load */
	/* The sampling window it last trapped in. */
	__u64 window;
	/*
	 * Its step in that window (see struct window): when the program that
	 * counted its last launch started (0: none yet), the launch traps
	 * since, and the time their programs ran.
	 */
	__u64 step_start;
	__u64 step_traps;
	__u64 step_bpf_ns;
};

struct alloc_key {
	__u32 tgid;
	__u32 pad;
	__u64 ptr;
};

/* A tracked allocation, or (model) a loaded model, whose size is no device memory of ours. */
struct alloc {
	__u64 size;
	__u64 cgroup_id;
	__u32 runtime;
	__u32 model;
};

/* Levels a launch is counted at: the runtime's (libcudart) or the driver's. */
enum level {
	LEVEL_RUNTIME = 0,
	LEVEL_DRIVER = 1,
	LEVELS = 2,
};

/*
 * What a process's sampled calls did in its current window, which user
 * space opens by creating the entry (zeroed) once the window's probes are
 * attached, and reads to close it.
 */
struct window {
	__u64 id;               /* set by user space, distinct per window */
	__u64 step_cap;         /* set by user space: longer steps are not timed */
	__u64 threads;          /* threads that trapped in it */
	__u64 traps;            /* probe hits, nested or not: what the window cost */
	__u64 launches[LEVELS]; /* counted (not nested), by level */
	__u64 gemms;            /* counted */
	__u64 gemm_flops;       /* of the counted GEMMs */
	__u64 cgroup_id;        /* of the last counted call */
	__u64 bpf_ns;           /* that sampled_entry ran in it */
	/*
	 * A step of a thread runs from one launch it counted to the next. By
	 * the launch traps it took (one, or two where the driver call under a
	 * runtime launch is hooked too): how many were timed, and their time
	 * less that of the programs run in them. The difference of the two
	 * means is what a trap costs in this process, now, besides its program.
	 */
	__u64 steps[2];
	__u64 step_ns[2];
};

/* A process mapped a CUDA library: user space reads its maps and hooks the file. */
struct mmap_event {
	__u32 tgid;
};

/*
 * The attach cookie's layout reaches the programs through no record or map,
 * so these two anchors carry it into BTF for bpf2go.
 */
const enum op *unused_op __attribute__((unused));
const enum cookie *unused_cookie __attribute__((unused));
const enum level *unused_level __attribute__((unused));
const enum runtime *unused_runtime __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, struct stats_key);
	__type(value, struct cuda_stats);
} stats SEC(".maps");

/* The agent's calibration launches, kept out of stats: what it costs to count a launch. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4);
	__type(key, __u64);
	__type(value, struct cuda_stats);
} calibration SEC(".maps");

/*
 * Per thread that made a hooked call. Task storage: no hashing or bucket lock
 * per call, bounded by the threads, freed with them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct thread);
} threads SEC(".maps");

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

/* tgid -> its open window of sampled calls. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PROCESSES);
	__type(key, __u32);
	__type(value, struct window);
} windows SEC(".maps");

/* tgid -> last time its CUDA library mappings were reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PROCESSES);
	__type(key, __u32);
	__type(value, __u64);
} mmap_reported SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
	__type(value, struct mmap_event);
} mmaps SEC(".maps");

/* Its own wakeup time: the launches ring is another (orb8_submit_to). */
static __u64 mmaps_last_wakeup_ns;

#include "kernels.bpf.h"

static const struct cuda_stats zero_stats;

static __always_inline struct cuda_stats *stats_of(__u64 cgroup_id, __u32 runtime)
{
	struct stats_key k = {.cgroup_id = cgroup_id, .runtime = runtime};
	return orb8_lookup_or_init(&stats, &k, &zero_stats);
}

static __always_inline __u32 runtime_of(__u64 cookie)
{
	return (cookie >> COOKIE_RUNTIME_SHIFT) & 3;
}

static __always_inline void count_memcpy(__u32 kind, __u64 bytes, __u32 runtime)
{
	/* Masked in asm: clang would drop a C mask it can prove redundant, and the verifier needs it. */
	asm volatile("%0 &= 3" : "+r"(kind));
	struct cuda_stats *s = stats_of(orb8_current_cgroup_id(), runtime);
	if (s)
		s->memcpy_bytes[kind] += bytes;
}

/*
 * enum cudaMemcpyKind, and hipMemcpyKind numbered alike: 0 host->host, 1 h2d,
 * 2 d2h, 3 d2d, 4 default (inferred by the runtime).
 */
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

/* Takes a tracked allocation or model out of its workload's gauges (freed, or its process gone). */
static __always_inline void release(const struct alloc *a)
{
	struct cuda_stats *s = stats_of(a->cgroup_id, a->runtime);
	if (!s)
		return;
	if (a->model)
		s->models--;
	else
		s->outstanding -= a->size;
}

static __always_inline void record_alloc(__u64 ptr, __u64 size, __u32 runtime, __u32 model)
{
	__u64 cg = orb8_current_cgroup_id();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct alloc_key k = {.tgid = tgid, .ptr = ptr};
	struct alloc a = {.size = size, .cgroup_id = cg, .runtime = runtime, .model = model};
	struct alloc *old = bpf_map_lookup_elem(&allocs, &k);
	if (old) /* The pointer was freed where we could not see it: forget it. */
		release(old);
	struct cuda_stats *s = stats_of(cg, runtime);
	if (s && !model)
		s->malloc_bytes += size;
	if (bpf_map_update_elem(&allocs, &k, &a, BPF_ANY)) {
		orb8_count(ORB8_MAP_FULL);
		if (old) /* released above: not again at its free or exit */
			bpf_map_delete_elem(&allocs, &k);
		return;
	}
	if (s && model)
		s->models++;
	else if (s)
		s->outstanding += size;
	__u8 one = 1;
	if (bpf_map_update_elem(&owners, &tgid, &one, BPF_ANY))
		orb8_count(ORB8_MAP_FULL);
}

/* A free (or a model's unload) of a tracked pointer. */
static __always_inline void record_free(__u64 ptr)
{
	struct alloc_key k = {.tgid = bpf_get_current_pid_tgid() >> 32, .ptr = ptr};
	struct alloc *a = bpf_map_lookup_elem(&allocs, &k);
	if (!a)
		return; /* NULL, or allocated before the library was hooked */
	struct cuda_stats *s = stats_of(a->cgroup_id, a->runtime);
	if (s && !a->model)
		s->free_bytes += a->size;
	release(a);
	bpf_map_delete_elem(&allocs, &k);
}

static __always_inline struct thread *current_thread(void)
{
	return bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}

/*
 * Whether a hooked entry runs inside a hooked call of its family's outer
 * library: its return address lies in that library's code, which an outer
 * entry (re)sets.
 */
static __always_inline int nested(struct thread *t, struct pt_regs *ctx, __u64 cookie)
{
	__u64 *code = t->outer[(cookie & COOKIE_BLAS) ? 1 : 0];
	if (cookie & COOKIE_OUTER) {
		code[0] = PT_REGS_IP(ctx) - (cookie >> COOKIE_TEXT_OFFSET_SHIFT);
		code[1] = code[0] + (((cookie >> COOKIE_TEXT_PAGES_SHIFT) & 0xffff) << 12);
	}
	if (!code[1])
		return 0;
	__u64 caller = orb8_return_address(ctx);
	return caller >= code[0] && caller < code[1];
}

/* An int argument as the callee sees it: the register's low half; 0 if negative. */
static __always_inline __u64 dim(__u64 reg)
{
	__s32 v = reg;
	return v > 0 ? v : 0;
}

/*
 * A GEMM: one call, and 2mnk FLOPs (8mnk complex) times the batch count, the
 * stack argument the cookie names for a batched one (read at entry: the
 * return address is at the stack pointer, the 7th argument above it).
 */
static __always_inline __u64 count_gemm(struct pt_regs *ctx, __u32 op, __u64 cookie, __u64 cg)
{
	struct cuda_stats *s = stats_of(cg, runtime_of(cookie));
	if (!s)
		return 0;
	s->gemms++;
	if (op == OP_GEMM_OPAQUE)
		return 0;
	__u64 flops = dim(PT_REGS_PARM4(ctx)) * dim(PT_REGS_PARM5(ctx)) * dim(orb8_parm6(ctx)) * (op == OP_GEMM_COMPLEX ? 8 : 2);
	__u64 arg = (cookie >> COOKIE_BATCH_ARG_SHIFT) & 0x1f;
	if (arg) {
		__u64 batch = 0;
		bpf_probe_read_user(&batch, sizeof(batch), (void *)orb8_stack_arg_addr(ctx, arg));
		flops *= dim(batch);
	}
	s->gemm_flops += flops;
	return flops;
}

/* Counts one sampled call in its process's open window, if any. */
static __always_inline void count_window(struct window *w, __u64 *counter, __u64 cg)
{
	if (!w)
		return;
	__sync_fetch_and_add(counter, 1);
	w->cgroup_id = cg;
}

/* Ends a thread's step at a launch it counted in its window (its program started at start), and starts the next. */
static __always_inline void time_step(struct window *w, struct thread *t, __u64 start)
{
	if (!t)
		return;
	__u64 traps = t->step_traps;
	__u64 took = start - t->step_start;
	if (t->step_start && traps >= 1 && traps <= 2 && took <= w->step_cap && took > t->step_bpf_ns) {
		__sync_fetch_and_add(&w->steps[traps - 1], 1);
		__sync_fetch_and_add(&w->step_ns[traps - 1], took - t->step_bpf_ns);
	}
	t->step_start = start;
	t->step_traps = 0;
	t->step_bpf_ns = 0;
}

/*
 * Entry of a hooked call without a return probe: launches, frees, copies and
 * GEMMs, counted here unless nested. A thread without storage
 * (none could be allocated) is counted, nested or not. w: the process's
 * open window, for a sampled call.
 */
static __always_inline int count_call(struct pt_regs *ctx, __u64 cookie, struct window *w, struct thread *t,
				      __u64 start)
{
	__u32 op = cookie & COOKIE_OP;
	if (w && t) {
		if (t->window != w->id) {
			t->window = w->id;
			t->step_start = 0;
			__sync_fetch_and_add(&w->threads, 1);
		}
		if (op == OP_LAUNCH)
			t->step_traps++;
	}
	if (t && nested(t, ctx, cookie))
		return 0;
	__u32 runtime = runtime_of(cookie);
	switch (op) {
	case OP_LAUNCH:
	case OP_CALIBRATE: {
		__u64 cg = orb8_current_cgroup_id();
		struct cuda_stats *s = op == OP_LAUNCH ? stats_of(cg, runtime) : orb8_lookup_or_init(&calibration, &cg, &zero_stats);
		if (s)
			s->launches++;
		if (op == OP_LAUNCH && runtime == RUNTIME_CUDA) /* kernel names are the CUDA runtime's and driver's */
			record_launch(ctx, cookie, cg);
		if (w) {
			count_window(w, &w->launches[(cookie & COOKIE_DRIVER) ? LEVEL_DRIVER : LEVEL_RUNTIME], cg);
			if (op == OP_LAUNCH)
				time_step(w, t, start);
		}
		break;
	}
	case OP_LAUNCH_REPEAT: {
		struct cuda_stats *s = stats_of(orb8_current_cgroup_id(), runtime);
		if (s)
			s->launches += dim(PT_REGS_PARM4(ctx));
		break;
	}
	case OP_FREE:
		record_free(PT_REGS_PARM1(ctx));
		break;
	case OP_TENSOR_FREE: {
		__u64 tensor = 0;
		if (bpf_probe_read_user(&tensor, sizeof(tensor), (void *)PT_REGS_PARM1(ctx)) == 0)
			record_free(tensor);
		break;
	}
	case OP_MEMCPY:
		count_memcpy(runtime_copy_kind(PT_REGS_PARM4(ctx)), PT_REGS_PARM3(ctx), runtime);
		break;
	case OP_COPY_H2D:
	case OP_COPY_D2H:
	case OP_COPY_D2D:
	case OP_COPY_ANY:
		count_memcpy(op - OP_COPY_H2D, PT_REGS_PARM3(ctx), runtime);
		break;
	case OP_GEMM:
	case OP_GEMM_COMPLEX:
	case OP_GEMM_OPAQUE: {
		__u64 cg = orb8_current_cgroup_id();
		__u64 flops = count_gemm(ctx, op, cookie, cg);
		if (w) {
			count_window(w, &w->gemms, cg);
			__sync_fetch_and_add(&w->gemm_flops, flops);
		}
		break;
	}
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(call_entry)
{
	return count_call(ctx, bpf_get_attach_cookie(ctx), 0, current_thread(), 0);
}

/*
 * Entry of a sampled call (launch, GEMM), attached per process while its
 * window is open. Every hit is a trap the window paid for.
 */
SEC("uprobe.multi")
int BPF_KPROBE(sampled_entry)
{
	__u64 start = bpf_ktime_get_ns();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct window *w = bpf_map_lookup_elem(&windows, &tgid);
	struct thread *t = current_thread();
	if (w)
		__sync_fetch_and_add(&w->traps, 1);
	count_call(ctx, bpf_get_attach_cookie(ctx), w, t, start);
	if (w) {
		__u64 ran = bpf_ktime_get_ns() - start;
		__sync_fetch_and_add(&w->bpf_ns, ran);
		if (t && t->window == w->id)
			t->step_bpf_ns += ran;
	}
	return 0;
}

/*
 * Entry of an allocation (ptr, size, ...; a Neuron tensor: placement, nc,
 * size, name, out; a Neuron model load: neff, size, nc, count, out): unless
 * nested, remembered for its return, with the stack address of its return
 * address. A Neuron tensor placed in host or virtual memory is no device
 * memory, and not counted; a model is counted as one model, not as bytes.
 */
SEC("uprobe")
int BPF_KPROBE(alloc_enter, __u64 ptr, __u64 size)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u32 op = cookie & COOKIE_OP;
	if (op == OP_TENSOR_ALLOC) {
		if ((__u32)PT_REGS_PARM1(ctx) != 0) /* NRT_TENSOR_PLACEMENT_DEVICE */
			return 0;
		ptr = PT_REGS_PARM5(ctx);
		size = PT_REGS_PARM3(ctx);
	} else if (op == OP_MODEL_LOAD) {
		ptr = PT_REGS_PARM5(ctx);
		size = 0;
	} else if (op == OP_MODEL_LOAD_COLLECTIVES) {
		ptr = launch_arg(ctx, 7);
		size = 0;
	}
	struct thread *t = current_thread();
	if (!t) {
		orb8_count(ORB8_MAP_FULL);
		return 0;
	}
	if (nested(t, ctx, cookie))
		return 0;
	t->alloc_slot = PT_REGS_SP(ctx);
	t->alloc_arg[0] = ptr;
	t->alloc_arg[1] = size;
	t->alloc_runtime = runtime_of(cookie);
	t->alloc_model = op == OP_MODEL_LOAD || op == OP_MODEL_LOAD_COLLECTIVES;
	return 0;
}

/*
 * Return of an allocation: the remembered one (its return leaves the stack
 * pointer just above its slot; a nested one's stays at or below) is counted
 * if it succeeded.
 */
SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, int ret)
{
	struct thread *t = bpf_task_storage_get(&threads, bpf_get_current_task_btf(), 0, 0);
	if (!t || !t->alloc_slot || PT_REGS_SP(ctx) <= t->alloc_slot)
		return 0;
	t->alloc_slot = 0;
	if (ret != 0) /* cudaSuccess, CUDA_SUCCESS, hipSuccess, NRT_SUCCESS */
		return 0;
	__u64 ptr = 0;
	if (bpf_probe_read_user(&ptr, sizeof(ptr), (void *)t->alloc_arg[0]) == 0 && ptr)
		record_alloc(ptr, t->alloc_arg[1], t->alloc_runtime, t->alloc_model);
	return 0;
}

/* Releases one allocation of an exited process (bpf_for_each_map_elem callback). */
static long release_alloc(struct bpf_map *map, struct alloc_key *k, struct alloc *a, __u32 *tgid)
{
	if (k->tgid != *tgid)
		return 0;
	release(a);
	bpf_map_delete_elem(map, k);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads of the process live on */
	__u32 tgid = id >> 32;
	if (bpf_map_delete_elem(&owners, &tgid))
		return 0; /* no device memory tracked for it */
	bpf_for_each_map_elem(&allocs, release_alloc, &tgid, 0);
	return 0;
}

/*
 * Whether a file name (its first 8 bytes) is a hooked library's: every one
 * starts so: libcu (libcudart, libcuda, libcublas...), libamdh, libnrt.
 */
static __always_inline bool hooked_library_name(const char *name)
{
	if (name[0] != 'l' || name[1] != 'i' || name[2] != 'b')
		return false;
	return (name[3] == 'c' && name[4] == 'u') || (name[3] == 'a' && name[4] == 'm' && name[5] == 'd' && name[6] == 'h') ||
	       (name[3] == 'n' && name[4] == 'r' && name[5] == 't');
}

/* A process maps a CUDA library (its loader, at exec or dlopen): report the process. */
SEC("tp_btf/vm_unmapped_area")
int BPF_PROG(watch_mmap, unsigned long addr, struct vm_unmapped_area_info *info)
{
	struct task_struct *task = bpf_get_current_task_btf();
	char name[8] = {};
	if (!orb8_mmap_file_name(task, name, sizeof(name)) || !hooked_library_name(name))
		return 0;
	__u32 tgid = task->tgid;
	if (!orb8_mmap_report_due(&mmap_reported, tgid))
		return 0;
	struct mmap_event *e = orb8_reserve(&mmaps, sizeof(*e));
	if (!e)
		return 0;
	e->tgid = tgid;
	orb8_submit_to(e, &mmaps_last_wakeup_ns);
	return 0;
}

struct mapper_record {
	__u32 tgid;
};

ORB8_ITER_RECORD(mapper_record)

/*
 * The periodic full scan's first pass (the agent's attacher.scanAll): one
 * record for each file mapping of a hooked library's name, so that only
 * the processes these name have their maps file read. A process makes a
 * record per mapping; the agent keeps each process once.
 */
SEC("iter/task_vma")
int find_mappers(struct bpf_iter__task_vma *ctx)
{
	struct vm_area_struct *vma = ctx->vma;
	struct task_struct *task = ctx->task;
	if (!vma || !task)
		return 0;
	struct file *f = vma->vm_file;
	if (!f)
		return 0;
	char name[8] = {};
	if (bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(f, f_path.dentry, d_name.name)) <= 0 ||
	    !hooked_library_name(name))
		return 0;
	struct mapper_record r = { .tgid = task->tgid };
	write_mapper_record(ctx->meta->seq, &r);
	return 0;
}
