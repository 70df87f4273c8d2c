//go:build ignore

/*
 * CPU: every cgroup's CPU time, CPU pressure and CPU throttling, read from
 * the kernel's own counters in one walk of the cgroup2 tree. The agent runs
 * it once per refresh instead of opening and reading two or three files
 * per cgroup (~25 us a cgroup in a PTI guest: 0.23-0.29 s per refresh
 * beside 10,000 cgroups).
 *
 * The figures are the files' own: cpu.stat usage_usec is the cgroup's base
 * statistics (bstat, summed from the per-CPU counters by an rstat flush,
 * which reading the file does and the walk does once, at the root, for the
 * whole tree); cpu.pressure's totals are the PSI group's (psi_avgs_work
 * folds the per-CPU times in every 2 s while the group is busy, and reading
 * the file folds them at once: the walk's figures may trail the file's by
 * up to 2 s); throttled_usec is the cpu controller's CFS bandwidth total.
 */
#include "orb8.h"
#include "orb8_cgroup_walk.h"

extern void css_rstat_flush(struct cgroup_subsys_state *css) __ksym;

enum figure_flag {
	HAS_PRESSURE = 1, /* some_ns and full_ns are set */
	HAS_THROTTLE = 2, /* the cpu controller is on here: throttled_ns is set */
};

struct cgroup_figures {
	__u64 id;
	__u64 usage_ns;
	__u64 some_ns; /* CPU pressure, some */
	__u64 full_ns; /* CPU pressure, full */
	__u64 throttled_ns;
	__u32 flags; /* enum figure_flag */
	__u32 pad;
};

const enum figure_flag *unused_figure_flag __attribute__((unused));

ORB8_CGROUP_WALK(cgroup_figures)

/*
 * The CPU pressure totals of psi: total[NR_PSI_AGGREGATORS][NR_PSI_STATES - 1],
 * flattened in BTF, whose rows' length depends on the kernel's config; the
 * first row (PSI_AVGS) is what the file shows.
 */
static __always_inline void read_pressure(struct cgroup_figures *f, const struct psi_group *psi)
{
	__u32 row = bpf_core_field_size(psi->total) / sizeof(psi->total[0]) / 2;
	__u32 some = bpf_core_enum_value(enum psi_states, PSI_CPU_SOME);
	__u32 full = bpf_core_enum_value(enum psi_states, PSI_CPU_FULL);

	if (!psi || !psi->enabled || some >= row || full >= row)
		return;
	f->some_ns = BPF_CORE_READ(psi, total[some]);
	f->full_ns = BPF_CORE_READ(psi, total[full]);
	f->flags |= HAS_PRESSURE;
}

/* CFS bandwidth throttling of the cpu controller's css here (a task_group), if the controller is on. */
static __always_inline void read_throttle(struct cgroup_figures *f, const struct cgroup *cgrp)
{
	if (!bpf_core_enum_value_exists(enum cgroup_subsys_id, cpu_cgrp_id) ||
	    !bpf_core_field_exists(struct task_group, cfs_bandwidth))
		return;
	__u32 cpu = bpf_core_enum_value(enum cgroup_subsys_id, cpu_cgrp_id);
	struct cgroup_subsys_state *css = BPF_CORE_READ(cgrp, subsys[cpu]);
	if (!css)
		return;
	/* task_group begins with its css */
	f->throttled_ns = BPF_CORE_READ((struct task_group *)css, cfs_bandwidth.throttled_time);
	f->flags |= HAS_THROTTLE;
}

SEC("iter.s/cgroup")
int cgroup_cpu(struct bpf_iter__cgroup *ctx)
{
	struct cgroup *cgrp = ctx->cgroup;
	struct bpf_iter_meta *meta = ctx->meta;

	if (cgrp && meta->seq_num == 0) /* where the walk starts, first */
		css_rstat_flush(&cgrp->self); /* the whole tree's base statistics */
	struct cgroup_figures *f = walk_slot(meta, cgrp);
	if (!f)
		return 0;
	f->usage_ns = cgrp->bstat.cputime.sum_exec_runtime;
	f->flags = 0;
	f->some_ns = f->full_ns = f->throttled_ns = 0;
	read_pressure(f, cgrp->psi);
	read_throttle(f, cgrp);
	return 0;
}
