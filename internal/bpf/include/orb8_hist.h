/*
 * Log2 latency histograms kept in the kernel. Slot i counts latencies whose
 * whole microseconds have floor(log2) == i (slot 0 also takes 0 us), so every
 * latency in slot i is below 2^(i+1) us; the last slot takes everything
 * longer. The sum is exact, in nanoseconds. probe.Log2Hist is the Go twin.
 */
#pragma once

#include "orb8.h"

#define ORB8_LOG2_SLOTS 27 /* slot 25 ends at 2^26 us = 67 s */

struct orb8_log2_hist {
	__u64 slots[ORB8_LOG2_SLOTS];
	__u64 sum_ns;
};

static __always_inline __u32 orb8_log2(__u64 v)
{
	__u32 r = 0;

	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

/* Adds one latency; h must be per-CPU (plain increments). */
static __always_inline void orb8_hist_add(struct orb8_log2_hist *h, __u64 ns)
{
	__u32 slot = orb8_log2(ns / 1000);

	if (slot >= ORB8_LOG2_SLOTS)
		slot = ORB8_LOG2_SLOTS - 1;
	h->slots[slot]++;
	h->sum_ns += ns;
}
