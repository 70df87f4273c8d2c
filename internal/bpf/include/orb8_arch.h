/*
 * What differs between the architectures the objects are built for
 * (bpf2go -target amd64,arm64): saved syscall registers, the syscall numbers
 * the probes test, how a 32-bit task is told apart, and where a function
 * finds its return address and its stack arguments at entry, and where
 * Go's register ABI keeps arguments, results and the running goroutine.
 *
 * vmlinux.h comes from an x86-64 kernel. Types only arm64 has are declared
 * here; kernel structs whose layout differs are read through CO-RE flavours
 * (a type named name___flavour relocates against the kernel's "name"), so an
 * arm64 object reads the running kernel's own layout.
 */
#pragma once

#if defined(__TARGET_ARCH_arm64)

/* arch/arm64/include/uapi/asm/ptrace.h: what libbpf's PT_REGS_* macros read. */
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};

/* arch/arm64/include/asm/ptrace.h: the saved registers of a syscall. */
struct pt_regs___orb8_arm64 {
	__u64 regs[31];
	__u64 orig_x0;
	__s32 syscallno;
} __attribute__((preserve_access_index));

/* arch/arm64/include/asm/thread_info.h */
struct thread_info___orb8_arm64 {
	unsigned long flags;
} __attribute__((preserve_access_index));
#define ORB8_TIF_32BIT 22 /* an AArch32 task: its syscalls have other numbers */

/* include/uapi/asm-generic/unistd.h */
#define ORB8_NR_READ 63
#define ORB8_NR_READV 65
#define ORB8_NR_RECVFROM 207
#define ORB8_NR_RECVMSG 212
#define ORB8_NR_MMAP 222
#define ORB8_NR_RECVMMSG 243

/* The syscall a task is in, from its saved registers (struct pt_regs *). */
#define orb8_syscall_nr(regs) (((struct pt_regs___orb8_arm64 *)(regs))->syscallno)
/* Syscall arguments 4 and 5 (1-based): x3, x4 (x0 alone is overwritten by the return value). */
#define orb8_syscall_arg4(regs) (((struct pt_regs___orb8_arm64 *)(regs))->regs[3])
#define orb8_syscall_arg5(regs) (((struct pt_regs___orb8_arm64 *)(regs))->regs[4])
/* Whether task t (struct task_struct *) runs 32-bit code. */
#define orb8_compat_task(t) ((((struct thread_info___orb8_arm64 *)&(t)->thread_info)->flags >> ORB8_TIF_32BIT) & 1)

/* A function's 6th argument at entry (AAPCS64: x5). */
#define orb8_parm6(ctx) (((const struct user_pt_regs *)(ctx))->regs[5])

/* A function's return address at entry: the link register, x30. */
static __always_inline __u64 orb8_return_address(struct pt_regs *ctx)
{
	return ((const struct user_pt_regs *)ctx)->regs[30];
}

/* Where argument n (1-based, passed on the stack) lies at entry: AAPCS64 passes 8 in x0-x7, the 9th at sp. */
#define orb8_stack_arg_addr(ctx, n) (PT_REGS_SP(ctx) + 8 * ((n) - 9))

/*
 * Go's register ABI (ABIInternal, Go 1.18+ on arm64): integer arguments and
 * results in x0-x15, the running goroutine (g) in x28.
 */
#define orb8_go_arg1(ctx) (((const struct user_pt_regs *)(ctx))->regs[0])
#define orb8_go_arg2(ctx) (((const struct user_pt_regs *)(ctx))->regs[1])
#define orb8_go_arg3(ctx) (((const struct user_pt_regs *)(ctx))->regs[2])
#define orb8_go_ret1(ctx) (((const struct user_pt_regs *)(ctx))->regs[0])
#define orb8_go_g(ctx) (((const struct user_pt_regs *)(ctx))->regs[28])

#elif defined(__TARGET_ARCH_x86)

/* arch/x86/entry/syscalls/syscall_64.tbl */
#define ORB8_NR_READ 0
#define ORB8_NR_MMAP 9
#define ORB8_NR_READV 19
#define ORB8_NR_RECVFROM 45
#define ORB8_NR_RECVMSG 47
#define ORB8_NR_RECVMMSG 299

#define orb8_syscall_nr(regs) ((regs)->orig_ax)
/* Syscall arguments 4 and 5 (1-based): r10, r8. */
#define orb8_syscall_arg4(regs) ((regs)->r10)
#define orb8_syscall_arg5(regs) ((regs)->r8)
/* thread_info.status TS_COMPAT (arch/x86/include/asm/thread_info.h): in a 32-bit syscall. */
#define orb8_compat_task(t) ((t)->thread_info.status & 0x0002)

/* A function's 6th argument at entry (SysV: r9); Debian 12's libbpf has no PT_REGS_PARM6. */
#define orb8_parm6(ctx) ((ctx)->r9)

/* A function's return address at entry: the word at the stack pointer. */
static __always_inline __u64 orb8_return_address(struct pt_regs *ctx)
{
	__u64 ra = 0;
	bpf_probe_read_user(&ra, sizeof(ra), (void *)PT_REGS_SP(ctx));
	return ra;
}

/* Where argument n (1-based, passed on the stack) lies at entry: SysV passes 6 in registers, the 7th above the return address. */
#define orb8_stack_arg_addr(ctx, n) (PT_REGS_SP(ctx) + 8 * ((n) - 6))

/*
 * Go's register ABI (ABIInternal, Go 1.17+ on amd64): integer arguments and
 * results in rax, rbx, rcx, rdi, rsi, r8-r11; the running goroutine (g) in r14.
 */
#define orb8_go_arg1(ctx) ((ctx)->ax)
#define orb8_go_arg2(ctx) ((ctx)->bx)
#define orb8_go_arg3(ctx) ((ctx)->cx)
#define orb8_go_ret1(ctx) ((ctx)->ax)
#define orb8_go_g(ctx) ((ctx)->r14)

#else
#error "orb8 builds BPF objects for amd64 and arm64 only"
#endif
