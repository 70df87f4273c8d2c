//go:build ignore

/*
 * Cgroup watcher: tells the resolver about cgroup2 directories as they are
 * created and removed, so it rescans the tree only after the ring refused
 * events (orb8_counters); and names a cgroup it has not seen from its id
 * (cgroup_names), without open_by_handle_at.
 */
#include "orb8.h"

#define PATH_LEN 512
#define NAME_LEN 256 /* a kernfs name: NAME_MAX and its NUL */

enum op : __u32 {
	OP_MKDIR = 1,
	OP_RMDIR = 2,
};

struct event {
	__u64 id;
	enum op op;
	__u32 pad;
	__u8 path[PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
	__type(value, struct event);
} events SEC(".maps");

static __always_inline int emit(struct cgroup *cgrp, const char *path, enum op op)
{
	if (!orb8_workload_hierarchy(cgrp))
		return 0;
	struct event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return 0;
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->op = op;
	e->pad = 0;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	orb8_submit(e);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(handle_mkdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, OP_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(handle_rmdir, struct cgroup *cgrp, const char *path)
{
	return emit(cgrp, path, OP_RMDIR);
}

/*
 * One cgroup of the chain from a cgroup up to the root: user space attaches
 * this iterator to the cgroup's id with the BPF_CGROUP_ITER_ANCESTORS_UP
 * order (kernel/bpf/cgroup_iter.c, Linux 6.1) and joins the names by level.
 */
struct cgroup_name {
	__u64 id;
	__u32 level; /* 0 for the root */
	__u32 pad;
	__u8 name[NAME_LEN];
};

/* The iterator's records reach user space through no map, so this anchor
 * carries their layout into BTF for bpf2go. */
const struct cgroup_name *unused_cgroup_name __attribute__((unused));

SEC("iter/cgroup")
int cgroup_names(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;
	struct cgroup_name n = {};
	if (!cgrp)
		return 0;
	n.id = BPF_CORE_READ(cgrp, kn, id);
	n.level = BPF_CORE_READ(cgrp, level);
	bpf_probe_read_kernel_str(n.name, sizeof(n.name), BPF_CORE_READ(cgrp, kn, name));
	bpf_seq_write(ctx->meta->seq, &n, sizeof(n));
	return 0;
}
