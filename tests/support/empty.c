/* SPDX-License-Identifier: MIT */
/* Keeps the test support library non-empty while no support sources exist. */
int sl_test_support_present;
