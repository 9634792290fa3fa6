/* SPDX-License-Identifier: MIT */
/* The library's version, for `sluice --version` and for programs linking libsluice. */
#ifndef SLUICE_VERSION_H
#define SLUICE_VERSION_H

#include <sluice/common.h>

/* "MAJOR.MINOR.PATCH" of the library that is linked (not of the headers compiled against). */
SL_API const char *sl_version(void);

#endif /* SLUICE_VERSION_H */
