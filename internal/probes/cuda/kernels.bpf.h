/*
 * Kernels by name: every counted launch (runtime or driver) is also counted
 * per (cgroup, process, kernel pointer) in kernel_launches, which user space
 * reads and names: a runtime launch's pointer is the host-side function the
 * application passed (its ELF symbol names the kernel), a driver launch's is
 * a CUfunction (or CUkernel) whose name came through cuModuleGetFunction,
 * cuLibraryGetKernel or cuKernelGetFunction (function_names). While someone
 * streams cuda events, launches are also sent one by one (launch_event),
 * at most LAUNCH_EVENTS_PER_SEC per CPU: a sample, the rest counted as
 * dropped. A process's first runtime launch of a kernel is sent whatever
 * the watchers (LAUNCH_FIRST), so that user space names it from the
 * process's mappings while the process lives. Included by cuda.bpf.c after
 * its enums.
 */

/* The tables' bounds, and the launch events a CPU may send a second. */
enum kernel_limit {
	MAX_KERNELS = 16384,
	MAX_FUNCTION_NAMES = 16384,
	MAX_PENDING_NAMES = 4096,
	KERNEL_NAME_LEN = 128,
	LAUNCH_EVENTS_PER_SEC = 2000,
};

/* Ops of the name hooks, numbered after enum op's: both are the attach cookie's op bits. */
enum name_op {
	OP_MODULE_FUNCTION = 16, /* cuModuleGetFunction, cuLibraryGetKernel: (CUfunction *out, handle, const char *name) */
	OP_KERNEL_FUNCTION = 17, /* cuKernelGetFunction: (CUfunction *out, CUkernel kernel): the kernel's name */
};

/*
 * A launch's arguments come in a launch config struct, the function second
 * (cudaLaunchKernelExC, cuLaunchKernelEx). Launches have no batch argument:
 * this shares its bits of the attach cookie.
 */
enum launch_cookie {
	COOKIE_LAUNCH_CONFIG = 1 << 11,
};

/* Slots of kernel_drops: what did not fit. */
enum kernel_drop {
	DROP_LAUNCHES = 0,  /* kernel_launches full: a launch counted, not by kernel */
	DROP_NAMES = 1,     /* function_names full: a CUfunction's name not kept */
	DROP_EVENTS = 2,    /* launch events over LAUNCH_EVENTS_PER_SEC (the ring's losses are orb8's) */
	KERNEL_DROPS = 3,
};

/* Bits of orb8_emit. */
enum cuda_event_kind {
	EVENT_LAUNCH = 0,
};

/* Why a launch_event was sent (its flags). */
enum launch_flag {
	LAUNCH_WATCHED = 1, /* a sample for the watchers of cuda events */
	LAUNCH_FIRST = 2,   /* the process's first runtime launch of this kernel: to be named now */
};

struct kernel_key {
	__u64 cgroup_id;
	__u64 function; /* host function (runtime) or CUfunction/CUkernel (driver) */
	__u32 tgid;
	__u32 level; /* enum level */
};

struct function_key {
	__u32 tgid;
	__u32 pad;
	__u64 handle;
};

struct function_name {
	char name[KERNEL_NAME_LEN];
};

/* A name hook's call in progress, for its return. */
struct name_call {
	__u64 out;  /* CUfunction *, CUkernel * */
	__u64 from; /* the name (OP_MODULE_FUNCTION) or the CUkernel (OP_KERNEL_FUNCTION) */
	__u64 op;
};

struct launch_event {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u64 function;
	__u64 stream;
	__u32 pid;
	__u32 tid;
	__u32 level;
	__u32 shared_bytes;
	__u32 grid[3];
	__u32 block[3];
	__u32 flags; /* enum launch_flag */
	__u32 pad;
	char comm[16];
};

struct event_budget {
	__u64 second;
	__u64 sent;
};

const enum name_op *unused_name_op __attribute__((unused));
const enum launch_cookie *unused_launch_cookie __attribute__((unused));
const enum kernel_drop *unused_kernel_drop __attribute__((unused));
const enum cuda_event_kind *unused_cuda_event_kind __attribute__((unused));
const enum launch_flag *unused_launch_flag __attribute__((unused));
const enum kernel_limit *unused_kernel_limit __attribute__((unused));

/* (cgroup, process, kernel pointer, level) -> launches counted. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_KERNELS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct kernel_key);
	__type(value, __u64);
} kernel_launches SEC(".maps");

/* (process, CUfunction or CUkernel) -> its name, as the driver got it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FUNCTION_NAMES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct function_key);
	__type(value, struct function_name);
} function_names SEC(".maps");

/* Thread (pid_tgid) -> its name hook's call in progress. LRU: a thread killed mid-call leaves nothing for good. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_PENDING_NAMES);
	__type(key, __u64);
	__type(value, struct name_call);
} pending_names SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KERNEL_DROPS);
	__type(key, __u32);
	__type(value, __u64);
} kernel_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct event_budget);
} event_budgets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
	__type(value, struct launch_event);
} launches SEC(".maps");

static __always_inline void kernel_drop(__u32 slot)
{
	orb8_count_in(&kernel_drops, slot);
}

/*
 * Argument slot n (1-based) of a function at entry, as the ABI passes
 * integer arguments: x0-x7 on arm64, then the stack; rdi, rsi, rdx, rcx,
 * r8, r9 on x86-64, then the stack.
 */
/*
 * Each register is read into a value the compiler cannot trace back to the
 * load, so it never merges two loads into one at a computed offset of ctx,
 * which the verifier refuses.
 */
#define launch_reg(x) ({ __u64 _v = (x); asm volatile("" : "+r"(_v)); _v; })

static __always_inline __u64 launch_arg(struct pt_regs *ctx, int n)
{
	__u64 v = 0;
#if defined(__TARGET_ARCH_arm64)
	switch (n) {
	case 1:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[0]);
	case 2:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[1]);
	case 3:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[2]);
	case 4:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[3]);
	case 5:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[4]);
	case 6:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[5]);
	case 7:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[6]);
	case 8:
		return launch_reg(((const struct user_pt_regs *)ctx)->regs[7]);
	}
#else
	switch (n) {
	case 1:
		return launch_reg(PT_REGS_PARM1(ctx));
	case 2:
		return launch_reg(PT_REGS_PARM2(ctx));
	case 3:
		return launch_reg(PT_REGS_PARM3(ctx));
	case 4:
		return launch_reg(PT_REGS_PARM4(ctx));
	case 5:
		return launch_reg(PT_REGS_PARM5(ctx));
	case 6:
		return launch_reg(orb8_parm6(ctx));
	}
#endif
	bpf_probe_read_user(&v, sizeof(v), (void *)orb8_stack_arg_addr(ctx, n));
	return v;
}

/* cudaLaunchConfig_t and CUlaunchConfig alike: 6 dimensions, shared memory bytes, stream. */
struct launch_config {
	__u32 dims[6];
	__u64 shared; /* size_t in the runtime's, unsigned int (then padding) in the driver's */
	__u64 stream;
};

/*
 * A launch's dimensions, shared memory and stream, by shape:
 *   runtime: (func, dim3 grid, dim3 block, args, size_t shared, stream),
 *            a dim3 (12 bytes) in two slots: x and y, then z;
 *   driver:  (f, gx, gy, gz, bx, by, bz, unsigned shared, stream, ...);
 *   config:  (const config *, func, ...).
 */
static __always_inline void launch_shape(struct pt_regs *ctx, __u64 cookie, struct launch_event *e)
{
	if (cookie & COOKIE_LAUNCH_CONFIG) {
		struct launch_config c = {};
		bpf_probe_read_user(&c, sizeof(c), (void *)launch_arg(ctx, 1));
		e->grid[0] = c.dims[0];
		e->grid[1] = c.dims[1];
		e->grid[2] = c.dims[2];
		e->block[0] = c.dims[3];
		e->block[1] = c.dims[4];
		e->block[2] = c.dims[5];
		e->shared_bytes = c.shared; /* the low half: both fit */
		e->stream = c.stream;
		return;
	}
	if (cookie & COOKIE_DRIVER) {
		e->grid[0] = launch_arg(ctx, 2);
		e->grid[1] = launch_arg(ctx, 3);
		e->grid[2] = launch_arg(ctx, 4);
		e->block[0] = launch_arg(ctx, 5);
		e->block[1] = launch_arg(ctx, 6);
		e->block[2] = launch_arg(ctx, 7);
		e->shared_bytes = launch_arg(ctx, 8);
		e->stream = launch_arg(ctx, 9);
		return;
	}
	__u64 grid = launch_arg(ctx, 2), block = launch_arg(ctx, 4);
	e->grid[0] = grid;
	e->grid[1] = grid >> 32;
	e->grid[2] = launch_arg(ctx, 3);
	e->block[0] = block;
	e->block[1] = block >> 32;
	e->block[2] = launch_arg(ctx, 5);
	e->shared_bytes = launch_arg(ctx, 7);
	e->stream = launch_arg(ctx, 8);
}

/* Whether this CPU may send one more launch event this second. */
static __always_inline int launch_event_allowed(__u64 now)
{
	__u32 zero = 0;
	struct event_budget *b = bpf_map_lookup_elem(&event_budgets, &zero);
	if (!b)
		return 0;
	__u64 second = now / 1000000000ULL;
	if (b->second != second) {
		b->second = second;
		b->sent = 0;
	}
	if (b->sent >= LAUNCH_EVENTS_PER_SEC)
		return 0;
	b->sent++;
	return 1;
}

static __always_inline void emit_launch(struct pt_regs *ctx, __u64 cookie, struct kernel_key *k, __u64 pid_tgid, __u32 flags)
{
	__u64 now = bpf_ktime_get_boot_ns();
	if (orb8_emit_wanted(EVENT_LAUNCH)) {
		if (launch_event_allowed(now))
			flags |= LAUNCH_WATCHED;
		else
			kernel_drop(DROP_EVENTS);
	}
	if (!flags)
		return;
	struct launch_event *e = orb8_reserve(&launches, sizeof(*e));
	if (!e)
		return;
	e->flags = flags;
	e->boot_ns = now;
	e->cgroup_id = k->cgroup_id;
	e->function = k->function;
	e->pid = pid_tgid >> 32;
	e->tid = pid_tgid;
	e->level = k->level;
	launch_shape(ctx, cookie, e);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	orb8_submit(e);
}

/* A counted launch (not nested): counted by kernel, and sent to watchers. */
static __always_inline void record_launch(struct pt_regs *ctx, __u64 cookie, __u64 cg)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct kernel_key k = {
		.cgroup_id = cg,
		.function = (cookie & COOKIE_LAUNCH_CONFIG) ? launch_arg(ctx, 2) : launch_arg(ctx, 1),
		.tgid = id >> 32,
		.level = (cookie & COOKIE_DRIVER) ? LEVEL_DRIVER : LEVEL_RUNTIME,
	};
	__u32 flags = 0;
	__u64 *n = bpf_map_lookup_elem(&kernel_launches, &k);
	if (!n) {
		__u64 zero = 0;
		if (bpf_map_update_elem(&kernel_launches, &k, &zero, BPF_NOEXIST) == 0 && k.level == LEVEL_RUNTIME)
			flags = LAUNCH_FIRST;
		n = bpf_map_lookup_elem(&kernel_launches, &k);
	}
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		kernel_drop(DROP_LAUNCHES);
	emit_launch(ctx, cookie, &k, id, flags);
}

/* Entry of a name hook: remembered for its return. */
SEC("uprobe")
int BPF_KPROBE(name_enter, __u64 out, __u64 handle, __u64 name)
{
	__u64 op = bpf_get_attach_cookie(ctx) & COOKIE_OP;
	struct name_call c = {.out = out, .from = op == OP_KERNEL_FUNCTION ? handle : name, .op = op};
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&pending_names, &id, &c, BPF_ANY);
	return 0;
}

/* Return of a name hook: on success, the handle it wrote gets its name. */
SEC("uretprobe")
int BPF_KRETPROBE(name_return, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct name_call *c = bpf_map_lookup_elem(&pending_names, &id);
	if (!c)
		return 0;
	struct name_call call = *c;
	bpf_map_delete_elem(&pending_names, &id);
	if (ret != 0) /* CUDA_SUCCESS */
		return 0;
	struct function_key k = {.tgid = id >> 32};
	if (bpf_probe_read_user(&k.handle, sizeof(k.handle), (void *)call.out) || !k.handle)
		return 0;
	struct function_name n = {};
	struct function_name *name = &n;
	if (call.op == OP_KERNEL_FUNCTION) {
		struct function_key from = {.tgid = k.tgid, .handle = call.from};
		name = bpf_map_lookup_elem(&function_names, &from);
		if (!name)
			return 0;
	} else if (bpf_probe_read_user_str(n.name, sizeof(n.name), (void *)call.from) <= 0) {
		return 0;
	}
	if (bpf_map_update_elem(&function_names, &k, name, BPF_ANY))
		kernel_drop(DROP_NAMES);
	return 0;
}
