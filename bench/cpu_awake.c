// SPDX-License-Identifier: MIT
/*
 * Keeps one CPU from going idle without taking time from anything else: pinned to <CPU>, in
 * the SCHED_IDLE class (the scheduler runs it only when nothing else wants that CPU, and
 * preempts it at once for anything that does), it spins with `pause` until killed.
 *   cpu_awake CPU
 * Why: a virtual CPU that goes idle is halted by the guest, and waking it again (an
 * interrupt the hypervisor must deliver to a descheduled vCPU) can take milliseconds. A
 * latency benchmark whose requests cross CPUs then measures those wake-ups, whichever proxy
 * it runs (bench/run-attack, AWAKE). A busy host's CPUs do not halt between requests.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	struct sched_param param = {.sched_priority = 0};
	cpu_set_t set;
	char *end;
	long cpu;

	if (argc != 2) {
		fprintf(stderr, "usage: cpu_awake CPU\n");
		return 2;
	}
	cpu = strtol(argv[1], &end, 10);
	if (*argv[1] == '\0' || *end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE) {
		fprintf(stderr, "cpu_awake: bad CPU %s\n", argv[1]);
		return 2;
	}
	CPU_ZERO(&set);
	CPU_SET((int)cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		fprintf(stderr, "cpu_awake: CPU %ld: %s\n", cpu, strerror(errno));
		return 1;
	}
	if (sched_setscheduler(0, SCHED_IDLE, &param) != 0) {
		fprintf(stderr, "cpu_awake: SCHED_IDLE: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
#if defined(__x86_64__) || defined(__i386__)
		__asm__ volatile("pause" ::: "memory");
#else
		__asm__ volatile("" ::: "memory");
#endif
	}
}
