// forkload: processes that start and exit at a steady rate (per second),
// each one exit event for the process probe, until killed.
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long rate = argc > 1 ? atol(argv[1]) : 5000;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		/* 1 ms ticks: rate/1000 children per tick */
		for (long i = 0; i < rate / 1000; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(0);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_nsec -= 1000000000;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
}
