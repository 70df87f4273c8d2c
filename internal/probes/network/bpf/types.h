/* Network probe: constants, per-socket state, records and maps. */
#pragma once

#include "orb8.h"
#include "orb8_hist.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2   /* include/linux/socket.h */
#define AF_INET6 10

#define TX 0
#define RX 1

/* The four counts kept per connection, in struct marks and conn.mark/base. */
#define BYTES_TX 0   /* write_seq */
#define BYTES_RX 1   /* copied_seq */
#define SEGS_TX 2    /* data_segs_out */
#define SEGS_RX 3    /* data_segs_in */
#define MARKS 4

/* Who opened a connection. */
enum direction : __u8 {
	OUTBOUND = 0,
	INBOUND = 1,
	DIRECTION_UNKNOWN = 2, /* adopted after the agent started: handshake not seen */
};

#define OK 0
#define FAILED 1

/* Slots of net_stats.transitions, indexed by the TCP state entered. */
#define STATE_SLOTS 16

enum event_kind : __u8 {
	EVENT_OPEN = 1,   /* handshake completed */
	EVENT_CLOSE = 2,  /* an open connection closed */
	EVENT_FAILED = 3, /* a handshake that never completed */
	RECORD_LIVE = 4,  /* a live connection, from the flow walk (user space makes these) */
};

/* conn.tracking: whether the sequence baselines are set. */
enum tracking {
	UNTRACKED = 0,
	COUNTING = 1,
	INITIALIZING = 2,
};

struct net_stats {
	__u64 tcp_bytes[2]; /* [TX|RX] */
	__u64 tcp_packets[2];
	__u64 udp_bytes[2];
	__u64 udp_packets[2];
	__u64 connections[2][2]; /* [OUTBOUND|INBOUND][OK|FAILED] */
	__s64 active;            /* per-CPU delta; the sum over CPUs is the gauge */
	__u64 retransmits;
	__u64 transitions[STATE_SLOTS];
	struct orb8_log2_hist rtt;
};

/*
 * What the flow walk (live.h) last read from a connection's socket: with the
 * entry's own fields, the connection's record for the flow table.
 */
struct conn_live {
	__u64 walk; /* the walk that read it; an older one: the socket was gone */
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u32 srtt_us;
	__u32 retransmits;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u8 state;
	__u8 pad[5];
};

/*
 * Per-socket state, in a table keyed by socket cookie: an entry is taken
 * when the handshake starts (or a flush adopts an older connection) and
 * given back when the socket is destroyed. Socket local storage did the same
 * with a kmalloc charged to the memory cgroup per socket and a free after an
 * RCU grace period, most of a short connection's BPF time
 * (docs/benchmarks.md).
 */
struct conn {
	__u64 cookie;
	__u64 cgroup_id;
	__u64 start_ns; /* connect() or SYN received; adoption for older sockets */
	__u64 last_ns;  /* last flush that moved a counter, to within a jiffy (see touch) */
	/*
	 * The counts already taken (BYTES_TX, ...): the kernel's 32-bit values
	 * extended to 64 bits as they advance. The connection's totals are
	 * mark - base, so taking an advance is one compare-and-swap.
	 */
	__u64 mark[MARKS];
	__u64 base[MARKS];
	__u32 tracking;
	__u32 active; /* counted in the active gauge */
	__u16 err;    /* sk_err when the connection closed */
	__u16 sport;  /* the local port: a closed socket gives it back before its close event */
	enum direction direction;
	__u8 pad[3];
	__u32 pid; /* a process of the owning workload that used the socket (see own) */
	__u8 comm[16];
	__u32 retrans;      /* tcp_sock.total_retrans already counted */
	__u32 rtt_jiffies;  /* low bits of the jiffy of the last RTT sample */
	__u64 last_jiffies; /* of last_ns */
	/*
	 * The socket's address, for the flow walk, which reads it untrusted
	 * and only where the socket's cookie is still this entry's.
	 */
	__u64 sk;
	struct conn_live live;
};

/* A connection event; user space makes live records alike from the flow walk's entries. */
struct conn_event {
	__u64 boot_ns;
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 cookie;
	__u64 bytes[2];
	__u64 packets[2];
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 err; /* sk_err: ECONNREFUSED, ETIMEDOUT, ECONNRESET, ... */
	enum event_kind kind;
	enum direction direction;
	__u8 state; /* TCP state: ESTABLISHED for open, CLOSE for close and failed, the current one live */
	__u8 shed;  /* load shedding dropped it, but it is the first of its peer (see first_of_peer) */
	__u32 retransmits; /* the connection's own count (tcp_sock.total_retrans) */
	__u32 srtt_us;     /* smoothed RTT */
	__u32 pid;
	__u8 comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory only for cgroups that use the network */
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct net_stats);
} stats SEC(".maps");

/* Sockets tracked at once, both ends of a local connection counting; more are counted as ORB8_MAP_FULL. */
#define MAX_CONNS 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory for the connections there are; entries come from per-CPU caches */
	__uint(max_entries, MAX_CONNS);
	__type(key, __u64); /* socket cookie */
	__type(value, struct conn);
} conns SEC(".maps");

/*
 * Sockets whose owner this CPU has noted (see used), one per slot: a
 * cookie's slot is its low bits. A process's sends and receives on an
 * owned connection skip the table, also when one thread serves many
 * connections: the kernel hands out cookies in per-CPU runs, so sockets
 * made on one CPU near in time land in different slots (sockets of other
 * runs can share a slot and evict each other's note: past a few hundred
 * sockets a CPU, more calls look the table up). A note is right for as
 * long as its socket can be used: cookies are never reused (0 is no
 * socket), a pid once noted stays, and an entry goes only when its socket
 * is destroyed (destroy). 4 KiB per CPU.
 */
#define OWNED_SLOTS 512

struct owned_notes {
	__u64 cookie[OWNED_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct owned_notes);
} owned SEC(".maps");

/* The note of this CPU the socket with this cookie goes in; 0 if none. */
static __always_inline __u64 *owned_note(__u64 cookie)
{
	__u32 zero = 0;
	struct owned_notes *n = bpf_map_lookup_elem(&owned, &zero);

	return n ? &n->cookie[cookie & (OWNED_SLOTS - 1)] : 0;
}

/*
 * A workload's peer as behaviour profiles know it: the remote address and
 * port of an outbound connection, the local port of an inbound one.
 */
struct peer_key {
	__u64 cgroup_id;
	__u8 addr[16];
	__u16 port;
	enum direction direction;
	__u8 pad[5];
};

/* The peers whose first connection user space has seen (first_of_peer). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct peer_key);
	__type(value, __u8);
} peers_seen SEC(".maps");

/* Set by user space while behaviour profiles learn peers. */
volatile __u32 first_peers = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct conn_event);
} events SEC(".maps");

static const struct net_stats zero_stats;

static __always_inline struct net_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

static __always_inline int is_inet(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

static __always_inline __u64 cookie_of(const struct sock *sk)
{
	return bpf_get_socket_cookie((struct sock *)sk);
}

/*
 * Reads the socket's addresses, ports and network namespace into the
 * record fields given; returns its family. The events and the flow walk
 * both name a connection by these.
 */
static __always_inline __u16 read_ends(const struct sock *sk, __u8 saddr[16], __u8 daddr[16], __u16 *sport,
				       __u16 *dport, __u32 *netns)
{
	__u16 family = sk->__sk_common.skc_family;

	*sport = sk->__sk_common.skc_num;
	*dport = bpf_ntohs(sk->__sk_common.skc_dport);
	*netns = sk->__sk_common.skc_net.net->ns.inum;
	if (family == AF_INET) {
		__builtin_memcpy(saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(daddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		bpf_probe_read_kernel(saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	return family;
}

/* The socket's state, 0 if it has none. */
static __always_inline struct conn *conn_lookup(__u64 cookie)
{
	return bpf_map_lookup_elem(&conns, &cookie);
}
