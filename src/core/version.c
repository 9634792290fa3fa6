// SPDX-License-Identifier: MIT
/* The version string of the linked library; SL_VERSION comes from the build (CMakeLists.txt). */
#include <sluice/version.h>

const char *
sl_version(void)
{
	return SL_VERSION;
}
