/*
 * Load shedding (--max-overhead): while the agent is over its budget it
 * sets orb8_sample_every to N (a power of two) and one record in N reaches
 * user space, which counts each as N. The choice hashes a key the related
 * records share (a DNS client's port, a connection's cookie), so a query and
 * its response, or a connection's open and close, are kept or shed together.
 * Counters kept in the kernel are never sampled.
 */
#pragma once

#include "vmlinux.h"

volatile __u32 orb8_sample_every = 1;

/* The sampling rate in force: what a kept record is worth. */
static __always_inline __u32 orb8_sample_rate(void)
{
	__u32 every = orb8_sample_every;
	return every ? every : 1;
}

/* Whether the record keyed key is shed at rate every. */
static __always_inline bool orb8_sampled_out(__u64 key, __u32 every)
{
	return every > 1 && ((__u32)((key * 0x9E3779B97F4A7C15ull) >> 32) & (every - 1));
}
