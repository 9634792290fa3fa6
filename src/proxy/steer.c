// SPDX-License-Identifier: MIT
/*
 * The steering loader (steer.h): opens the embedded SO_REUSEPORT program
 * (src/bpf/steer_cpu.bpf.c) with libbpf, sizes its CPU -> socket map to the possible CPUs,
 * fills it with one listener's worker sockets and attaches it to their reuseport group. The
 * group holds the program from then on, so the object is closed at once. Called by proxy.c;
 * sl__steer_migrate() attaches the hash-steering program of the same object, for its kind,
 * its map naming the one socket a closing socket's clients move to (handover.c). Sockets a
 * previous process handed over are still in its map: see sock_put().
 */
#include "proxy/steer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy/libbpf_quiet.h"
#include "proxy/steer_obj.h"

/* how long sock_put() waits for the kernel to free a detached program's map: 400 x 5 ms */
#define SOCK_PUT_TRIES 400
#define SOCK_PUT_PAUSE_NS 5000000L

/*
 * Puts socket <fd> at <key> of socket array <mfd>: 0, or a negative errno. A socket sits in
 * one socket array at a time (the kernel says EBUSY to a second), and an upgrade's or a
 * reload's sockets are still in the map of the program the previous process or listener
 * attached. Once that program is detached (sl__steer_detach()) the kernel frees it and then
 * its map, which lets the sockets go, after an RCU grace period and a workqueue's turn: until
 * then (at most 2 s) this tries again every 5 ms. Blocks that long at most.
 */
static int
sock_put(int mfd, uint32_t key, int fd, uint64_t flags)
{
	const struct timespec pause = {.tv_nsec = SOCK_PUT_PAUSE_NS};
	uint64_t val = (uint64_t)fd;

	for (int i = 0;; i++) {
		if (bpf_map_update_elem(mfd, &key, &val, flags) == 0)
			return 0;
		if (errno != EBUSY || i + 1 == SOCK_PUT_TRIES)
			return -errno;
		nanosleep(&pause, NULL);
	}
}

/*
 * Opens the embedded object and loads its program <name> alone (<what> in messages), the
 * CPU -> socket map sized to <ncpus>: 0 with <*obj>, <*prog>, <*map> set, or a negative errno
 * with <why> saying what failed.
 */
static int
steer_load(const char *name, const char *what, int ncpus, struct bpf_object **obj,
           struct bpf_program **prog, struct bpf_map **map, char *why, size_t size)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "sluice_steer");
	struct bpf_program *each;
	int err;

	*obj = bpf_object__open_mem(sl__steer_obj, sl__steer_obj_len, &oo);
	if (*obj == NULL) {
		err = -errno;
		snprintf(why, size, "cannot open the embedded BPF object: %s", strerror(-err));
		return err;
	}
	*map = bpf_object__find_map_by_name(*obj, "sl_steer_socks");
	*prog = bpf_object__find_program_by_name(*obj, name);
	if (*map == NULL || *prog == NULL) {
		snprintf(why, size, "the embedded BPF object lacks its map or its program");
		err = -ENOENT;
		goto err_close;
	}
	bpf_object__for_each_program(each, *obj) bpf_program__set_autoload(each, each == *prog);
	err = bpf_map__set_max_entries(*map, (uint32_t)ncpus);
	if (err == 0)
		err = bpf_object__load(*obj);
	if (err != 0) {
		snprintf(why, size, "the kernel refused to load the %s: %s%s", what, strerror(-err),
		         err == -EPERM ? " (it needs CAP_BPF or root)" : "");
		goto err_close;
	}
	return 0;
err_close:
	bpf_object__close(*obj);
	*obj = NULL;
	return err;
}

int
sl__steer_attach(const int *fds, const int *cpus, unsigned n, char *why, size_t size)
{
	libbpf_print_fn_t print;
	struct bpf_program *prog = NULL;
	struct bpf_object *obj = NULL;
	struct bpf_map *map = NULL, *fallback;
	int ncpus, mfd, pfd, err;
	uint32_t zero = 0;

	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		err = ncpus < 0 ? ncpus : -EINVAL;
		snprintf(why, size, "cannot count the possible CPUs: %s", strerror(-err));
		return err;
	}
	print = libbpf_set_print(sl__libbpf_quiet);
	err = steer_load("sl_steer_cpu", "steering program", ncpus, &obj, &prog, &map, why, size);
	if (err != 0)
		goto out_print;
	mfd = bpf_map__fd(map);
	for (unsigned i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= ncpus) {
			err = -EINVAL;
			snprintf(why, size, "worker %u has no CPU of its own", i);
			goto out_close_obj;
		}
	}
	if (n == 0) {
		err = 0;
		goto out_close_obj;
	}
	/* a closing socket's clients whose CPU has no socket here: to the first worker's */
	fallback = bpf_object__find_map_by_name(obj, "sl_steer_fallback");
	if (fallback == NULL ||
	    bpf_map_update_elem(bpf_map__fd(fallback), &zero, &cpus[0], BPF_ANY) != 0) {
		err = fallback == NULL ? -ENOENT : -errno;
		snprintf(why, size, "cannot name the socket clients move to: %s", strerror(-err));
		goto out_close_obj;
	}
	/*
	 * Off with the program a previous process (upgrade) or listener (reload) attached to the
	 * group: its map holds these sockets (sock_put() waits for it to let them go), and may
	 * send clients to sockets that process closes. New connections go by hash until this
	 * program is attached.
	 */
	err = sl__steer_detach(fds[0]);
	if (err != 0) {
		snprintf(why, size, "cannot remove the steering program the sockets carry: %s",
		         strerror(-err));
		goto out_close_obj;
	}
	for (unsigned i = 0; i < n; i++) {
		err = sock_put(mfd, (uint32_t)cpus[i], fds[i], BPF_NOEXIST);
		if (err != 0) {
			snprintf(why, size, "cannot map CPU %d to worker %u's socket: %s", cpus[i],
			         i, strerror(-err));
			goto out_close_obj;
		}
	}
	pfd = bpf_program__fd(prog);
	if (setsockopt(fds[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &pfd, sizeof(pfd)) == -1) {
		err = -errno;
		snprintf(why, size, "cannot attach the steering program: %s", strerror(-err));
		goto out_close_obj;
	}
	err = 0;
	/* attached: the group holds the program, and the program its map */
out_close_obj:
	bpf_object__close(obj);
out_print:
	libbpf_set_print(print);
	return err;
}

int
sl__steer_migrate(int fd, char *why, size_t size)
{
	libbpf_print_fn_t print = libbpf_set_print(sl__libbpf_quiet);
	struct bpf_program *prog = NULL;
	struct bpf_object *obj = NULL;
	struct bpf_map *map = NULL;
	int pfd, err;

	err = steer_load("sl_steer_hash", "reuseport program", 1, &obj, &prog, &map, why, size);
	if (err != 0)
		goto out_print;
	/* the previous process's steering program, if any, is detached already (proxy.c) */
	err = sock_put(bpf_map__fd(map), 0, fd, BPF_ANY);
	if (err != 0) {
		snprintf(why, size, "cannot name the socket clients move to: %s", strerror(-err));
		goto out_close_obj;
	}
	pfd = bpf_program__fd(prog);
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &pfd, sizeof(pfd)) == -1) {
		err = -errno;
		snprintf(why, size, "cannot attach the reuseport program: %s", strerror(-err));
	}
out_close_obj:
	bpf_object__close(obj);
out_print:
	libbpf_set_print(print);
	return err;
}

int
sl__steer_detach(int fd)
{
	int unused = 0; /* the kernel wants an int, and reads nothing from it */

	if (setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &unused, sizeof(unused)) == -1 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}
