/*
 * Paths of files as the task that opened them names them: the dentry chain
 * from the file up to the task's root (its chroot or container root), across
 * mounts, the way d_path() walks it (bpf_d_path() is allowed in LSM and some
 * fentry programs only). Bounded: at most ORB8_PATH_DEPTH components and
 * ORB8_PATH_LEN - 1 bytes, keeping the components nearest the file;
 * orb8_path() reports the cut.
 */
#ifndef __ORB8_PATH_H
#define __ORB8_PATH_H

#define ORB8_PATH_LEN 256
#define ORB8_PATH_DEPTH 32
#define ORB8_NAME_MAX 255

/*
 * A path is built backwards from the end of the first ORB8_PATH_LEN bytes;
 * the second half only lets the verifier see that a name of up to
 * ORB8_NAME_MAX bytes written at any offset stays inside.
 */
struct orb8_path_scratch {
	char buf[2 * ORB8_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct orb8_path_scratch);
} orb8_path_scratch SEC(".maps");

static __always_inline struct mount *orb8_real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

/* Where a walk up the dentry chain is: bpf_loop's context. */
struct orb8_path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	struct orb8_path_scratch *s;
	__u32 off; /* where the path built so far starts in s->buf */
	int cut;   /* 1 while the root is not reached, -1 on a failed read */
};

/* One component: prepends the dentry's name, or crosses to the mount below. */
static long orb8_path_step(__u64 i, struct orb8_path_walk *w)
{
	struct dentry *dentry = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	if (dentry == w->root_dentry && vfsmnt == w->root_mnt) {
		w->cut = 0;
		return 1;
	}
	struct dentry *mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	if (dentry == mnt_root || dentry == parent) {
		struct mount *mnt = orb8_real_mount(vfsmnt);
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		if (dentry != mnt_root || up == mnt) {
			/* The top of the tree: the root lies elsewhere (another namespace). */
			w->cut = 0;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->vfsmnt = (struct vfsmount *)((void *)up + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	struct qstr name = BPF_CORE_READ(dentry, d_name);
	__u32 len = name.len & ORB8_NAME_MAX, off = w->off;
	if (len + 1 > off)
		return 1;
	off -= len;
	if (bpf_probe_read_kernel(&w->s->buf[off & (ORB8_PATH_LEN - 1)], len, name.name)) {
		w->cut = -1;
		return 1;
	}
	off--;
	w->s->buf[off & (ORB8_PATH_LEN - 1)] = '/';
	w->off = off;
	w->dentry = parent;
	return 0;
}

/*
 * Writes the path of file f, relative to root, as a string into out (of
 * ORB8_PATH_LEN bytes). Returns 1 if components were left out (too deep or
 * too long), 0 if not, -1 if nothing could be read. Needs bpf_loop (5.17).
 */
static __always_inline int orb8_path(struct file *f, struct path *root, char *out)
{
	__u32 zero = 0;
	struct orb8_path_walk w = {
		.dentry = BPF_CORE_READ(f, f_path.dentry),
		.vfsmnt = BPF_CORE_READ(f, f_path.mnt),
		.root_dentry = BPF_CORE_READ(root, dentry),
		.root_mnt = BPF_CORE_READ(root, mnt),
		.s = bpf_map_lookup_elem(&orb8_path_scratch, &zero),
		.off = ORB8_PATH_LEN - 1,
		.cut = 1,
	};
	if (!w.s)
		return -1;
	w.s->buf[ORB8_PATH_LEN - 1] = 0;
	bpf_loop(ORB8_PATH_DEPTH, orb8_path_step, &w, 0);
	if (w.cut < 0)
		return -1;
	__u32 off = w.off;
	if (off == ORB8_PATH_LEN - 1) {
		off--;
		w.s->buf[off & (ORB8_PATH_LEN - 1)] = '/';
	}
	if (bpf_probe_read_kernel(out, ORB8_PATH_LEN, &w.s->buf[off & (ORB8_PATH_LEN - 1)]))
		return -1;
	return w.cut;
}

#endif /* __ORB8_PATH_H */
