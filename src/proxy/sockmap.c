// SPDX-License-Identifier: MIT
/*
 * The sockmap loader (sockmap.h): opens the embedded verdict program
 * (src/bpf/sockmap_fwd.bpf.c) with libbpf, sizes its maps to the sessions the process may hold,
 * attaches the verdict to the sockhash and maps the direction slots into the process, where
 * src/net/fwd_sockmap.c reads the byte counts and sets the modes.
 */
#include "proxy/sockmap.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sluice/privs.h>

#include "bpf/sockmap_dir.h"
#include "proxy/libbpf_quiet.h"
#include "proxy/sockmap_obj.h"

struct sl_sockmap {
	struct bpf_object *obj;
	int socks_fd, index_fd, prog_fd;
	struct sl_sockmap_dir *dirs;
	size_t dirs_len; /* bytes mapped */
	uint32_t pairs;
};

/* Opens the object and sizes its maps for <pairs> sessions; 0 or a negative errno. */
static int
sockmap_load(struct sl_sockmap *k, char *why, size_t size)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "sluice_sockmap");
	static const char *const names[] = {"sl_sockmap_socks", "sl_sockmap_index",
	                                    "sl_sockmap_dirs"};
	struct bpf_map *maps[3];
	struct bpf_program *prog;
	int err;

	k->obj = bpf_object__open_mem(sl__sockmap_obj, sl__sockmap_obj_len, &oo);
	if (k->obj == NULL) {
		err = -errno;
		snprintf(why, size, "cannot open the embedded BPF object: %s", strerror(-err));
		return err;
	}
	prog = bpf_object__find_program_by_name(k->obj, "sl_sockmap_verdict");
	for (size_t i = 0; i < 3; i++) {
		maps[i] = bpf_object__find_map_by_name(k->obj, names[i]);
		if (maps[i] == NULL || prog == NULL) {
			snprintf(why, size,
			         "the embedded BPF object lacks its maps or its program");
			return -ENOENT;
		}
		err = bpf_map__set_max_entries(maps[i], 2 * k->pairs);
		if (err != 0) {
			snprintf(why, size, "cannot size the map %s: %s", names[i], strerror(-err));
			return err;
		}
	}
	/* the index grows with the sessions rather than all at once */
	err = bpf_map__set_map_flags(maps[1], bpf_map__map_flags(maps[1]) | BPF_F_NO_PREALLOC);
	if (err == 0)
		err = bpf_object__load(k->obj);
	if (err != 0) {
		snprintf(why, size, "the kernel refused to load the sockmap program: %s",
		         strerror(-err));
		return err;
	}
	k->socks_fd = bpf_map__fd(maps[0]);
	k->index_fd = bpf_map__fd(maps[1]);
	k->prog_fd = bpf_program__fd(prog);
	k->dirs_len = (size_t)2 * k->pairs * sizeof(struct sl_sockmap_dir);
	k->dirs = mmap(NULL, k->dirs_len, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(maps[2]),
	               0);
	if (k->dirs == MAP_FAILED) {
		err = -errno;
		k->dirs = NULL;
		snprintf(why, size, "cannot map the sockmap's direction slots: %s", strerror(-err));
		return err;
	}
	if (bpf_prog_attach(k->prog_fd, k->socks_fd, BPF_SK_SKB_STREAM_VERDICT, 0) != 0) {
		err = -errno;
		snprintf(why, size, "cannot attach the sockmap verdict: %s", strerror(-err));
		return err;
	}
	return 0;
}

int
sl__sockmap_open(struct sl_sockmap **out, uint32_t pairs, char *why, size_t size)
{
	libbpf_print_fn_t print;
	struct sl_sockmap *k;
	char cap[64];
	int err;

	*out = NULL;
	/* CAP_PERFMON for the verdict's read of the destination's tcp_sock: without it the
	 * verifier refuses the program with an error that names nothing */
	if (sl_privs_check(UINT64_C(1) << CAP_BPF | UINT64_C(1) << CAP_NET_ADMIN |
	                           UINT64_C(1) << CAP_PERFMON,
	                   cap, sizeof(cap)) != 0) {
		snprintf(why, size,
		         "loading its program needs %s, which this process does not have", cap);
		return -EPERM;
	}
	if (pairs == 0 || pairs > UINT32_MAX / 4) {
		snprintf(why, size, "cannot size the sockmap for %u sessions", pairs);
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	k->pairs = pairs;
	print = libbpf_set_print(sl__libbpf_quiet);
	err = sockmap_load(k, why, size);
	libbpf_set_print(print);
	if (err != 0) {
		sl__sockmap_close(k);
		return err;
	}
	*out = k;
	return 0;
}

int
sl__sockmap_worker(const struct sl_sockmap *k, unsigned index, unsigned nworkers,
                   struct sl_fwd_sockmap *w)
{
	uint32_t n = nworkers != 0 ? nworkers : 1;
	/* the remainder goes one each to the first workers: no slot is left unused */
	uint32_t rest = k->pairs % n;
	uint32_t share = k->pairs / n + (index < rest);

	*w = (struct sl_fwd_sockmap){.socks_fd = k->socks_fd,
	                             .index_fd = k->index_fd,
	                             .dirs = k->dirs,
	                             .first =
	                                     index * (k->pairs / n) + (index < rest ? index : rest),
	                             .cap = share};
	if (share == 0)
		return 0; /* no slot: every session runs as copy, counted as refused */
	w->free = malloc(share * sizeof(w->free[0]));
	w->pairs = calloc(share, sizeof(w->pairs[0]));
	if (w->free == NULL || w->pairs == NULL) {
		sl__sockmap_worker_fini(w);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < share; i++)
		w->free[i] = w->first + i;
	w->nfree = share;
	return 0;
}

void
sl__sockmap_worker_fini(struct sl_fwd_sockmap *w)
{
	free(w->free);
	free(w->pairs);
	w->free = NULL;
	w->pairs = NULL;
	w->nfree = w->cap = 0;
}

void
sl__sockmap_close(struct sl_sockmap *k)
{
	if (k == NULL)
		return;
	if (k->dirs != NULL)
		munmap(k->dirs, k->dirs_len);
	/* the maps go with the object, and the sockets still in them leave the sockhash */
	bpf_object__close(k->obj);
	free(k);
}
