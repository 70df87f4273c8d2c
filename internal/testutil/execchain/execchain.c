//go:build ignore

/*
 * execchain N: exec itself N more times, then exit 0. One process makes N
 * execs with no fork between them: the fastest exec storm a test can make.
 * No libc (x86-64 raw syscalls): a static libc's start-up costs ~10x the exec.
 */
#define SYS_execve 59
#define SYS_exit 60

static long syscall3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

void start_c(long *sp)
{
	long argc = sp[0];
	char **argv = (char **)(sp + 1);
	long n = 0;
	if (argc > 1)
		for (char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (*p - '0');
	if (n > 0) {
		char buf[24];
		int i = sizeof(buf) - 1;
		long m = n - 1;
		buf[i] = 0;
		do {
			buf[--i] = '0' + m % 10;
			m /= 10;
		} while (m);
		char *args[] = {argv[0], &buf[i], 0};
		char *envp[] = {0};
		syscall3(SYS_execve, (long)"/proc/self/exe", (long)args, (long)envp);
		syscall3(SYS_exit, 1, 0, 0);
	}
	syscall3(SYS_exit, 0, 0, 0);
}

__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall start_c\n");
