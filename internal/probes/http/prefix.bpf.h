/* Little-endian words of payload bytes, compared in one go. */
#pragma once

/* The word whose bytes, first to last, are a..h. */
#define PREFIX(a, b, c, d, e, f, g, h)                                                                  \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |         \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
#define MASK(n) ((n) == 8 ? ~0ULL : (1ULL << ((n) * 8)) - 1)
