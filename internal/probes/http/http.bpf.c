//go:build ignore

/*
 * Heads of HTTP/1.x messages (request line or status line and the headers
 * behind it, never a body beyond what shares their packet) of every TCP
 * socket, both directions: a packet whose payload starts with a method token
 * or "HTTP/1." goes to user space, which parses, matches requests to
 * responses and counts them. A head split over several packets is followed
 * per socket and direction through socket local storage, created only for
 * such heads.
 *
 * Per packet of other traffic: pure ACKs and handshakes leave at a length
 * compare without a load; data segments cost one header load, one 8-byte
 * payload load and, with a socket, one storage lookup that finds nothing on
 * sockets that never split a head.
 *
 * The programs attach to the cgroup2 root, so they run for every socket; the
 * workload is the socket's cgroup, bpf_skb_cgroup_id(skb), also on ingress in
 * softirq.
 */
#include "orb8_skb.h"
#include "orb8_mmap.h"
#include "orb8_hist.h"

/*
 * Payload bytes copied per packet: a request line with a long path, the
 * status line and the headers the parser needs (Content-Length,
 * Transfer-Encoding, Connection) fit in most heads; a head past the limit is
 * parsed as far as it was copied. A payload that fits the small size goes in
 * a small record, which most heads do.
 */
#define HEAD_CAPTURE 1024
#define HEAD_CAPTURE_SMALL 256
/* Packets after a head's first that are followed while it does not end. */
#define MAX_CONTINUATIONS 3
/*
 * No head is shorter than "GET / HTTP/1.0\r\n\r\n" (18 bytes), so with the
 * smallest IPv4 and TCP headers a packet of fewer bytes carries none: pure
 * ACKs (52 bytes with timestamps) leave here.
 */
#define MIN_HEAD_PACKET (20 + 20 + 18)

enum direction : __u8 {
	DIR_EGRESS = 0,  /* sent by the socket */
	DIR_INGRESS = 1, /* received by the socket */
};

enum segment : __u8 {
	SEG_HEAD = 0,         /* the payload starts like a head */
	SEG_CONTINUATION = 1, /* the next bytes of a head that did not end */
	SEG_H2 = 2,           /* items of HTTP/2 frames (h2.bpf.h) */
	SEG_H1_DONE = 3,      /* a notable request matched in the kernel: a struct h1_request (h1.bpf.h) */
	SEG_H1_HANDOVER = 4,  /* the socket's HTTP/1.x state, given to user space: a struct h1_request */
};

/* What user space learns about the packet; the payload's first bytes follow it. */
struct http_header {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u64 cookie; /* the socket's cookie: one connection's end */
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u32 tcp_seq;     /* sequence number of the first payload byte */
	__u32 payload_len; /* TCP payload bytes of the packet */
	__u16 captured;    /* payload bytes that follow the header */
	__u8 family;       /* 4 or 6 */
	enum direction direction;
	enum segment segment;
	__u8 pad[7];
};

struct http_small {
	struct http_header h;
	__u8 data[HEAD_CAPTURE_SMALL];
};

struct http_large {
	struct http_header h;
	__u8 data[HEAD_CAPTURE];
};

/*
 * 2 MiB: ~6,000 small records, 30 ms of a 50,000 requests/s loopback load
 * (four records per request: each side's request and response) before the
 * reader must have run; its data pages are mapped twice into the agent.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20);
	__type(value, struct http_header); /* followed by the payload's first bytes */
} events SEC(".maps");

#include "prefix.bpf.h"

struct headers {
	union {
		struct {
			struct iphdr ip;
			struct tcphdr tcp;
		} v4;
		struct {
			struct ipv6hdr ip;
			struct tcphdr tcp;
		} v6;
	};
};

/* Fills what user space learns about a packet sent on, but its sequence, length and direction. */
static __always_inline void describe(struct __sk_buff *skb, struct http_header *hdr, struct headers *h,
				     const struct tcphdr *tcp, enum segment seg)
{
	hdr->boot_ns = bpf_ktime_get_boot_ns();
	hdr->cgroup_id = bpf_skb_cgroup_id(skb);
	hdr->cookie = bpf_get_socket_cookie(skb);
	hdr->sport = bpf_ntohs(tcp->source);
	hdr->dport = bpf_ntohs(tcp->dest);
	hdr->segment = seg;
	hdr->family = orb8_skb_addrs(skb, &h->v4.ip, &h->v6.ip, hdr->saddr, hdr->daddr);
}

#include "tls_record.bpf.h"
#include "h2.bpf.h"
#include "h1_parse.bpf.h"
#include "h1.bpf.h"

/*
 * What is followed of a socket per direction: where a head that did not end
 * in its packet continues, and HTTP/2 frames.
 */
struct followed {
	struct h1_request h1;
	__u32 next_seq[2];
	__u8 left[2]; /* continuation packets still followed */
	struct h2_direction h2[2];
};

/*
 * Socket local storage: created only for a socket whose head spans packets
 * or that speaks HTTP/2, freed with the socket, so it needs no bound of its
 * own and leaks nothing; a socket without it costs one pointer test per
 * lookup.
 */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct followed);
} followed_socks SEC(".maps");

static __always_inline bool upper(__u8 c) { return c >= 'A' && c <= 'Z'; }

/*
 * Whether the payload's first 8 bytes (little-endian) start a head: "HTTP/1."
 * or a method token, 3 to 7 capital letters and a space (the standard methods
 * and the extension ones; user space checks the whole request line).
 */
static __always_inline bool starts_head(__u64 p)
{
	if (h1_status_start(p))
		return true;
	__u8 b[8];
	__builtin_memcpy(b, &p, 8);
	if (!upper(b[0]) || !upper(b[1]) || !upper(b[2]))
		return false;
#pragma unroll
	for (int i = 3; i < 8; i++) {
		if (b[i] == ' ')
			return true;
		if (!upper(b[i]))
			return false;
	}
	return false;
}

/* Fills a reserved record: the header, then n bytes of payload from off. */
static __always_inline void submit(struct __sk_buff *skb, struct http_header *e, const struct http_header *hdr,
				   __u8 *data, __u32 off, __u32 n)
{
	*e = *hdr;
	e->captured = bpf_skb_load_bytes(skb, off, data, n) ? 0 : n;
	orb8_submit(e);
}

static __always_inline void send(struct __sk_buff *skb, struct http_header *hdr, __u32 off)
{
	__u32 len = hdr->payload_len;
	/* n is 1..capacity, written so that the verifier sees the bounds. */
	if (len <= HEAD_CAPTURE_SMALL) {
		struct http_small *e = orb8_reserve(&events, sizeof(*e));
		if (e)
			submit(skb, &e->h, hdr, e->data, off, ((len - 1) & (HEAD_CAPTURE_SMALL - 1)) + 1);
	} else {
		struct http_large *e = orb8_reserve(&events, sizeof(*e));
		if (e)
			submit(skb, &e->h, hdr, e->data, off,
			       len >= HEAD_CAPTURE ? HEAD_CAPTURE : ((len - 1) & (HEAD_CAPTURE - 1)) + 1);
	}
}

/* Whether the payload ends with the blank line that ends a head. */
static __always_inline bool ends_head(struct __sk_buff *skb, __u32 off, __u32 len)
{
	__u32 tail;
	if (len < 4 || bpf_skb_load_bytes(skb, off + len - 4, &tail, sizeof(tail)))
		return false;
	return tail == PREFIX('\r', '\n', '\r', '\n', 0, 0, 0, 0);
}

/* Whether the 16 bytes after a payload's "PRI * HT" end the client preface. */
static __always_inline bool h2_preface_rest(struct __sk_buff *skb, __u32 off)
{
	__u64 rest[2];
	return !bpf_skb_load_bytes(skb, off + 8, rest, sizeof(rest)) && h2_preface_ends(rest);
}

/*
 * Whether the socket's direction dir is followed as HTTP/2, or may still
 * start: a packet too short for a head may hold a frame there.
 */
static __always_inline bool h2_small_frames(struct __sk_buff *skb, __u8 dir)
{
	struct bpf_sock *sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	if (!sk)
		return false;
	struct followed *f = bpf_sk_storage_get(&followed_socks, sk, 0, 0);
	return (f && f->h2[dir & 1].state != H2_NONE) || h2_may_start(sk, dir);
}

/*
 * h2 is a constant: false leaves out the HTTP/2 walk and its bpf_loop, for
 * the programs that serve where the kernel has none (before 5.17).
 */
static __always_inline void capture(struct __sk_buff *skb, __u8 dir, const bool h2)
{
	/*
	 * A packet too short for a head may hold an HTTP/2 frame: over IPv4
	 * without TCP timestamps a SETTINGS ACK is 49 bytes in all, and a
	 * server's first SETTINGS may be 55. Skipped, the first would read as
	 * a gap, and the second would leave its direction unfollowed.
	 */
	if (skb->len < MIN_HEAD_PACKET && !(h2 && h2_small_frames(skb, dir)))
		return;
	struct headers h;
	struct tcphdr *tcp;
	__u32 l4_off;
	/* A load that fails is a packet too short to be TCP with payload. */
	if (skb->protocol == bpf_htons(ORB8_ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, &h.v4, sizeof(h.v4)))
			return;
		if (h.v4.ip.protocol != IPPROTO_TCP || (bpf_ntohs(h.v4.ip.frag_off) & ORB8_IP_OFFSET_MASK))
			return;
		l4_off = h.v4.ip.ihl * 4;
		tcp = &h.v4.tcp;
		if (l4_off != sizeof(h.v4.ip) && bpf_skb_load_bytes(skb, l4_off, tcp, sizeof(*tcp)))
			return;
	} else if (skb->protocol == bpf_htons(ORB8_ETH_P_IPV6)) {
		/* TCP right behind the IPv6 header; extension headers are not walked. */
		if (bpf_skb_load_bytes(skb, 0, &h.v6, sizeof(h.v6)) || h.v6.ip.nexthdr != IPPROTO_TCP)
			return;
		l4_off = sizeof(h.v6.ip);
		tcp = &h.v6.tcp;
	} else {
		return;
	}
	__u32 off = l4_off + tcp->doff * 4;
	if (skb->len <= off)
		return;
	__u32 len = skb->len - off;
	__u32 seq = bpf_ntohl(tcp->seq);

	__u64 prefix = 0; /* a payload under 8 bytes is no head's start */
	if (len >= 8 && bpf_skb_load_bytes(skb, off, &prefix, sizeof(prefix)))
		return;
	struct http_header hdr = {
		.tcp_seq = seq,
		.payload_len = len,
		.direction = dir,
	};
	struct bpf_sock *sk = skb->sk;
	if (sk)
		sk = bpf_sk_fullsock(sk);
	struct followed *f = sk ? bpf_sk_storage_get(&followed_socks, sk, 0, 0) : NULL;
	if (h2 && f && f->h2[dir & 1].state != H2_NONE) {
		describe(skb, &hdr, &h, tcp, SEG_H2);
		h2_follow(skb, &f->h2[dir & 1], &hdr, off, len, seq, H2_GOES_ON);
		return;
	}
	bool preface;
	if (h2 && sk && h2_opening(prefix, &preface) && (!preface || h2_preface_rest(skb, off)) &&
	    h2_stream_start(sk, dir, seq)) {
		if (!f)
			f = bpf_sk_storage_get(&followed_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!f) {
			orb8_count(ORB8_MAP_FULL);
			return;
		}
		struct h2_direction *d = &f->h2[dir & 1];
		d->next_seq = seq + (preface ? H2_PREFACE_LEN : 0);
		d->frame_left = d->hdr_have = d->block = d->untold = 0;
		d->responses = !preface;
		d->state = H2_FOLLOWING;
		describe(skb, &hdr, &h, tcp, SEG_H2);
		h2_follow(skb, d, &hdr, off, len, seq, preface ? H2_PREFACE : H2_STARTS);
		return;
	}
	bool head = len >= 8 && starts_head(prefix);
	if (h2 && head && sk) {
		if (!f)
			f = bpf_sk_storage_get(&followed_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (f) {
			if (!h1_follow(skb, &f->h1, prefix, off, len, dir, &hdr, &h, tcp))
				return;
		} else {
			orb8_count(ORB8_MAP_FULL);
		}
	}
	enum segment seg = SEG_HEAD;
	if (!head) {
		if (!f || !f->left[dir & 1] || f->next_seq[dir & 1] != seq)
			return;
		seg = SEG_CONTINUATION;
		f->left[dir & 1]--;
	}
	bool open = len <= HEAD_CAPTURE && !ends_head(skb, off, len);
	if (seg == SEG_HEAD && sk) {
		if (!f && open)
			f = bpf_sk_storage_get(&followed_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (f)
			f->left[dir & 1] = open ? MAX_CONTINUATIONS : 0;
		else if (open)
			orb8_count(ORB8_MAP_FULL);
	}
	if (f) {
		if (!open)
			f->left[dir & 1] = 0;
		f->next_seq[dir & 1] = seq + len;
	}
	describe(skb, &hdr, &h, tcp, seg);
	send(skb, &hdr, off);
}

SEC("cgroup_skb/egress")
int http_egress(struct __sk_buff *skb)
{
	capture(skb, DIR_EGRESS, true);
	return 1;
}

SEC("cgroup_skb/ingress")
int http_ingress(struct __sk_buff *skb)
{
	capture(skb, DIR_INGRESS, true);
	return 1;
}

/* http_egress and http_ingress where the kernel has no bpf_loop: HTTP/1.x only. */
SEC("cgroup_skb/egress")
int http_egress_h1(struct __sk_buff *skb)
{
	capture(skb, DIR_EGRESS, false);
	return 1;
}

SEC("cgroup_skb/ingress")
int http_ingress_h1(struct __sk_buff *skb)
{
	capture(skb, DIR_INGRESS, false);
	return 1;
}

#include "tls.bpf.h"
#include "gotls.bpf.h"
