/*
 * UDP lookups matched and counted in the kernel: the counts, the latency
 * histogram and the unmatched responses of every workload come from here,
 * so a UDP message reaches user space only when someone listens for lookups
 * (the gate below). TCP messages, rare and split over segments, are still
 * matched and counted from their records in user space (tracker.go).
 *
 * A query waits in dns_pending until its response, keyed by the socket, the
 * server and the DNS id; user space reads dns_pending every quarter of the
 * timeout, counts what waited longer as unanswered and frees those slots.
 */
#pragma once

#include "orb8_hist.h"
#include "orb8_sample.h"
#include "orb8_skb.h"

#define DNS_HEADER_LEN 12
/* A question: a name of at most 255 bytes (RFC 1035), its type and class. */
#define DNS_QUESTION_MAX (255 + 4)
#define DNS_MAX_LABELS 128 /* a label takes at least 2 of the name's 255 bytes */

/*
 * qtype values of the counts: the type itself when user space has a name for
 * it (dns_known_types), else DNS_QTYPE_OTHER; DNS_QTYPE_NONE for a message
 * without a question. Names.go's tables fill dns_known_types at load.
 */
#define DNS_QTYPE_NONE 0
#define DNS_QTYPE_OTHER 0xffff
#define DNS_KNOWN_TYPE_WORDS 5
volatile const __u64 dns_known_types[DNS_KNOWN_TYPE_WORDS];

/* Bits of orb8_emit (probe.EmitBits): who listens for lookups. */
enum emit : __u32 {
	EMIT_ALL = 0,    /* a watcher of every lookup (streams, policies) */
	EMIT_SAMPLE = 1, /* a log of recent lookups, content with a sample */
};

/*
 * The probe's timeout (Config.Timeout): a response later than it is
 * unmatched, and its query is left for user space to count unanswered.
 */
volatile const __u64 dns_timeout_ns = 5000000000ULL;

/* Lookups a second a sample-only audience gets (EMIT_SAMPLE without EMIT_ALL). */
#define DNS_SAMPLE_PER_SEC 256

enum count_kind : __u8 {
	COUNT_QUERY = 0,
	COUNT_RESPONSE = 1,
};

struct count_key {
	__u64 cgroup_id;
	__u16 qtype;
	__u8 rcode; /* responses */
	enum count_kind kind;
	__u32 pad;
};

/* Like the tracker's MaxWorkloads: a workload uses a handful of keys. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 4 * ORB8_MAX_CGROUPS);
	__type(key, struct count_key);
	__type(value, __u64);
} dns_counts SEC(".maps");

/* The buckets of orb8_dns_latency_seconds (stats.go): 50 us doubling; the last is +Inf. */
#define DNS_LATENCY_FIRST_NS 50000
#define DNS_LATENCY_SLOTS 19

struct lookup_stats {
	__u64 latency[DNS_LATENCY_SLOTS]; /* answered lookups per bucket, not cumulative */
	__u64 latency_sum_ns;
	__u64 unmatched; /* responses whose query was not waiting */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct lookup_stats);
} dns_stats SEC(".maps");

struct pending_key {
	__u64 cookie; /* the client's socket */
	__u8 server[16];
	__u16 server_port;
	__u16 id;
	__u32 pad;
};

struct pending_query {
	struct pending_key key;
	__u64 boot_ns; /* 0: the slot is free */
	__u64 cgroup_id;
	__u16 qtype;
	__u8 emitted; /* its record went to user space: so does its response's */
	__u8 pad[5];
};

/* 64 bytes: a query and the lock that claims and frees its slot. */
struct pending_slot {
	struct bpf_spin_lock lock;
	__u32 pad;
	struct pending_query q;
};

/*
 * Waiting queries, in buckets of DNS_PENDING_WAYS consecutive slots chosen by
 * a hash of the key: an array, because a hash table's update, lookup and
 * delete (bucket locks, a free list, entries moving between the CPU that
 * sends a query and the one its response arrives on) were half of what a
 * lookup cost here. A query waits until its response or until user space
 * counts it unanswered (1 to 1.25 timeouts: 5-6.3 s); a query whose bucket
 * is full is counted but not followed (pending_full). 16,384 slots (1 MiB):
 * about 1% of queries are not followed at 630 unanswered lookups a second.
 */
#define DNS_PENDING_WAYS 4
#define DNS_PENDING_SLOTS 16384
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DNS_PENDING_SLOTS);
	__type(key, __u32);
	__type(value, struct pending_slot);
} dns_pending SEC(".maps");

/*
 * Queries held and taken by responses, per CPU: user space, which frees the
 * rest, reads the table only while some wait (a read of every slot costs
 * ~1.5 ms). A lost count could let it skip a waiting query: orb8_count_in
 * adds atomically.
 */
enum pending_count : __u32 {
	PENDING_HELD = 0,
	PENDING_TAKEN = 1,
	PENDING_COUNTS = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PENDING_COUNTS);
	__type(key, __u32);
	__type(value, __u64);
} dns_pending_counts SEC(".maps");

/* Reasons of orb8_dns_dropped_total, the tracker's numbering. */
enum drop_reason : __u32 {
	DROP_MALFORMED = 0,
	DROP_WORKLOADS_FULL = 1,
	DROP_PENDING_FULL = 2,
	DROP_REASONS = 4, /* the tracker's stream_lost (TCP) is 3 */
};

/* For bpf2go: enums only constants use. */
const enum emit *unused_emit __attribute__((unused));
const enum drop_reason *unused_drop_reason __attribute__((unused));
const enum pending_count *unused_pending_count __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} dns_drops SEC(".maps");

struct question_buf {
	__u8 b[512]; /* DNS_QUESTION_MAX, rounded up to a mask */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct question_buf);
} dns_question SEC(".maps");

struct dns_wire_header {
	__be16 id;
	__be16 flags;
	__be16 qdcount;
	__be16 ancount;
	__be16 nscount;
	__be16 arcount;
};

/* The part of the packet capture() read that the counting needs. */
struct udp_message {
	const struct dns_header *hdr;
	__u32 off; /* of the DNS message in the packet */
	__u16 sample_port;
	__u32 rate;
};

static __always_inline void drop(__u32 reason)
{
	orb8_count_in(&dns_drops, reason);
}

/* Byte i of the question, masked where the verifier sees it. */
static __always_inline __u8 question_byte(const struct question_buf *q, __u32 i)
{
	barrier_var(i); /* or the compiler drops the mask that a bound it knows makes redundant */
	return q->b[i & (sizeof(q->b) - 1)];
}

/*
 * The first question's type, as the counts key it, or -1 when the message
 * is malformed or cut short. The name is skipped, not read: a compression
 * pointer ends it (the kernel does not follow it; user space does when it
 * names the lookup) and must point backwards.
 */
static __always_inline int question_type(struct __sk_buff *skb, __u32 off, __u32 len)
{
	__u32 zero = 0;
	struct question_buf *q = bpf_map_lookup_elem(&dns_question, &zero);
	if (!q || len <= DNS_HEADER_LEN)
		return -1;
	__u32 n = len - DNS_HEADER_LEN;
	if (n > DNS_QUESTION_MAX)
		n = DNS_QUESTION_MAX;
	barrier_var(n); /* bounds the verifier sees: */
	n &= sizeof(q->b) - 1;
	if (n == 0 || bpf_skb_load_bytes(skb, off + DNS_HEADER_LEN, q->b, n))
		return -1;
	__u32 pos = 0; /* in the name */
	for (int i = 0; i < DNS_MAX_LABELS; i++) {
		if (pos >= n)
			return -1;
		__u8 c = question_byte(q, pos);
		if (c == 0) {
			pos++;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			if (pos + 2 > n || ((((__u32)c & 0x3f) << 8) | question_byte(q, pos + 1)) >= DNS_HEADER_LEN + pos)
				return -1;
			pos += 2;
			break;
		}
		if (c & 0xc0) /* extended and reserved label types */
			return -1;
		pos += 1 + c;
		if (pos + 1 > 255) /* the root label's byte counts too */
			return -1;
	}
	if (pos + 4 > n) /* no type and class (the loop cannot run out: 128 labels pass 255 bytes) */
		return -1;
	__u32 t = ((__u32)question_byte(q, pos) << 8) | question_byte(q, pos + 1);
	if (t != DNS_QTYPE_NONE && t < 64 * DNS_KNOWN_TYPE_WORDS && (dns_known_types[t / 64] >> (t % 64)) & 1)
		return t;
	return DNS_QTYPE_OTHER;
}

static __always_inline void count(__u64 cgroup_id, __u16 qtype, __u8 rcode, enum count_kind kind)
{
	static const __u64 zero;
	struct count_key key = {.cgroup_id = cgroup_id, .qtype = qtype, .rcode = rcode, .kind = kind};
	__u64 *n = orb8_lookup_or_init(&dns_counts, &key, &zero);
	if (n)
		(*n)++;
	else
		drop(DROP_WORKLOADS_FULL);
}

/* The message's count() has counted a full table already (orb8_lookup_or_init counts ORB8_MAP_FULL too). */
static __always_inline struct lookup_stats *stats_of(__u64 cgroup_id)
{
	static const struct lookup_stats zero;
	return orb8_lookup_or_init(&dns_stats, &cgroup_id, &zero);
}

static __always_inline __u32 latency_slot(__u64 ns)
{
	if (ns <= DNS_LATENCY_FIRST_NS)
		return 0;
	__u32 slot = orb8_log2((ns - 1) / DNS_LATENCY_FIRST_NS) + 1;
	return slot < DNS_LATENCY_SLOTS ? slot : DNS_LATENCY_SLOTS - 1;
}

/* The second of the sample's budget and what it has used; races only blur it. */
static __u64 sample_second;
static __u32 sample_taken;

/*
 * Whether someone listens for this lookup, a query, or a response whose
 * query was not seen (query false), and whether that is a sample-only
 * audience (*sample), whose budget the caller takes once it commits.
 */
static __always_inline bool wanted(const struct udp_message *m, bool query, bool *sample)
{
	__u32 key = 0;
	__u32 *on = bpf_map_lookup_elem(&orb8_emit, &key);
	*sample = false;
	if (!on)
		return false;
	if (*on & (1U << EMIT_ALL))
		return !orb8_sampled_out(m->sample_port, m->rate);
	if (!query || !(*on & (1U << EMIT_SAMPLE)))
		return false;
	__u64 second = m->hdr->boot_ns / 1000000000;
	if (second != sample_second) {
		sample_second = second;
		sample_taken = 0;
	}
	*sample = true;
	return sample_taken < DNS_SAMPLE_PER_SEC;
}

/* The first slot of the key's bucket. */
static __always_inline __u32 pending_bucket(const struct pending_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = w[0] ^ w[1] * 0x9e3779b97f4a7c15ULL ^ w[2] * 0xc2b2ae3d27d4eb4fULL ^ w[3] * 0x165667b19e3779f9ULL;

	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ULL;
	return (__u32)(h >> 32) & (DNS_PENDING_SLOTS - DNS_PENDING_WAYS);
}

static __always_inline bool same_key(const struct pending_key *a, const struct pending_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

enum hold_result {
	HELD,
	RETRY, /* the key waits already: a retry keeps the first send's time and fate */
	BUCKET_FULL,
};

/*
 * Holds a query until its response takes it or user space counts it
 * unanswered. Slots are read without their lock to find the key; the lock
 * is taken only to claim a free slot, which another CPU may claim first.
 * (Two CPUs sending the same key at once could both hold it: a socket
 * does not send one DNS id to one server from two CPUs at once.)
 */
static __always_inline enum hold_result hold(const struct pending_query *q, __u8 *first_emitted)
{
	__u32 base = pending_bucket(&q->key);

	for (int w = 0; w < DNS_PENDING_WAYS; w++) {
		__u32 i = base + w;
		struct pending_slot *s = bpf_map_lookup_elem(&dns_pending, &i);
		if (!s)
			return BUCKET_FULL;
		if (s->q.boot_ns && same_key(&s->q.key, &q->key)) {
			*first_emitted = s->q.emitted;
			return RETRY;
		}
	}
	for (int w = 0; w < DNS_PENDING_WAYS; w++) {
		__u32 i = base + w;
		struct pending_slot *s = bpf_map_lookup_elem(&dns_pending, &i);
		if (!s || s->q.boot_ns)
			continue;
		bool held = false;
		bpf_spin_lock(&s->lock);
		if (!s->q.boot_ns) {
			s->q = *q;
			held = true;
		}
		bpf_spin_unlock(&s->lock);
		if (held) {
			orb8_count_in(&dns_pending_counts, PENDING_HELD);
			return HELD;
		}
	}
	return BUCKET_FULL;
}

/*
 * Takes the key's query into *q if it waits, unless it waited longer than
 * the timeout at now: that one is left for user space to count unanswered.
 * Taking it under the slot's lock decides a duplicate response on another
 * CPU.
 */
static __always_inline bool take(const struct pending_key *key, __u64 now, struct pending_query *q)
{
	__u32 base = pending_bucket(key);

	for (int w = 0; w < DNS_PENDING_WAYS; w++) {
		__u32 i = base + w;
		struct pending_slot *s = bpf_map_lookup_elem(&dns_pending, &i);
		if (!s)
			return false;
		if (!s->q.boot_ns || !same_key(&s->q.key, key))
			continue;
		bool taken = false;
		bpf_spin_lock(&s->lock);
		/* Signed: the query's clock, another CPU's, may be ahead. */
		if (s->q.boot_ns && same_key(&s->q.key, key) && (__s64)(now - s->q.boot_ns) <= (__s64)dns_timeout_ns) {
			*q = s->q;
			s->q.boot_ns = 0;
			taken = true;
		}
		bpf_spin_unlock(&s->lock);
		if (taken)
			orb8_count_in(&dns_pending_counts, PENDING_TAKEN);
		return taken;
	}
	return false;
}

/* Accounts a query the workload sent; returns whether its record goes to user space. */
static __always_inline bool count_query(struct __sk_buff *skb, const struct udp_message *m, __u16 id, __u16 qdcount)
{
	const struct dns_header *hdr = m->hdr;
	int qtype = qdcount ? question_type(skb, m->off, hdr->payload_len) : DNS_QTYPE_NONE;
	if (qtype < 0) {
		drop(DROP_MALFORMED);
		return false;
	}
	count(hdr->cgroup_id, qtype, 0, COUNT_QUERY);
	struct pending_query q = {
		.key = {.cookie = bpf_get_socket_cookie(skb), .server_port = hdr->dport, .id = id},
		.boot_ns = hdr->boot_ns,
		.cgroup_id = hdr->cgroup_id,
		.qtype = qtype,
	};
	__builtin_memcpy(q.key.server, hdr->daddr, sizeof(q.key.server));
	bool sample;
	q.emitted = wanted(m, true, &sample);
	__u8 first_emitted = 0;
	switch (hold(&q, &first_emitted)) {
	case RETRY:
		return first_emitted;
	case BUCKET_FULL:
		/* Not followed: its response will be unmatched, which only a watcher of every lookup is sent. */
		drop(DROP_PENDING_FULL);
		return q.emitted && !sample;
	case HELD:
		break;
	}
	if (q.emitted && sample)
		__sync_fetch_and_add(&sample_taken, 1);
	return q.emitted;
}

/* Accounts a response the workload received; returns whether its record goes to user space. */
static __always_inline bool count_response(struct __sk_buff *skb, const struct udp_message *m, __u16 id,
					   __u16 qdcount, __u8 rcode)
{
	const struct dns_header *hdr = m->hdr;
	struct pending_key key = {.cookie = bpf_get_socket_cookie(skb), .server_port = hdr->sport, .id = id};
	__builtin_memcpy(key.server, hdr->saddr, sizeof(key.server));
	struct pending_query q;
	struct lookup_stats *s;
	if (!take(&key, hdr->boot_ns, &q)) {
		int qtype = qdcount ? question_type(skb, m->off, hdr->payload_len) : DNS_QTYPE_NONE;
		if (qtype < 0) {
			drop(DROP_MALFORMED);
			return false;
		}
		count(hdr->cgroup_id, qtype, rcode, COUNT_RESPONSE);
		s = stats_of(hdr->cgroup_id);
		if (s)
			s->unmatched++;
		bool sample;
		return wanted(m, false, &sample);
	}
	count(hdr->cgroup_id, q.qtype, rcode, COUNT_RESPONSE);
	s = stats_of(hdr->cgroup_id);
	if (s) {
		__u64 ns = hdr->boot_ns - q.boot_ns;
		s->latency[latency_slot(ns)]++;
		s->latency_sum_ns += ns;
	}
	return q.emitted;
}

/*
 * Accounts a UDP message of the workload as a DNS client (a query sent, a
 * response received); returns whether its record goes to user space.
 */
static __always_inline bool count_udp(struct __sk_buff *skb, const struct udp_message *m)
{
	struct dns_wire_header w;
	if (m->hdr->payload_len < DNS_HEADER_LEN || bpf_skb_load_bytes(skb, m->off, &w, sizeof(w))) {
		drop(DROP_MALFORMED);
		return false;
	}
	__u16 flags = bpf_ntohs(w.flags);
	bool response = flags & 0x8000;
	if (response != (m->hdr->direction == DIR_INGRESS)) { /* a workload sends queries and receives responses */
		drop(DROP_MALFORMED);
		return false;
	}
	__u16 id = bpf_ntohs(w.id), qdcount = bpf_ntohs(w.qdcount);
	if (!response)
		return count_query(skb, m, id, qdcount);
	return count_response(skb, m, id, qdcount, flags & 0xf);
}
