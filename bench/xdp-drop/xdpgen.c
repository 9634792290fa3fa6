// SPDX-License-Identifier: MIT
/*
 * A bounded SYN generator for bench/xdp-drop/run that feeds the receiving veth raw xdp_frames,
 * as a NIC driver feeds its XDP program, instead of skbs (synflood.c). It runs xdpgen.bpf.c's
 * xdpgen_send with BPF_PROG_RUN in live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, Linux >= 5.18)
 * on one prepared Ethernet SYN: the kernel redirects each frame to IFNAME's ndo_xdp_xmit, and
 * the peer veth's NAPI, raised on this CPU, runs before the syscall returns each batch. Prints
 * "sent COUNT in SECONDS s: PPS pps; NS ns of CPU per frame (...)": the CPU time is this
 * thread's (CLOCK_THREAD_CPUTIME_ID, which holds the softirqs run on its way out of each batch)
 * plus what ksoftirqd of this CPU ran meanwhile (work the kernel deferred); pin it with taskset.
 *   xdpgen OBJ send IFNAME DSTMAC SRC DST PORT COUNT   (IFNAME's own MAC is the source)
 *   xdpgen OBJ attach IFNAME pass|drop   attaches xdpgen_pass or xdpgen_drop, native mode
 *                                        (it stays after exit: ip link set IFNAME xdp off)
 *   xdpgen gro IFNAME on|off    sets IFNAME's GRO (what ethtool -K IFNAME gro does)
 * Root only.
 */
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "syn.h"

/* frames per batch: the kernel's default, one NAPI poll's budget on the receiving veth */
#define BATCH 64
/* frames per BPF_PROG_RUN call, so that a call stays well under a second */
#define CHUNK (1u << 22)

struct frame {
	struct ethhdr eth;
	struct syn_pkt syn;
} __attribute__((packed));

/* Fills <f> as a SYN from <src>:1024 to <dst>:<dport> (addresses in network order). */
static void
build(struct frame *f, const uint8_t *smac, const uint8_t *dmac, uint32_t src, uint32_t dst,
      uint16_t dport)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eth.h_dest, dmac, ETH_ALEN);
	memcpy(f->eth.h_source, smac, ETH_ALEN);
	f->eth.h_proto = htons(ETH_P_IP);
	syn_build(&f->syn, src, dst, 1024, dport);
}

static double
now(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* The pid of ksoftirqd/<cpu>, or 0 if none is found. */
static int
ksoftirqd(int cpu)
{
	char want[32], comm[64], path[300];
	struct dirent *e;
	DIR *d = opendir("/proc");
	int pid = 0;

	if (d == NULL)
		return 0;
	snprintf(want, sizeof(want), "ksoftirqd/%d\n", cpu);
	while (pid == 0 && (e = readdir(d)) != NULL) {
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, want) == 0)
			pid = atoi(e->d_name);
		fclose(f);
	}
	closedir(d);
	return pid;
}

/* ns that task <pid> has run on a CPU so far (its schedstat), 0 if unknown */
static double
ran(int pid)
{
	char path[64];
	double ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%lf", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

static int
ifindex(const char *name)
{
	unsigned i = if_nametoindex(name);

	if (i == 0)
		fprintf(stderr, "xdpgen: no interface %s\n", name);
	return (int)i;
}

static int
gro(const char *name, const char *state)
{
	struct ethtool_value v = {.cmd = ETHTOOL_SGRO, .data = strcmp(state, "on") == 0};
	struct ifreq r = {.ifr_data = (char *)&v};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc = 0;

	if (fd == -1) {
		perror("xdpgen: socket");
		return 1;
	}
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	if (ioctl(fd, SIOCETHTOOL, &r) == -1) {
		fprintf(stderr, "xdpgen: gro %s on %s: %s\n", state, name, strerror(errno));
		rc = 1;
	}
	close(fd);
	return rc;
}

/* Opens <path>, sets the redirect's target to <target> and loads it; NULL on failure. */
static struct bpf_object *
load(const char *path, int target)
{
	struct bpf_object *o = bpf_object__open_file(path, NULL);
	struct bpf_map *m;
	int err;

	err = libbpf_get_error(o);
	if (err != 0) {
		fprintf(stderr, "xdpgen: open %s: %s\n", path, strerror(-err));
		return NULL;
	}
	bpf_object__for_each_map(m, o)
	{
		uint32_t v = (uint32_t)target; /* the section's only variable: xdpgen_ifindex */
		size_t size = 0;

		if (strstr(bpf_map__name(m), ".rodata") == NULL)
			continue;
		if (bpf_map__initial_value(m, &size) == NULL || size != sizeof(v) ||
		    bpf_map__set_initial_value(m, &v, sizeof(v)) != 0) {
			fprintf(stderr, "xdpgen: %s: no xdpgen_ifindex to set\n", path);
			bpf_object__close(o);
			return NULL;
		}
	}
	err = bpf_object__load(o);
	if (err != 0) {
		fprintf(stderr, "xdpgen: load %s: %s\n", path, strerror(-err));
		bpf_object__close(o);
		return NULL;
	}
	return o;
}

static int
attach(const char *path, const char *name, const char *what)
{
	char prog[32];
	int i = ifindex(name), err;
	struct bpf_object *o;

	if (i == 0)
		return 1;
	snprintf(prog, sizeof(prog), "xdpgen_%s", what);
	o = load(path, 0);
	if (o == NULL)
		return 1;
	if (bpf_object__find_program_by_name(o, prog) == NULL) {
		fprintf(stderr, "xdpgen: no program %s\n", prog);
		bpf_object__close(o);
		return 2;
	}
	err = bpf_xdp_attach(i, bpf_program__fd(bpf_object__find_program_by_name(o, prog)),
	                     XDP_FLAGS_DRV_MODE, NULL);
	if (err != 0)
		fprintf(stderr, "xdpgen: attach to %s: %s\n", name, strerror(-err));
	bpf_object__close(o);
	return err != 0;
}

static int
send_frames(const char *path, char **a)
{
	static struct frame f;
	struct in_addr src, dst;
	struct ifreq r = {0};
	uint8_t dmac[ETH_ALEN];
	unsigned long count, sent = 0;
	double t0, t1, c0, c1, k0, k1, kernel = 0, secs;
	int i, fd, prog, cpu = sched_getcpu(), kpid = ksoftirqd(cpu);
	struct bpf_object *o;

	if (sscanf(a[1], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
	           &dmac[4], &dmac[5]) != 6 ||
	    inet_pton(AF_INET, a[2], &src) != 1 || inet_pton(AF_INET, a[3], &dst) != 1) {
		fprintf(stderr, "xdpgen: bad MAC or address\n");
		return 2;
	}
	count = strtoul(a[5], NULL, 10);
	i = ifindex(a[0]);
	if (i == 0)
		return 1;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", a[0]);
	if (fd == -1 || ioctl(fd, SIOCGIFHWADDR, &r) == -1) {
		perror("xdpgen: the interface's MAC");
		return 1;
	}
	close(fd);
	build(&f, (const uint8_t *)r.ifr_hwaddr.sa_data, dmac, src.s_addr, dst.s_addr,
	      (uint16_t)strtoul(a[4], NULL, 10));
	o = load(path, i);
	if (o == NULL)
		return 1;
	prog = bpf_program__fd(bpf_object__find_program_by_name(o, "xdpgen_send"));
	k0 = ran(kpid);
	c0 = now(CLOCK_THREAD_CPUTIME_ID);
	t0 = now(CLOCK_MONOTONIC);
	while (sent < count) {
		unsigned n = count - sent < CHUNK ? (unsigned)(count - sent) : CHUNK;
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = &f, .data_size_in = sizeof(f),
		            .repeat = n, .batch_size = BATCH, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);
		int err = bpf_prog_test_run_opts(prog, &run);

		if (err == -EINTR)
			continue;
		if (err != 0) {
			fprintf(stderr, "xdpgen: BPF_PROG_RUN: %s\n", strerror(-err));
			bpf_object__close(o);
			return 1;
		}
		kernel += (double)run.duration * n; /* ns per frame, rounded down */
		sent += n;
	}
	t1 = now(CLOCK_MONOTONIC);
	c1 = now(CLOCK_THREAD_CPUTIME_ID);
	k1 = ran(kpid);
	secs = (t1 - t0) / 1e9;
	printf("sent %lu in %.3f s: %.0f pps; %.1f ns of CPU per frame (this thread %.1f, "
	       "ksoftirqd/%d %.1f; the kernel's duration %.1f)\n",
	       sent, secs, (double)sent / secs, (c1 - c0 + k1 - k0) / (double)sent,
	       (c1 - c0) / (double)sent, cpu, (k1 - k0) / (double)sent, kernel / (double)sent);
	/* the CPU time stays right, but whatever took the CPU may have shared its caches */
	if (t1 - t0 > 2 * (c1 - c0 + k1 - k0) && t1 - t0 > 1e8)
		fprintf(stderr,
		        "xdpgen: off CPU %d for %.3f s of the %.3f s: another task ran there\n",
		        cpu, (t1 - t0 - (c1 - c0 + k1 - k0)) / 1e9, secs);
	bpf_object__close(o);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "gro") == 0)
		return gro(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[2], "attach") == 0)
		return attach(argv[1], argv[3], argv[4]);
	if (argc == 9 && strcmp(argv[2], "send") == 0)
		return send_frames(argv[1], argv + 3);
	fprintf(stderr, "usage: xdpgen OBJ send IFNAME DSTMAC SRC DST PORT COUNT\n"
	                "       xdpgen OBJ attach IFNAME pass|drop\n"
	                "       xdpgen gro IFNAME on|off\n");
	return 2;
}
