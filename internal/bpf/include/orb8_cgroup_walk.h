/* SPDX-License-Identifier: GPL-2.0 */
#ifndef ORB8_CGROUP_WALK_H
#define ORB8_CGROUP_WALK_H

/*
 * A walk of a cgroup tree (iter/cgroup) that writes one record per cgroup
 * to an array user space maps (internal/probe.CgroupWalk), not to the
 * iterator's output: the kernel does not resume a cgroup walk over two
 * reads, and a walk's output of more than one read buffer (~800 records)
 * would fail. A walk runs in one read, under cgroup_mutex: two never
 * interleave.
 *
 * ORB8_CGROUP_WALK(record) declares the array (figures, of struct record,
 * whose first member is __u64 id), the count of slots the last walk filled
 * from 0 (walked: past ORB8_MAX_CGROUPS counted but not written), and
 * walk_slot(meta, cgrp): the record of cgrp, the cgroup the walk is at
 * (the program reads its context's fields once: the verifier refuses a
 * read through a context pointer the compiler moved), its id set, or
 * NULL at the walk's end, at the tree's root (the host's root's files are
 * the host's) and past the array's end. Dead cgroups, still listed until
 * released, the kernel skips without a call.
 */
#define ORB8_CGROUP_WALK(record)                                                        \
	struct {                                                                        \
		__uint(type, BPF_MAP_TYPE_ARRAY);                                       \
		__uint(map_flags, BPF_F_MMAPABLE);                                      \
		__uint(max_entries, ORB8_MAX_CGROUPS);                                  \
		__type(key, __u32);                                                     \
		__type(value, struct record);                                           \
	} figures SEC(".maps");                                                         \
                                                                                        \
	volatile __u32 walked = 0;                                                      \
                                                                                        \
	static __always_inline struct record *walk_slot(struct bpf_iter_meta *meta,     \
							 struct cgroup *cgrp)           \
	{                                                                               \
		if (!cgrp)                                                              \
			return NULL;                                                    \
		if (meta->seq_num == 0)                                                 \
			walked = 0;                                                     \
		if (cgrp->level == 0)                                                   \
			return NULL;                                                    \
		__u32 slot = walked;                                                    \
		walked = slot + 1;                                                      \
		struct record *r = bpf_map_lookup_elem(&figures, &slot);                \
		if (r)                                                                  \
			r->id = cgrp->kn->id;                                           \
		return r;                                                               \
	}

#endif
