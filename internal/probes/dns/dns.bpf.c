//go:build ignore

/*
 * DNS messages of the workloads' own lookups: for every packet a socket
 * sends to port 53 (a query) or receives from port 53 (a response), over UDP
 * or TCP, IPv4 or IPv6, the head of the DNS message, the 5-tuple and the
 * socket's cgroup go to user space, which parses and counts them. Nothing else
 * leaves the kernel: every other packet costs a header load and a compare.
 *
 * The programs attach to the cgroup2 root, so they run for every socket; the
 * socket is the one the packet belongs to, also on ingress in softirq, so the
 * workload is bpf_skb_cgroup_id(skb), never the interrupted task's cgroup.
 */
#include "orb8.h"
#include <bpf/bpf_endian.h>

#define DNS_PORT 53
/*
 * Bytes of the DNS message copied: the header (12) and the question (a name
 * of at most 255 bytes + 4) always fit, so the first answers often do too.
 */
#define DNS_CAPTURE 512
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_DSTOPTS_ 60
#define IP_OFFSET_MASK 0x1fff
#define MAX_IPV6_EXT_HEADERS 4

enum direction {
	DIR_EGRESS = 0,  /* sent by the workload: a query */
	DIR_INGRESS = 1, /* received by the workload: a response */
};

struct dns_event {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
	__u16 sport; /* host byte order */
	__u16 dport;
	__u32 tcp_seq;     /* sequence number of the first payload byte (TCP) */
	__u32 payload_len; /* L4 payload bytes of the packet */
	__u16 captured;    /* bytes of data valid */
	__u8 family;       /* 4 or 6 */
	__u8 protocol;     /* IPPROTO_UDP or IPPROTO_TCP */
	__u8 direction;
	__u8 pad[3];
	__u8 data[DNS_CAPTURE];
};

/* Keeps struct dns_event in BTF so bpf2go emits its Go twin. */
const struct dns_event *unused_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Where the L4 header starts and what it is; 0 when not UDP/TCP or not the first fragment. */
struct l3 {
	__u32 l4_off;
	__u8 protocol;
	__u8 family;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline int parse_ipv4(struct __sk_buff *skb, struct l3 *l)
{
	struct iphdr ip;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return -1;
	if (bpf_ntohs(ip.frag_off) & IP_OFFSET_MASK) /* no L4 header in later fragments */
		return -1;
	l->family = 4;
	l->protocol = ip.protocol;
	l->l4_off = ip.ihl * 4;
	__builtin_memcpy(l->saddr, &ip.saddr, 4);
	__builtin_memcpy(l->daddr, &ip.daddr, 4);
	return 0;
}

static __always_inline int parse_ipv6(struct __sk_buff *skb, struct l3 *l)
{
	struct ipv6hdr ip;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return -1;
	l->family = 6;
	__builtin_memcpy(l->saddr, &ip.saddr, 16);
	__builtin_memcpy(l->daddr, &ip.daddr, 16);
	__u8 next = ip.nexthdr;
	__u32 off = sizeof(ip);
	/* Skip the extension headers that may precede UDP/TCP; a fragment header ends the walk. */
	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		if (next != IPPROTO_HOPOPTS_ && next != IPPROTO_ROUTING_ && next != IPPROTO_DSTOPTS_)
			break;
		__u8 ext[2];
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
			return -1;
		next = ext[0];
		off += (ext[1] + 1) * 8;
	}
	l->protocol = next;
	l->l4_off = off;
	return 0;
}

static __always_inline void capture(struct __sk_buff *skb, __u8 dir)
{
	struct l3 l = {};
	if (skb->protocol == bpf_htons(ETH_P_IP_)) {
		if (parse_ipv4(skb, &l))
			return;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
		if (parse_ipv6(skb, &l))
			return;
	} else {
		return;
	}
	if (l.protocol != IPPROTO_UDP && l.protocol != IPPROTO_TCP)
		return;

	__be16 ports[2];
	if (bpf_skb_load_bytes(skb, l.l4_off, ports, sizeof(ports)))
		return;
	__u16 sport = bpf_ntohs(ports[0]), dport = bpf_ntohs(ports[1]);
	/* Only the workload's side as a DNS client: queries out, responses in. */
	if ((dir == DIR_EGRESS ? dport : sport) != DNS_PORT)
		return;

	__u32 payload_off = l.l4_off + sizeof(struct udphdr);
	__u32 seq = 0;
	if (l.protocol == IPPROTO_TCP) {
		struct tcphdr tcp;
		if (bpf_skb_load_bytes(skb, l.l4_off, &tcp, sizeof(tcp)))
			return;
		seq = bpf_ntohl(tcp.seq);
		payload_off = l.l4_off + tcp.doff * 4;
	}
	if (skb->len <= payload_off) /* handshake, bare ACK, FIN */
		return;
	__u32 payload_len = skb->len - payload_off;

	struct dns_event *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return;
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = bpf_skb_cgroup_id(skb);
	__builtin_memcpy(e->saddr, l.saddr, 16);
	__builtin_memcpy(e->daddr, l.daddr, 16);
	e->sport = sport;
	e->dport = dport;
	e->tcp_seq = seq;
	e->payload_len = payload_len;
	e->family = l.family;
	e->protocol = l.protocol;
	e->direction = dir;
	/* 1..DNS_CAPTURE bytes, written so that the verifier sees the bounds. */
	__u32 n = payload_len >= DNS_CAPTURE ? DNS_CAPTURE : ((payload_len - 1) & (DNS_CAPTURE - 1)) + 1;
	if (bpf_skb_load_bytes(skb, payload_off, e->data, n))
		n = 0;
	e->captured = n;
	orb8_submit(e);
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
