/* SPDX-License-Identifier: MIT */
/*
 * For the eyes of src/net and its tests only: the builder's allocation-failure hook.
 */
#ifndef SLUICE_NET_LPM_INT_H
#define SLUICE_NET_LPM_INT_H

#include <sluice/lpm.h>

/*
 * After <n> more successful allocations through <b> (its own growth and everything
 * sl_lpm_build() allocates from it), every further one fails as if memory were exhausted;
 * n < 0 turns the hook off. For walking every -ENOMEM path in tests.
 */
void sl__lpm_builder_fail_after(struct sl_lpm_builder *b, long n);

#endif /* SLUICE_NET_LPM_INT_H */
