// SPDX-License-Identifier: MIT
/*
 * Command-line parsing for sluice (cli.h) and the snapshot of the one-line and demo modes.
 * Every default comes from sl_config_*_defaults(), the one source of defaults.
 */
#include "cli.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/addr.h>
#include <sluice/config.h>
#include <sluice/lb.h>
#include <sluice/log.h>
#include <sluice/loop.h>

enum {
	OPT_CHECK = 256,
	OPT_BALANCE,
	OPT_FORWARD,
	OPT_DRAIN,
	OPT_LOG_LEVEL,
	OPT_DEMO,
	OPT_ADMIN,
	OPT_UPGRADE,
	OPT_UPGRADE_SOCKET,
	OPT_USER,
	OPT_GROUP,
	OPT_CONTROL,
	OPT_PROBE,
	OPT_LIST_KEYS,
	OPT_RUNTIME
};

/* --drain-timeout's largest value: a day (the file's drain_timeout takes up to 49 days) */
#define DRAIN_MAX_MS 86400000u

static const struct option long_options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"listen", required_argument, NULL, 'l'},
        {"backends", required_argument, NULL, 'b'},
        {"workers", required_argument, NULL, 'w'},
        {"balance", required_argument, NULL, OPT_BALANCE},
        {"forward", required_argument, NULL, OPT_FORWARD},
        {"drain-timeout", required_argument, NULL, OPT_DRAIN},
        {"runtime", required_argument, NULL, OPT_RUNTIME},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"demo", required_argument, NULL, OPT_DEMO},
        {"admin", required_argument, NULL, OPT_ADMIN},
        {"upgrade", no_argument, NULL, OPT_UPGRADE},
        {"upgrade-socket", required_argument, NULL, OPT_UPGRADE_SOCKET},
        {"user", required_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"probe", required_argument, NULL, OPT_PROBE},
        {"list-keys", no_argument, NULL, OPT_LIST_KEYS},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

void
cli_usage(FILE *f)
{
	fputs("usage:\n"
	      "  sluice                      run the demo: 127.0.0.1:8080 over three built-in "
	      "backends\n"
	      "  sluice --demo ADDR:PORT     run the demo on another address\n"
	      "  sluice -c FILE              run with a YAML configuration\n"
	      "  sluice --check -c FILE      validate a configuration and exit\n"
	      "  sluice -l ADDR:PORT -b ADDR:PORT[,ADDR:PORT...] [options]\n"
	      "                              proxy one listener to a list of backends\n"
	      "  sluice --probe URL          GET http://ADDR:PORT/PATH (an address, not a name)\n"
	      "                              within 2 s: exit 0 on a 2xx status, else 1\n"
	      "options:\n"
	      "  -w, --workers N             worker threads (default: one per CPU)\n"
	      "      --balance ALGORITHM     round_robin, weighted, least_conn, p2c, maglev\n"
	      "                              (-l and the demo; with -c set each group's\n"
	      "                              balance: in the file)\n"
	      "      --forward MODE          auto (default), splice, copy, uring or sockmap\n"
	      "                              (-l and the demo; with -c set each listener's\n"
	      "                              forward: in the file)\n"
	      "      --drain-timeout TIME    graceful shutdown deadline, as 30s (the default)\n"
	      "      --runtime RUNTIME       event loops on auto (default: io_uring if the kernel\n"
	      "                              can, else epoll), io_uring or epoll\n"
	      "      --log-level LEVEL       error, warn, info (default), debug\n"
	      "      --admin ADDR:PORT       serve /metrics, /stats, /healthz, /readyz there\n"
	      "                              (the demo: 127.0.0.1:9090; off: --admin off)\n"
	      "      --upgrade-socket PATH   hand the listeners to a new sluice over this unix\n"
	      "                              socket (the file's upgrade_socket)\n"
	      "      --upgrade               start as the upgrade of the sluice serving the\n"
	      "                              upgrade socket: take its listeners, then it drains\n"
	      "      --user NAME|UID         after binding, run as this user (with -c or -l)\n"
	      "      --group NAME|GID        ... and this group (default: the user's own)\n"
	      "      --control PATH          the control socket for sluicectl there\n"
	      "                              (the demo: /tmp/sluice-demo.sock; off: --control "
	      "off)\n"
	      "      --list-keys             print every configuration key: type, range, default,\n"
	      "                              and whether a reload applies it (live) or not\n"
	      "  -V, --version               print the version\n"
	      "  -h, --help                  print this help\n"
	      "IPv6 addresses are written [::1]:PORT. SIGTERM or SIGINT drains and exits; a "
	      "second\n"
	      "one during the drain closes every connection at once. SIGHUP reloads the\n"
	      "configuration file's live fields.\n",
	      f);
}

static int
parse_long(const char *s, const char *what, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "sluice: %s must be an integer from %ld to %ld, got \"%s\"\n", what,
		        min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* --drain-timeout: a duration as drain_timeout takes one (sl_config_duration_parse()), a day
 * at most. */
static int
parse_drain(const char *s, long *out)
{
	uint32_t ms;

	if (sl_config_duration_parse(s, &ms) != 0 || ms > DRAIN_MAX_MS) {
		fprintf(stderr,
		        "sluice: --drain-timeout must be a duration from 0 to 24h (such as "
		        "500, 250ms, 30s or 2m; a bare number is milliseconds), got \"%s\"\n",
		        s);
		return -EINVAL;
	}
	*out = (long)ms;
	return 0;
}

/*
 * Whether option <opt> was given already (then it is said, and true): a second -b or -l would
 * silently replace the first, so every option is taken once. <seen> holds one bit per entry
 * of long_options.
 */
static bool
given_twice(int opt, uint32_t *seen)
{
	static_assert(SL_ARRAY_SIZE(long_options) <= 32, "one bit of <seen> per option");

	for (size_t i = 0; long_options[i].name != NULL; i++) {
		if (long_options[i].val != opt)
			continue;
		if ((*seen & (UINT32_C(1) << i)) == 0) {
			*seen |= UINT32_C(1) << i;
			return false;
		}
		if (opt < 256)
			fprintf(stderr, "sluice: -%c (--%s) is given twice: give it once%s\n", opt,
			        long_options[i].name,
			        opt == 'b' ? ", with every backend in one comma-separated list"
			                   : "");
		else
			fprintf(stderr, "sluice: --%s is given twice: give it once\n",
			        long_options[i].name);
		return true;
	}
	return false;
}

int
cli_parse(struct cli *c, int argc, char **argv)
{
	unsigned given = 0; /* options on the command line */
	uint32_t seen = 0;  /* which of them: given_twice() */
	bool check = false;
	int opt;

	memset(c, 0, sizeof(*c));
	c->workers = -1;
	c->drain_ms = -1;
	c->runtime = -1;
	c->balance = -1;
	c->forward = -1;
	c->log_level = -1;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "c:l:b:w:Vh", long_options, NULL)) != -1) {
		given++;
		if (given_twice(opt, &seen))
			return -EINVAL;
		switch (opt) {
		case 'c':
			if (optarg[0] == '\0') {
				fputs("sluice: -c needs a configuration file, got an empty "
				      "string\n",
				      stderr);
				return -EINVAL;
			}
			c->config_path = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case 'l':
			c->listen = optarg;
			break;
		case 'b':
			c->backends = optarg;
			break;
		case 'w':
			if (parse_long(optarg, "--workers", 0, SL_CONFIG_WORKERS_MAX, &c->workers))
				return -EINVAL;
			break;
		case OPT_BALANCE: {
			enum sl_lb_algo algo;

			if (sl_lb_algo_parse(optarg, &algo) != 0) {
				fprintf(stderr,
				        "sluice: --balance must be round_robin, weighted, "
				        "least_conn, "
				        "p2c or maglev, got \"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			c->balance = (int)algo;
			break;
		}
		case OPT_FORWARD: {
			enum sl_fwd_mode mode;

			if (sl_fwd_mode_parse(optarg, &mode) != 0) {
				fprintf(stderr,
				        "sluice: --forward must be auto, splice, copy, uring or "
				        "sockmap, got \"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			c->forward = (int)mode;
			break;
		}
		case OPT_DRAIN:
			if (parse_drain(optarg, &c->drain_ms) != 0)
				return -EINVAL;
			break;
		case OPT_RUNTIME: {
			enum sl_loop_runtime rt;

			if (sl_loop_runtime_parse(optarg, &rt) != 0) {
				fprintf(stderr,
				        "sluice: --runtime must be auto, io_uring or epoll, got "
				        "\"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			c->runtime = (int)rt;
			break;
		}
		case OPT_LOG_LEVEL: {
			enum sl_log_level level;

			if (sl_log_level_parse(optarg, &level) != 0) {
				fprintf(stderr,
				        "sluice: --log-level must be error, warn, info or debug, "
				        "got "
				        "\"%s\"\n",
				        optarg);
				return -EINVAL;
			}
			c->log_level = (int)level;
			break;
		}
		case OPT_DEMO:
			c->demo_listen = optarg;
			break;
		case OPT_ADMIN:
			c->admin = optarg;
			break;
		case OPT_UPGRADE:
			c->upgrade = true;
			break;
		case OPT_UPGRADE_SOCKET:
			c->upgrade_socket = optarg;
			break;
		case OPT_USER:
			c->user = optarg;
			break;
		case OPT_GROUP:
			c->group = optarg;
			break;
		case OPT_CONTROL:
			c->control = optarg;
			break;
		case OPT_PROBE:
			c->probe_url = optarg;
			break;
		case OPT_LIST_KEYS:
			c->mode = CLI_LIST_KEYS;
			return 0;
		case 'V':
			c->mode = CLI_VERSION;
			return 0;
		case 'h':
			c->mode = CLI_HELP;
			return 0;
		default:
			fputs("sluice: try 'sluice --help'\n", stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice: unexpected argument \"%s\"; try 'sluice --help'\n",
		        argv[optind]);
		return -EINVAL;
	}
	/* any other option would be ignored: say so rather than let it seem to apply */
	if (c->probe_url && given > 1) {
		fputs("sluice: --probe URL runs alone (no other option): it probes a running "
		      "sluice\n",
		      stderr);
		return -EINVAL;
	}
	if (c->probe_url) {
		c->mode = CLI_PROBE;
		return 0;
	}
	if (check && !c->config_path) {
		fputs("sluice: --check needs -c FILE\n", stderr);
		return -EINVAL;
	}
	if (c->config_path && (c->listen || c->backends)) {
		fputs("sluice: -c FILE and -l/-b are exclusive\n", stderr);
		return -EINVAL;
	}
	/* each listener's forward and each group's balance decide: a flag that would change
	 * nothing is refused rather than left to seem to apply */
	if (c->config_path && (c->forward >= 0 || c->balance >= 0)) {
		fprintf(stderr,
		        "sluice: %s is for -l and the demo; with -c FILE set %s in the file (on "
		        "each "
		        "%s)\n",
		        c->forward >= 0 ? "--forward" : "--balance",
		        c->forward >= 0 ? "forward:" : "balance:",
		        c->forward >= 0 ? "listener" : "group");
		return -EINVAL;
	}
	if (c->demo_listen && (c->config_path || c->listen || c->backends)) {
		fputs("sluice: --demo and -c/-l/-b are exclusive\n", stderr);
		return -EINVAL;
	}
	if (c->backends && !c->listen) {
		fputs("sluice: -b needs -l ADDR:PORT (the address to listen on); try 'sluice "
		      "--help'\n",
		      stderr);
		return -EINVAL;
	}
	/* -l alone once put the demo's built-in backends behind ADDR: surely a mistake */
	if (c->listen && !c->backends) {
		fputs("sluice: -l needs -b ADDR:PORT[,ADDR:PORT...] (the backends to proxy to); "
		      "try "
		      "'sluice --help'\n",
		      stderr);
		return -EINVAL;
	}
	if (c->upgrade && !c->config_path && !c->listen) {
		fputs("sluice: --upgrade takes over a running sluice's listeners: it needs -c FILE "
		      "or -l/-b\n",
		      stderr);
		return -EINVAL;
	}
	/* the demo's backends are threads before the drop could run (sluice/privs.h) */
	if ((c->user || c->group) && !c->config_path && !c->listen) {
		fputs("sluice: --user and --group need -c FILE or -l ADDR:PORT\n", stderr);
		return -EINVAL;
	}
	if (c->config_path)
		c->mode = check ? CLI_CHECK : CLI_RUN;
	else if (c->listen)
		c->mode = CLI_ONELINE;
	else
		c->mode = CLI_DEMO;
	return 0;
}

int
cli_parse_backends(const char *list, struct sl_addr *out, size_t max)
{
	const char *p = list;
	char tok[256];
	int n = 0;

	if (list[0] == '\0') {
		fputs("sluice: -b needs at least one ADDR:PORT\n", stderr);
		return -EINVAL;
	}
	for (;;) {
		size_t len = strcspn(p, ",");
		char why[128];

		/* "a,,b", a trailing or leading comma: an address left out */
		if (len == 0 || len >= sizeof(tok)) {
			fprintf(stderr, "sluice: bad -b list \"%s\": %s\n", list,
			        len == 0 ? "an empty item (two commas in a row, or one at an end)"
			                 : "an item longer than any address");
			return -EINVAL;
		}
		memcpy(tok, p, len);
		tok[len] = '\0';
		if ((size_t)n == max) {
			fprintf(stderr, "sluice: at most %zu backends on the command line\n", max);
			return -EINVAL;
		}
		if (sl_addr_parse_configured(&out[n], tok, false, why, sizeof(why)) != 0) {
			fprintf(stderr, "sluice: bad backend address \"%s\": %s\n", tok, why);
			return -EINVAL;
		}
		/* one server listed twice would be counted, checked and weighted twice, and one
		 * disable would reach only one of them; the file refuses it too */
		for (int i = 0; i < n; i++) {
			char a[SL_ADDR_STRLEN];

			if (!sl_addr_equal(&out[i], &out[n]))
				continue;
			fprintf(stderr, "sluice: backend %s is given twice in -b\n",
			        sl_addr_format(&out[n], a, sizeof(a)));
			return -EINVAL;
		}
		n++;
		if (p[len] == '\0')
			return n;
		p += len + 1;
	}
}

/* Copies --user or --group <v> (if given) into <out>; -EINVAL (printed) if it cannot be one. */
static int
set_id(char out[SL_CONFIG_NAME_MAX], const char *v, const char *flag)
{
	if (v == NULL)
		return 0;
	if (v[0] == '\0' || strlen(v) >= SL_CONFIG_NAME_MAX || strpbrk(v, " :\"\\") != NULL) {
		fprintf(stderr, "sluice: %s must be a name or an id of 1 to %d bytes, got \"%s\"\n",
		        flag, SL_CONFIG_NAME_MAX - 1, v);
		return -EINVAL;
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/*
 * What the loader refuses in a file (config_validate.c), refused when a flag makes it: --admin
 * on a listener's port, --control or --upgrade-socket naming another of sluice's files.
 * -EINVAL (printed).
 */
/* -EINVAL, said, when a backend reaches the admin endpoint --admin gave (the file's own is
 * checked by its load): it speaks HTTP about sluice, no service to balance. */
static int
admin_reached(const struct sl_config *cfg)
{
	struct sl_host_addrs *host = NULL;
	char a[SL_ADDR_STRLEN];
	int err = 0;

	if (sl_addr_is_any(&cfg->admin.addr))
		host = sl_host_addrs_load(); /* NULL if unreadable: then loopback alone */
	for (size_t g = 0; g < cfg->ngroups && err == 0; g++)
		for (size_t i = 0; i < cfg->groups[g].nbackends && err == 0; i++) {
			const struct sl_config_backend *b = &cfg->groups[g].backends[i];

			if (!sl_addr_reaches_here(&b->addr, &cfg->admin.addr, host))
				continue;
			fprintf(stderr,
			        "sluice: backend %s of group %s reaches sluice's own admin "
			        "endpoint "
			        "(--admin %s), which is no service to balance\n",
			        b->name, cfg->groups[g].name,
			        sl_addr_format(&cfg->admin.addr, a, sizeof(a)));
			err = -EINVAL;
		}
	sl_host_addrs_free(host);
	return err;
}

static int
overrides_clash(const struct sl_config *cfg, const struct cli *c)
{
	const char *files[] = {cfg->access_log.path, cfg->upgrade_socket, cfg->control.path};
	static const char *const keys[] = {"access_log.path", "upgrade_socket", "control.path"};
	char a[SL_ADDR_STRLEN], b[SL_ADDR_STRLEN];
	bool named;

	for (size_t i = 0; c->admin && cfg->admin.addr.len != 0 && i < cfg->nlisteners; i++) {
		if (!sl_addr_overlap(&cfg->admin.addr, &cfg->listeners[i].addr))
			continue;
		sl_addr_format(&cfg->listeners[i].addr, b, sizeof(b));
		/* a listener named by its address (the default) is not named twice */
		named = strcmp(cfg->listeners[i].name, b) != 0;
		fprintf(stderr, "sluice: --admin %s takes the port of listener %s%s%s%s\n",
		        sl_addr_format(&cfg->admin.addr, a, sizeof(a)), cfg->listeners[i].name,
		        named ? " (" : "", named ? b : "", named ? ")" : "");
		return -EINVAL;
	}
	if (c->admin && admin_reached(cfg) != 0)
		return -EINVAL;
	for (size_t i = 0; (c->control || c->upgrade_socket) && i < SL_ARRAY_SIZE(files); i++)
		for (size_t j = 0; j < i; j++) {
			if (files[i] == NULL || files[j] == NULL || files[i][0] == '\0' ||
			    files[j][0] == '\0' || !sl_config_same_file(files[i], files[j]))
				continue;
			if (strcmp(files[i], files[j]) == 0)
				fprintf(stderr,
				        "sluice: %s and %s are both %s: give each its own file\n",
				        keys[j], keys[i], files[i]);
			else
				fprintf(stderr,
				        "sluice: %s %s and %s %s are one file: give each its own "
				        "file\n",
				        keys[j], files[j], keys[i], files[i]);
			return -EINVAL;
		}
	return 0;
}

int
cli_apply_overrides(struct sl_config *cfg, const struct cli *c)
{
	if (c->workers >= 0)
		cfg->workers = (uint32_t)c->workers;
	if (c->drain_ms >= 0)
		cfg->drain_timeout_ms = (uint32_t)c->drain_ms;
	if (c->runtime >= 0)
		cfg->runtime = (enum sl_loop_runtime)c->runtime;
	if (c->log_level >= 0)
		cfg->log_level = (enum sl_log_level)c->log_level;
	if (c->upgrade_socket) {
		if (c->upgrade_socket[0] != '/' ||
		    strlen(c->upgrade_socket) > SL_CONFIG_UNIX_PATH_MAX ||
		    sl_config_path_control_byte(c->upgrade_socket, strlen(c->upgrade_socket)) >=
		            0) {
			fprintf(stderr,
			        "sluice: --upgrade-socket must be an absolute file name of at most "
			        "%u bytes and no control character, got \"%s\"\n",
			        SL_CONFIG_UNIX_PATH_MAX, c->upgrade_socket);
			return -EINVAL;
		}
		free(cfg->upgrade_socket);
		cfg->upgrade_socket = strdup(c->upgrade_socket);
		if (cfg->upgrade_socket == NULL)
			return -ENOMEM;
	}
	if (set_id(cfg->user, c->user, "--user") != 0 ||
	    set_id(cfg->group, c->group, "--group") != 0)
		return -EINVAL;
	if (c->admin && strcmp(c->admin, "off") == 0) {
		cfg->admin.addr.len = 0;
	} else if (c->admin) {
		char why[128];

		if (sl_addr_parse_configured(&cfg->admin.addr, c->admin, false, why, sizeof(why)) !=
		    0) {
			fprintf(stderr, "sluice: bad --admin address \"%s\": %s\n", c->admin, why);
			return -EINVAL;
		}
	}
	if (c->control && strcmp(c->control, "off") == 0) {
		cfg->control.path[0] = '\0';
	} else if (c->control) {
		if (c->control[0] == '\0' || strlen(c->control) > SL_CONFIG_CONTROL_PATH_MAX ||
		    sl_config_path_control_byte(c->control, strlen(c->control)) >= 0) {
			fprintf(stderr,
			        "sluice: bad --control path \"%s\": a socket file name of 1 to %d "
			        "bytes and no control character\n",
			        c->control, SL_CONFIG_CONTROL_PATH_MAX);
			return -EINVAL;
		}
		snprintf(cfg->control.path, sizeof(cfg->control.path), "%s", c->control);
	}
	return overrides_clash(cfg, c);
}

int
cli_build_config(struct sl_config **out, const struct cli *c, const char *listen,
                 const struct sl_addr *backends, size_t nbackends)
{
	struct sl_config *cfg = calloc(1, sizeof(*cfg));
	struct sl_host_addrs *host;
	struct sl_config_listener *l;
	struct sl_config_group *g;
	char why[128];

	if (!cfg)
		return -ENOMEM;
	sl_config_defaults(cfg);
	cfg->source = strdup("<command line>");
	cfg->listeners = calloc(1, sizeof(*cfg->listeners));
	cfg->groups = calloc(1, sizeof(*cfg->groups));
	if (!cfg->source || !cfg->listeners || !cfg->groups)
		goto err_nomem;
	g = &cfg->groups[0];
	sl_config_group_defaults(g);
	snprintf(g->name, sizeof(g->name), "default");
	g->backends = calloc(nbackends, sizeof(*g->backends));
	if (!g->backends)
		goto err_nomem;
	cfg->ngroups = 1;
	for (size_t i = 0; i < nbackends; i++) {
		struct sl_config_backend *b = &g->backends[i];

		b->addr = backends[i];
		b->weight = 1;
		sl_addr_format(&b->addr, b->name, sizeof(b->name));
	}
	g->nbackends = nbackends;
	if (c->balance >= 0)
		g->balance = (enum sl_lb_algo)c->balance;

	l = &cfg->listeners[0];
	sl_config_listener_defaults(l);
	cfg->nlisteners = 1;
	if (sl_addr_parse_configured(&l->addr, listen, false, why, sizeof(why)) != 0) {
		fprintf(stderr, "sluice: bad listen address \"%s\": %s\n", listen, why);
		goto err_inval;
	}
	sl_addr_format(&l->addr, l->name, sizeof(l->name));
	l->group = 0;
	/* as the loader refuses it (config_validate.c): each session would open another */
	host = sl_addr_is_any(&l->addr) ? sl_host_addrs_load() : NULL;
	for (size_t i = 0; i < nbackends; i++) {
		if (!sl_addr_reaches_here(&backends[i], &l->addr, host))
			continue;
		if (sl_addr_reaches(&backends[i], &l->addr))
			fprintf(stderr,
			        "sluice: backend %s %s the listen address %s: sluice would "
			        "connect to itself\n",
			        g->backends[i].name,
			        sl_addr_equal(&backends[i], &l->addr) ? "is" : "reaches", l->name);
		else
			fprintf(stderr,
			        "sluice: backend %s is an address of this host, which the listen "
			        "address %s takes too: sluice would connect to itself\n",
			        g->backends[i].name, l->name);
		sl_host_addrs_free(host);
		goto err_inval;
	}
	sl_host_addrs_free(host);
	if (c->forward >= 0)
		l->forward = (enum sl_fwd_mode)c->forward;
	if (cli_apply_overrides(cfg, c))
		goto err_inval;
	*out = cfg;
	return 0;

err_inval:
	sl_config_free(cfg);
	return -EINVAL;
err_nomem:
	sl_config_free(cfg);
	return -ENOMEM;
}
