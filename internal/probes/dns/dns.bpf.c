//go:build ignore

/*
 * DNS messages of the workloads' own lookups: every packet a socket sends to
 * port 53 (a query) or receives from port 53 (a response), over UDP or TCP,
 * IPv4 or IPv6. UDP lookups are matched and counted here (bpf/lookups.h);
 * their messages go to user space, which names them, only while someone
 * listens. TCP messages always go there, to be matched and counted. A record
 * is the head of the DNS message, the 5-tuple and the socket's cgroup. Every
 * other packet costs a header load and a compare.
 *
 * The programs attach to the cgroup2 root, so they run for every socket; the
 * socket is the one the packet belongs to, also on ingress in softirq, so the
 * workload is bpf_skb_cgroup_id(skb), never the interrupted task's cgroup.
 */
#include "orb8_skb.h"
#include "orb8_sample.h"

#define DNS_PORT 53
/*
 * Bytes of the DNS message copied: the header (12) and the question (a name
 * of at most 255 bytes + 4) always fit, so the first answers often do too.
 * A payload that fits the small size goes in a small record: most DNS
 * messages do, and the ring holds ~3x as many of those.
 */
#define DNS_CAPTURE 512
#define DNS_CAPTURE_SMALL 128
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_DSTOPTS_ 60
#define MAX_IPV6_EXT_HEADERS 4

enum direction : __u8 {
	DIR_EGRESS = 0,  /* sent by the workload: a query */
	DIR_INGRESS = 1, /* received by the workload: a response */
};

/* What user space learns about the packet; the payload's head follows it. */
struct dns_header {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u32 tcp_seq;     /* sequence number of the first payload byte (TCP) */
	__u32 payload_len; /* L4 payload bytes of the packet */
	__u16 captured;    /* payload bytes that follow the header */
	__u8 family;       /* 4 or 6 */
	__u8 protocol;     /* IPPROTO_UDP or IPPROTO_TCP */
	enum direction direction;
	__u8 counted; /* matched and counted here (UDP): user space only names it */
	__u8 pad[2];
	__u32 sample_rate; /* messages this one stands for (orb8_sample.h) */
};

#include "bpf/lookups.h"

struct dns_small {
	struct dns_header h;
	__u8 data[DNS_CAPTURE_SMALL];
};

struct dns_large {
	struct dns_header h;
	__u8 data[DNS_CAPTURE];
};

/*
 * 1 MiB: ~5,200 small records, 130 ms of messages at 20,000 queries/s
 * (answered) before the reader must have run; its data pages are mapped
 * twice into the agent, so each MiB here is 2 MB of the agent's RSS.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct dns_header); /* followed by the payload's head */
} events SEC(".maps");

/*
 * The network header and the ports right behind it, read with one load in
 * the common case (no IPv4 options, no IPv6 extension headers): every packet
 * of the host passes here, DNS or not.
 */
struct headers {
	union {
		struct {
			struct iphdr ip;
			__be16 ports[2];
		} v4;
		struct {
			struct ipv6hdr ip;
			__be16 ports[2];
		} v6;
	};
};

/* Skips the IPv6 extension headers that may precede UDP/TCP; a fragment header ends the walk. */
static __always_inline int skip_ipv6_ext(struct __sk_buff *skb, __u8 *next, __u32 *off)
{
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		if (*next != IPPROTO_HOPOPTS_ && *next != IPPROTO_ROUTING_ && *next != IPPROTO_DSTOPTS_)
			return 0;
		__u8 ext[2];
		if (bpf_skb_load_bytes(skb, *off, ext, sizeof(ext)))
			return -1;
		*next = ext[0];
		*off += (ext[1] + 1) * 8;
	}
	return 0;
}

/* Fills a reserved record: the header, then n bytes of payload from off. */
static __always_inline void submit(struct __sk_buff *skb, struct dns_header *e, const struct dns_header *hdr,
				   __u8 *data, __u32 off, __u32 n)
{
	*e = *hdr;
	e->captured = bpf_skb_load_bytes(skb, off, data, n) ? 0 : n;
	orb8_submit(e);
}

static __always_inline void capture(struct __sk_buff *skb, __u8 dir)
{
	struct headers h;
	__u8 protocol;
	__u32 l4_off;
	__be16 ports[2];
	/* A load that fails is a packet too short to be UDP or TCP. */
	if (skb->protocol == bpf_htons(ORB8_ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 0, &h.v4, sizeof(h.v4)))
			return;
		if (bpf_ntohs(h.v4.ip.frag_off) & ORB8_IP_OFFSET_MASK) /* no L4 header in later fragments */
			return;
		protocol = h.v4.ip.protocol;
		l4_off = h.v4.ip.ihl * 4;
		__builtin_memcpy(ports, h.v4.ports, sizeof(ports));
		if (l4_off != sizeof(h.v4.ip) && bpf_skb_load_bytes(skb, l4_off, ports, sizeof(ports)))
			return;
	} else if (skb->protocol == bpf_htons(ORB8_ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, 0, &h.v6, sizeof(h.v6)))
			return;
		protocol = h.v6.ip.nexthdr;
		l4_off = sizeof(h.v6.ip);
		if (skip_ipv6_ext(skb, &protocol, &l4_off))
			return;
		__builtin_memcpy(ports, h.v6.ports, sizeof(ports));
		if (l4_off != sizeof(h.v6.ip) && bpf_skb_load_bytes(skb, l4_off, ports, sizeof(ports)))
			return;
	} else {
		return;
	}
	if (protocol != IPPROTO_UDP && protocol != IPPROTO_TCP)
		return;
	__u16 sport = bpf_ntohs(ports[0]), dport = bpf_ntohs(ports[1]);
	/* Only the workload's side as a DNS client: queries out, responses in. */
	if ((dir == DIR_EGRESS ? dport : sport) != DNS_PORT)
		return;
	__u16 client_port = dir == DIR_EGRESS ? sport : dport;
	__u32 rate = orb8_sample_rate();
	if (protocol == IPPROTO_TCP && orb8_sampled_out(client_port, rate))
		return;

	__u32 payload_off = l4_off + sizeof(struct udphdr);
	__u32 seq = 0;
	if (protocol == IPPROTO_TCP) {
		struct tcphdr tcp;
		if (bpf_skb_load_bytes(skb, l4_off, &tcp, sizeof(tcp)))
			return;
		seq = bpf_ntohl(tcp.seq);
		payload_off = l4_off + tcp.doff * 4;
	}
	if (skb->len <= payload_off) /* handshake, bare ACK, FIN */
		return;
	__u32 payload_len = skb->len - payload_off;

	struct dns_header hdr = {
		.boot_ns = bpf_ktime_get_boot_ns(),
		.cgroup_id = bpf_skb_cgroup_id(skb),
		.sport = sport,
		.dport = dport,
		.tcp_seq = seq,
		.payload_len = payload_len,
		.protocol = protocol,
		.direction = dir,
		.sample_rate = rate,
	};
	hdr.family = orb8_skb_addrs(skb, &h.v4.ip, &h.v6.ip, hdr.saddr, hdr.daddr);
	if (protocol == IPPROTO_UDP) {
		struct udp_message m = {.hdr = &hdr, .off = payload_off, .sample_port = client_port, .rate = rate};
		if (!count_udp(skb, &m))
			return;
		hdr.counted = 1;
	}
	/* n is 1..capacity, written so that the verifier sees the bounds. */
	if (payload_len <= DNS_CAPTURE_SMALL) {
		struct dns_small *e = orb8_reserve(&events, sizeof(*e));
		if (e)
			submit(skb, &e->h, &hdr, e->data, payload_off, ((payload_len - 1) & (DNS_CAPTURE_SMALL - 1)) + 1);
	} else {
		struct dns_large *e = orb8_reserve(&events, sizeof(*e));
		if (e)
			submit(skb, &e->h, &hdr, e->data, payload_off,
			       payload_len >= DNS_CAPTURE ? DNS_CAPTURE : ((payload_len - 1) & (DNS_CAPTURE - 1)) + 1);
	}
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	capture(skb, DIR_EGRESS);
	return 1;
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	capture(skb, DIR_INGRESS);
	return 1;
}
