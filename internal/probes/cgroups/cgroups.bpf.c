//go:build ignore

/*
 * Cgroup watcher: tells the resolver about cgroup2 directories as they are
 * created and removed, so it never rescans the tree.
 */
#include "orb8.h"

#define PATH_LEN 512

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
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0) /* a cgroup v1 hierarchy */
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
