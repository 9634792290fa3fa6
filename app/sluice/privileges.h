/* SPDX-License-Identifier: MIT */
/*
 * Privileges of the sluice binary: refuse at once a feature whose capability is missing, and
 * drop to the configured user after binding (privileges.c, over sluice/privs.h).
 */
#ifndef SLUICE_APP_PRIVILEGES_H
#define SLUICE_APP_PRIVILEGES_H

#include <sluice/config.h>

/*
 * Before anything is bound: refuses to start when a feature of <cfg> needs a capability this
 * process lacks, naming both. Returns 0 or -1 (logged).
 */
int privileges_check(const struct sl_config *cfg);

/*
 * Once every socket and file is open and before any thread starts: switches to cfg->user and
 * cfg->group, keeping only the capabilities the features in use need while running. With
 * neither set, root only gets a warning, and a non-root process still sheds the capabilities it
 * was started with (systemd's AmbientCapabilities=). Returns 0 or -1 (logged).
 */
int privileges_drop(const struct sl_config *cfg);

#endif /* SLUICE_APP_PRIVILEGES_H */
