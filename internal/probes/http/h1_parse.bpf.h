/*
 * The kernel's HTTP/1.x head parser: the rules of parse.go for heads within
 * the first H1_SCAN bytes of a packet. h1.bpf.h follows connections with
 * it; internal/h1check runs it alone, for the tests that hold it to
 * parse.go.
 */
#pragma once

#include "orb8.h"
#include "prefix.bpf.h"

#define H1_SCAN 512 /* head bytes parsed here; a longer head goes to user space (h1_index masks with 511) */
#define H1_LINE 128 /* request line bytes kept for a notable request's detail */
#define H1_MAX_LINES 32
/* Longest field name checked here; a head with a longer one goes to user space. */
#define H1_NAME 48

enum h1_method : __u8 {
	H1_OTHER = 0,
	H1_GET = 1,
	H1_HEAD = 2,
	H1_POST = 3,
	H1_PUT = 4,
	H1_DELETE = 5,
	H1_CONNECT = 6,
	H1_OPTIONS = 7,
	H1_TRACE = 8,
	H1_PATCH = 9,
};

/* What a head's walk found. */
struct h1_head {
	__u32 n;      /* bytes in scratch */
	__u32 pos;    /* where the next line starts */
	__s64 length; /* Content-Length, -1 without */
	__u16 size;   /* the head's bytes, its empty line included; 0 until found */
	__u16 status; /* responses */
	__u8 request;
	__u8 chunked;
	__u32 start, end, colon;  /* the line at hand, its colon (h1_opaque) */
	__u32 value, value_end;   /* its value, trimmed */
	__u16 line_end;          /* the start line's bytes */
	__u8 bad;                /* no HTTP/1.x head (parse.go's errMalformed) */
	__u8 punt;               /* beyond what is parsed here: user space parses it */
	enum h1_method method;
	__u8 method_len;
};

/*
 * The packet's first head bytes (8 more so that a word load at any offset
 * stays inside) and what their walk found. In a map, not on the stack: the
 * verifier tracks values on the stack, and a walk's positions there would
 * make each of its iterations a state of its own.
 */
struct h1_scratch {
	struct h1_head h;
	__u8 b[H1_SCAN + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h1_scratch);
} h1_heads SEC(".maps");

/* Whether a payload's first 8 bytes (little-endian) start a status line: "HTTP/1.". */
static __always_inline bool h1_status_start(__u64 p) { return (p & MASK(7)) == PREFIX('H', 'T', 'T', 'P', '/', '1', '.', 0); }

static __always_inline enum h1_method h1_method(__u64 p, __u8 *len)
{
#define H1_M(n, a, b, c, d, e, f, g, h, m)                                                                       \
	if ((p & MASK(n)) == PREFIX(a, b, c, d, e, f, g, h)) {                                                 \
		*len = n - 1;                                                                                  \
		return m;                                                                                      \
	}
	H1_M(4, 'G', 'E', 'T', ' ', 0, 0, 0, 0, H1_GET)
	H1_M(5, 'P', 'O', 'S', 'T', ' ', 0, 0, 0, H1_POST)
	H1_M(4, 'P', 'U', 'T', ' ', 0, 0, 0, 0, H1_PUT)
	H1_M(5, 'H', 'E', 'A', 'D', ' ', 0, 0, 0, H1_HEAD)
	H1_M(7, 'D', 'E', 'L', 'E', 'T', 'E', ' ', 0, H1_DELETE)
	H1_M(6, 'P', 'A', 'T', 'C', 'H', ' ', 0, 0, H1_PATCH)
	H1_M(8, 'O', 'P', 'T', 'I', 'O', 'N', 'S', ' ', H1_OPTIONS)
	H1_M(8, 'C', 'O', 'N', 'N', 'E', 'C', 'T', ' ', H1_CONNECT)
	H1_M(6, 'T', 'R', 'A', 'C', 'E', ' ', 0, 0, H1_TRACE)
#undef H1_M
	return H1_OTHER;
}

#define H1_ONES 0x0101010101010101ULL
#define H1_HIGHS 0x8080808080808080ULL

/* i within scratch: a mask the compiler keeps even where it proves i in bounds, for the verifier. */
static __always_inline __u64 h1_index(__u32 i)
{
	__u64 at = i;
	asm volatile("%0 &= 511" : "+r"(at));
	return at;
}

static __always_inline __u64 h1_word(const struct h1_scratch *s, __u32 i) { return *(const __u64 *)&s->b[h1_index(i)]; }

static __always_inline __u8 h1_byte(const struct h1_scratch *s, __u32 i) { return s->b[h1_index(i)]; }

/*
 * The first index in [from, to) of byte c, or -1: a word at a time, the
 * lowest byte of a word equal to c marked by the zero-byte trick (exact for
 * the lowest one).
 */
static __always_inline __s32 h1_find(const struct h1_scratch *s, __u32 from, __u32 to, __u8 c)
{
	for (__u32 k = 0; k < H1_SCAN / 8 + 1; k++) {
		__u32 i = from + k * 8;
		if (i >= to || i >= H1_SCAN)
			return -1;
		__u64 x = h1_word(s, i) ^ (H1_ONES * c);
		__u64 m = (x - H1_ONES) & ~x & H1_HIGHS;
		if (!m)
			continue;
		__u64 low = m & -m;
		__u32 at = 0;
		if (low >> 32) {
			low >>= 32;
			at += 4;
		}
		if (low >> 16) {
			low >>= 16;
			at += 2;
		}
		if (low >> 8)
			at += 1;
		return i + at < to ? (__s32)(i + at) : -1;
	}
	return -1;
}

/* RFC 9110 5.6.2 tchar: visible ASCII but "(),/:;<=>?@[\]{}, as parse.go's tchar. */
static __always_inline bool h1_tchar(__u8 c)
{
	if (c < 64)
		return (0x03ff6cfa00000000ULL >> c) & 1;
	if (c < 128)
		return (0x57ffffffc7fffffeULL >> (c - 64)) & 1;
	return false;
}

/*
 * A position read back from the scratch map: the verifier knows nothing of
 * it but its type, so the paths that found it at different places join
 * (kept on the stack or in registers, each would be a state of its own).
 */
#define h1_opaque(field, value) ({ *(volatile __u32 *)&(field) = (value); *(volatile __u32 *)&(field); })

static __always_inline bool h1_digit(__u8 c) { return c >= '0' && c <= '9'; }

static __always_inline bool h1_space(__u8 c) { return c == ' ' || c == '\t'; }

#define H1_LOWER 0x2020202020202020ULL

/*
 * Spaces and tabs trimmed off a field's value [from, to): from moved
 * forward, to back. False past H1_TRIM of them at one end, which the kernel
 * leaves to user space (a short bound keeps the verifier's work small).
 */
#define H1_TRIM 4
static __always_inline bool h1_trim(struct h1_scratch *s, __u32 *from, __u32 *to)
{
	__u32 f = *from, t = *to;
	int k;
	for (k = 0; k < H1_TRIM && f < t && h1_space(h1_byte(s, f)); k++)
		f++;
	if (k == H1_TRIM && f < t && h1_space(h1_byte(s, f)))
		return false;
	f = h1_opaque(s->h.value, f);
	for (k = 0; k < H1_TRIM && t > f && h1_space(h1_byte(s, t - 1)); k++)
		t--;
	if (k == H1_TRIM && t > f && h1_space(h1_byte(s, t - 1)))
		return false;
	*to = h1_opaque(s->h.value_end, t);
	*from = *(volatile __u32 *)&s->h.value;
	return true;
}

/* Content-Length's value: 1 to 18 digits, and the same in every such field. */
static __always_inline bool h1_content_length(struct h1_scratch *s, __u32 from, __u32 to, struct h1_head *h)
{
	if (!h1_trim(s, &from, &to)) {
		h->punt = true;
		return true;
	}
	if (from >= to || to - from > 18)
		return false;
	__s64 n = 0;
	for (int k = 0; k < 18; k++) {
		__u32 i = from + k;
		if (i >= to)
			break;
		__u8 c = h1_byte(s, i);
		if (!h1_digit(c))
			return false;
		n = n * 10 + (c - '0');
	}
	if (h->length >= 0 && h->length != n)
		return false;
	h->length = n;
	return true;
}

/* Transfer-Encoding: chunked when that is the last coding. */
static __always_inline void h1_transfer_encoding(struct h1_scratch *s, __u32 from, __u32 to, struct h1_head *h)
{
	if (!h1_trim(s, &from, &to)) {
		h->punt = true;
		return;
	}
	h->chunked = false;
	/* The last 7 bytes, lower-cased: the word before to, less its first byte. */
	if (to - from < 7 || ((h1_word(s, to - 8) >> 8) | (H1_LOWER >> 8)) != PREFIX('c', 'h', 'u', 'n', 'k', 'e', 'd', 0))
		return;
	/* What precedes the coding, past spaces, is a comma or the value's start. */
	__u32 i = to - 7;
	int k;
	for (k = 0; k < H1_TRIM && i > from && h1_space(h1_byte(s, i - 1)); k++)
		i--;
	if (k == H1_TRIM && i > from && h1_space(h1_byte(s, i - 1)))
		h->punt = true;
	h->chunked = i == from || h1_byte(s, i - 1) == ',';
}

/* A field line [start, end): a token, a colon, a value; the framing ones are read. */
static __always_inline bool h1_field(struct h1_scratch *s, __u32 start, __u32 end, struct h1_head *h)
{
	__s32 found = h1_find(s, start, end, ':');
	if (found <= (__s32)start)
		return false;
	__u32 colon = h1_opaque(h->colon, found);
	if (colon - start > H1_NAME) {
		h->punt = true;
		return true;
	}
	for (int k = 0; k < H1_NAME; k++) {
		__u32 i = start + k;
		if (i >= colon)
			break;
		if (!h1_tchar(h1_byte(s, i)))
			return false;
	}
	/* Read back, so that the loop's exits join (see h1_opaque). */
	start = *(volatile __u32 *)&h->start;
	colon = *(volatile __u32 *)&h->colon;
	end = *(volatile __u32 *)&h->end;
	__u32 len = colon - start;
	if (len == 14 && (h1_word(s, start) | H1_LOWER) == PREFIX('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
	    (h1_word(s, start + 6) | H1_LOWER) == PREFIX('t', '-', 'l', 'e', 'n', 'g', 't', 'h'))
		return h1_content_length(s, colon + 1, end, h);
	if (len == 17 && (h1_word(s, start) | H1_LOWER) == PREFIX('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') &&
	    (h1_word(s, start + 8) | H1_LOWER) == PREFIX('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n') &&
	    (h1_byte(s, start + 16) | 0x20) == 'g')
		h1_transfer_encoding(s, colon + 1, end, h);
	return true;
}

/* The start line [0, end): a standard method's request line, or a status line. */
static __always_inline bool h1_start_line(const struct h1_scratch *s, __u32 end, struct h1_head *h)
{
	if (h->request) {
		/* method SP target SP "HTTP/1." DIGIT, the target not empty */
		if (end < h->method_len + 11)
			return false;
		return h1_word(s, end - 9) == PREFIX(' ', 'H', 'T', 'T', 'P', '/', '1', '.') && h1_digit(h1_byte(s, end - 1));
	}
	/* "HTTP/1." DIGIT SP 3DIGIT [SP reason], the code 100..599 */
	__u64 w = h1_word(s, 8);
	__u8 c0 = w >> 8, c1 = w >> 16, c2 = w >> 24;
	if (end < 12 || !h1_digit(h1_byte(s, 7)) || (__u8)w != ' ' || c0 < '1' || c0 > '5' || !h1_digit(c1) ||
	    !h1_digit(c2) || (end > 12 && (__u8)(w >> 32) != ' '))
		return false;
	h->status = (c0 - '0') * 100 + (c1 - '0') * 10 + (c2 - '0');
	return true;
}

/* bpf_loop callback: one line of the head in scratch. */
static long h1_line(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct h1_scratch *s = bpf_map_lookup_elem(&h1_heads, &zero);
	if (!s)
		return 1;
	struct h1_head *h = &s->h;
	__u32 start = h1_opaque(h->start, h->pos);
	__s32 nl = h1_find(s, start, h->n, '\n');
	if (nl < 0)
		return 1; /* the head goes on past the bytes here */
	__u32 end = h1_opaque(h->end, nl > start && h1_byte(s, nl - 1) == '\r' ? nl - 1 : nl);
	h1_opaque(h->pos, nl + 1);
	start = *(volatile __u32 *)&h->start;
	if (i == 0) {
		h->line_end = end;
		if (!h1_start_line(s, end, h)) {
			h->bad = true;
			return 1;
		}
		return 0;
	}
	if (end == start) {
		h->size = *(volatile __u32 *)&h->pos;
		return 1;
	}
	if (!h1_field(s, start, end, h)) {
		h->bad = true;
		return 1;
	}
	return h->punt ? 1 : 0;
}

/*
 * Parses the head at the payload's start into h: h->size stays 0 where it
 * does not end within the first H1_SCAN bytes.
 */
static __always_inline struct h1_scratch *h1_parse(struct __sk_buff *skb, __u32 off, __u32 len, __u64 prefix)
{
	__u32 zero = 0;
	struct h1_scratch *s = bpf_map_lookup_elem(&h1_heads, &zero);
	if (!s)
		return NULL;
	struct h1_head *h = &s->h;
	*h = (struct h1_head){.length = -1};
	h->method = h1_method(prefix, &h->method_len);
	h->request = !h1_status_start(prefix);
	__u32 n = len >= H1_SCAN ? H1_SCAN : ((len - 1) & (H1_SCAN - 1)) + 1;
	h->n = n;
	/* A request line shorter than what is kept is followed by zeros, not another packet's bytes. */
	__builtin_memset(s->b, 0, H1_LINE);
	if (bpf_skb_load_bytes(skb, off, s->b, n))
		return NULL;
	if (!h->request || h->method != H1_OTHER)
		bpf_loop(H1_MAX_LINES, h1_line, NULL, 0);
	return s;
}
