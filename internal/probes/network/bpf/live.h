/* Live connections for the flow table: the two flow iterators' records. */
#pragma once

#include "counting.h"
#include "events.h"

/*
 * Writes a tracked socket's record for the flow table, with its counts as of
 * now: what moved since the last flush is read, not claimed, so the kernel
 * counters stay exact. sk and tp may be untrusted pointers (the file walk's):
 * plain loads only, no helper that takes a socket.
 */
static __always_inline void write_live(struct seq_file *seq, struct sock *sk, struct tcp_sock *tp,
				       const struct conn *c)
{
	struct conn_event r;
	int state = sk->__sk_common.skc_state;

	fill_event(&r, sk, tp, c, RECORD_LIVE, state);
	__u64 last = c->last_ns;
	if (tp && c->tracking == COUNTING && counting_state(state)) {
		struct marks m;
		__u32 d[MARKS];
		read_marks(tp, state, &m);
		d[BYTES_TX] = open_state(state) ? advance(c->mark[BYTES_TX], m.v[BYTES_TX]) : 0;
		d[BYTES_RX] = advance(c->mark[BYTES_RX], m.v[BYTES_RX]);
		d[SEGS_TX] = advance(c->mark[SEGS_TX], m.v[SEGS_TX]);
		d[SEGS_RX] = advance(c->mark[SEGS_RX], m.v[SEGS_RX]);
		r.bytes[TX] += d[BYTES_TX];
		r.bytes[RX] += d[BYTES_RX];
		r.packets[TX] += d[SEGS_TX];
		r.packets[RX] += d[SEGS_RX];
		if (d[BYTES_TX] | d[BYTES_RX] | d[SEGS_TX] | d[SEGS_RX])
			last = r.boot_ns;
	}
	r.boot_ns = last; /* a live record's time is the flow's last activity */
	bpf_seq_write(seq, &r, sizeof(r));
}

/* Bounds the walk of a socket's storage list: one element per sk_storage map on it. */
#define STORAGE_WALK 16

/*
 * The address of sk's conn, 0 if it has none: the kernel's own lookup
 * (bpf_local_storage_lookup: the map's cache slot, then the socket's list of
 * elements), read with CO-RE. The file walk needs it because its socket
 * pointer is untrusted, which bpf_sk_storage_get refuses.
 */
static __always_inline __u64 conn_addr(struct sock *sk)
{
	struct bpf_local_storage_map *smap = (void *)&conns;
	__u64 want = (__u64)smap, storage, data, owner, node;

	storage = (__u64)BPF_CORE_READ(sk, sk_bpf_storage);
	if (!storage)
		return 0;
	__u16 slot = smap->cache_idx; /* a field of our own map: a plain load */
	if (bpf_probe_read_kernel(&data, sizeof(data),
				  (void *)storage + bpf_core_field_offset(struct bpf_local_storage, cache) +
					  (slot & 15) * sizeof(__u64)) == 0 && data &&
	    bpf_probe_read_kernel(&owner, sizeof(owner), (void *)data) == 0 && owner == want)
		return data + bpf_core_field_offset(struct bpf_local_storage_data, data);

	bpf_probe_read_kernel(&node, sizeof(node),
			      (void *)storage + bpf_core_field_offset(struct bpf_local_storage, list));
	for (int i = 0; i < STORAGE_WALK && node; i++) {
		__u64 elem = node - bpf_core_field_offset(struct bpf_local_storage_elem, snode);
		__u64 sdata = elem + bpf_core_field_offset(struct bpf_local_storage_elem, sdata);
		if (bpf_probe_read_kernel(&owner, sizeof(owner), (void *)sdata) == 0 && owner == want)
			return sdata + bpf_core_field_offset(struct bpf_local_storage_data, data);
		if (bpf_probe_read_kernel(&node, sizeof(node), (void *)node)) /* hlist_node.next */
			return 0;
	}
	return 0;
}

/*
 * The same as dump_flows without a map iterator, which some kernel builds
 * refuse (docs/design.md): every socket file of every process, in any
 * network namespace (iter/tcp would see only the reader's). A socket held by
 * several processes is written once by each; user space merges records by
 * cookie. Sockets no process holds (orphans closing, connections not yet
 * accepted) are not visited: their events keep the flow table current.
 */
static __always_inline int dump_by_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct conn c;

	if (!file)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u64 addr = conn_addr(sk);
	if (!addr || bpf_probe_read_kernel(&c, sizeof(c), (void *)addr))
		return 0;
	write_live(ctx->meta->seq, sk, orb8_core_cast(sk, struct tcp_sock), &c);
	return 0;
}
