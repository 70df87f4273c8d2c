/*
 * HTTPS through Go's crypto/tls, in Go executables (any container): uprobes
 * on crypto/tls.(*Conn).Write and Read, Go's register ABI (orb8_arch.h). A
 * connection is a process's *tls.Conn, fed to tls_moved as the libssl
 * programs feed an SSL pointer.
 *
 * No return probes (uretprobes): they replace the return address on the
 * goroutine's stack, which Go's runtime moves when the stack grows and
 * walks to unwind, so a program with them can crash. User space puts a
 * uprobe on each RET instruction of Read instead. Write is whole at entry:
 * it returns fewer bytes than asked only on an error after which the
 * connection writes nothing more, so entry alone counts it, one probe.
 */

/* A Read between its entry and one of its RETs: by goroutine, which may change threads meanwhile. */
struct go_tls_read_key {
	__u64 g; /* the goroutine's runtime.g, in the process */
	__u32 tgid;
	__u32 pad;
};

struct go_tls_read {
	__u64 conn;
	__u64 buf;
};

/*
 * A goroutine blocks in Read while its connection is idle, so the calls in
 * progress are the open connections of hooked processes: 65,536 before the
 * least recently begun (an idle connection's) is evicted, its next request
 * unseen on the server side.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct go_tls_read_key);
	__type(value, struct go_tls_read);
} go_tls_reads SEC(".maps");

/* (*Conn).Write(c, b []byte): c, b's pointer and length. */
static __always_inline int go_tls_wrote(struct pt_regs *ctx, const bool h2)
{
	__u64 n = orb8_go_arg3(ctx);
	if (n == 0 || n > 0x7fffffff)
		return 0;
	tls_moved(orb8_go_arg1(ctx), (const __u8 *)orb8_go_arg2(ctx), n, DIR_EGRESS, h2);
	return 0;
}

SEC("uprobe")
int go_tls_write(struct pt_regs *ctx) { return go_tls_wrote(ctx, true); }

/* go_tls_write where the kernel has no bpf_loop: HTTP/1.x only. */
SEC("uprobe")
int go_tls_write_h1(struct pt_regs *ctx) { return go_tls_wrote(ctx, false); }

/* (*Conn).Read(c, b []byte) entered. */
SEC("uprobe")
int go_tls_read_enter(struct pt_regs *ctx)
{
	struct go_tls_read_key k = {.g = orb8_go_g(ctx), .tgid = bpf_get_current_pid_tgid() >> 32};
	struct go_tls_read r = {.conn = orb8_go_arg1(ctx), .buf = orb8_go_arg2(ctx)};
	if (bpf_map_update_elem(&go_tls_reads, &k, &r, BPF_ANY))
		orb8_count(ORB8_MAP_FULL);
	return 0;
}

/* At a RET of (*Conn).Read: n in the first result register. */
static __always_inline int go_tls_read_returned(struct pt_regs *ctx, const bool h2)
{
	struct go_tls_read_key k = {.g = orb8_go_g(ctx), .tgid = bpf_get_current_pid_tgid() >> 32};
	struct go_tls_read *found = bpf_map_lookup_elem(&go_tls_reads, &k);
	if (!found)
		return 0; /* entered before the probes were attached */
	struct go_tls_read r = *found;
	bpf_map_delete_elem(&go_tls_reads, &k);
	__s64 n = orb8_go_ret1(ctx);
	if (n <= 0 || n > 0x7fffffff)
		return 0;
	tls_moved(r.conn, (const __u8 *)r.buf, n, DIR_INGRESS, h2);
	return 0;
}

SEC("uprobe")
int go_tls_read_return(struct pt_regs *ctx) { return go_tls_read_returned(ctx, true); }

/* go_tls_read_return where the kernel has no bpf_loop: HTTP/1.x only. */
SEC("uprobe")
int go_tls_read_return_h1(struct pt_regs *ctx) { return go_tls_read_returned(ctx, false); }

/* A process that execs: user space hooks its executable if it is a Go one that uses crypto/tls. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(go_tls_watch_exec, struct task_struct *p)
{
	struct tls_mmap_event *e = orb8_reserve(&tls_mmaps, sizeof(*e));
	if (!e)
		return 0;
	e->tgid = p->tgid;
	orb8_submit_to(e, &tls_mmaps_last_wakeup_ns);
	return 0;
}
