//go:build ignore

/*
 * File descriptors: a task iterator that counts each process's open file
 * descriptors in the kernel (a popcount over its fd table's open bitmap) and
 * writes one small record per process to the iterator's output. The agent
 * runs it periodically and sums the records per workload.
 */
#include "orb8.h"

#define RLIMIT_NOFILE 7
/*
 * Bitmap words counted per process: 2^20 fds, the kernel's default fs.nr_open,
 * which no process can exceed unless that sysctl was raised.
 */
#define MAX_FD_WORDS (1 << 14)

struct fd_record {
	__u64 cgroup_id;
	__u64 limit; /* soft RLIMIT_NOFILE */
	__u32 tgid;
	__u32 open_fds;
};

ORB8_ITER_RECORD(fd_record)

struct count_ctx {
	unsigned long *open_bits;
	__u32 open;
};

static long count_word(__u32 i, struct count_ctx *c)
{
	unsigned long word;
	if (bpf_probe_read_kernel(&word, sizeof(word), c->open_bits + i))
		return 1; /* stop */
	c->open += __builtin_popcountll(word);
	return 0;
}

SEC("iter/task")
int count_fds(struct bpf_iter__task *ctx)
{
	/*
	 * ctx->task is a trusted BTF pointer: fields are read with plain loads
	 * (CO-RE relocated), far cheaper than a bpf_probe_read_kernel each.
	 */
	struct task_struct *t = ctx->task;
	/* Threads share their leader's fd table: count each process once. */
	if (!t || t->flags & PF_KTHREAD || t->pid != t->tgid)
		return 0;
	struct files_struct *files = t->files;
	if (!files) /* exiting */
		return 0;
	struct fdtable *fdt = files->fdt;
	__u32 words = (fdt->max_fds + 63) / 64;
	if (words > MAX_FD_WORDS)
		words = MAX_FD_WORDS;
	struct count_ctx c = { .open_bits = fdt->open_fds };
	bpf_loop(words, count_word, &c, 0);

	struct fd_record r = {
		.cgroup_id = orb8_btf_task_cgroup_id(t),
		.limit = t->signal->rlim[RLIMIT_NOFILE].rlim_cur,
		.tgid = t->tgid,
		.open_fds = c.open,
	};
	write_fd_record(ctx->meta->seq, &r);
	return 0;
}
