/* What exec gave a new program, read at sched_process_exec. */
#ifndef __ORB8_EXEC_H
#define __ORB8_EXEC_H

/* argv as the new program sees it (NUL-separated), at most this much. */
#define ORB8_ARGS_LEN 1024

/*
 * Copies the new program's argv from its own stack, where exec copied it
 * before this tracepoint, into args (ORB8_ARGS_LEN bytes); sets *len to
 * the bytes copied and *truncated when argv was longer.
 */
static __always_inline void orb8_exec_args(struct task_struct *p, __u8 *args, __u32 *len, __u8 *truncated)
{
	struct mm_struct *mm = BPF_CORE_READ(p, mm);
	__u64 start = BPF_CORE_READ(mm, arg_start), end = BPF_CORE_READ(mm, arg_end);
	__u64 n = end > start ? end - start : 0;
	*truncated = n > ORB8_ARGS_LEN;
	if (n > ORB8_ARGS_LEN)
		n = ORB8_ARGS_LEN;
	*len = 0;
	if (n && !bpf_probe_read_user(args, n, (void *)start))
		*len = n;
}

#endif /* __ORB8_EXEC_H */
