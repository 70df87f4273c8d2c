/*
 * contain ROOT PROG [ARG...]: runs PROG in a mount namespace of its own whose
 * root is ROOT, as a container runtime does (pivot_root, the old root
 * detached). The kernel then writes the paths of its mappings relative to
 * ROOT, and nothing of the host is reachable by path from inside.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s ROOT PROG [ARG...]\n", argv[0]);
		return 2;
	}
	if (unshare(CLONE_NEWNS))
		die("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("make mounts private");
	if (mount(argv[1], argv[1], NULL, MS_BIND | MS_REC, NULL))
		die("bind the new root");
	int old = open("/", O_DIRECTORY | O_RDONLY);
	if (old < 0 || chdir(argv[1]))
		die("open the roots");
	/* As runc does: the old root ends up stacked on the new, and is detached. */
	if (syscall(SYS_pivot_root, ".", "."))
		die("pivot_root");
	if (fchdir(old) || umount2(".", MNT_DETACH) || chdir("/"))
		die("detach the old root");
	close(old);
	execv(argv[2], argv + 2);
	die("exec");
}
