/*
 * Finding the processes that map a library, at exec or dlopen, for probes
 * that hook libraries with uprobes. Not a syscall tracepoint: enabling any
 * of them puts every syscall of the node on the tracing slow path (+40 ns a
 * syscall here, whatever it is). The loader's first mmap of a library picks
 * its address, which fires tp_btf/vm_unmapped_area; the syscall's registers
 * give the file descriptor.
 */
#pragma once

#include "orb8.h"

#define ORB8_MAP_ANONYMOUS 0x20 /* include/uapi/asm-generic/mman-common.h */
/* A process's mappings are reported at most this often: the loader maps a library in several calls. */
#define ORB8_MMAP_REPORT_GAP_NS (100 * 1000 * 1000ULL)

/*
 * The first bytes of the name of the file the current task's mmap syscall
 * maps, from tp_btf/vm_unmapped_area: false when the call is no mmap of a
 * file.
 */
static __always_inline bool orb8_mmap_file_name(struct task_struct *task, char *name, __u32 size)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (orb8_syscall_nr(regs) != ORB8_NR_MMAP || (orb8_syscall_arg4(regs) & ORB8_MAP_ANONYMOUS))
		return false;
	__u32 fd = orb8_syscall_arg5(regs);
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	struct file **files = BPF_CORE_READ(fdt, fd);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &files[fd]);
	if (!f)
		return false;
	return bpf_probe_read_kernel_str(name, size, BPF_CORE_READ(f, f_path.dentry, d_name.name)) > 0;
}

/*
 * Whether a process's mapping is to be reported now: at most once per
 * ORB8_MMAP_REPORT_GAP_NS, by the time kept in reported (tgid -> ns, an LRU
 * hash).
 */
static __always_inline bool orb8_mmap_report_due(void *reported, __u32 tgid)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 *last = bpf_map_lookup_elem(reported, &tgid);
	if (last && now - *last < ORB8_MMAP_REPORT_GAP_NS)
		return false;
	bpf_map_update_elem(reported, &tgid, &now, BPF_ANY);
	return true;
}
