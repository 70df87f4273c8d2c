//go:build ignore

/*
 * Network: TCP and UDP payload bytes and packets per workload, TCP
 * connections, state transitions, retransmits and RTT, and one event per
 * connection opened, closed or failed.
 *
 * Attribution is by the socket's cgroup (sk->sk_cgrp_data: the cgroup of the
 * process that created the socket; an accepted socket inherits its
 * listener's), the same cgroup cgroup_skb programs run for. It is right in
 * softirq context and in any network namespace, where current is not.
 *
 * Exact TCP payload bytes come from sequence space, not from packets: the
 * bytes an application wrote are the advance of write_seq, the bytes it
 * consumed the advance of copied_seq, minus the SYN and FIN each takes. That
 * counts send/write/sendmsg, sendfile and splice into a socket, recv/read,
 * splice out of a socket and zero-copy receive alike, never counts a
 * retransmission or a header, and does not care about TSO/GSO/GRO sizes. The
 * kernel keeps those sequence numbers: nothing runs per send or receive to
 * count them. Their advance is taken ("flushed") when a connection enters
 * CLOSE, when its socket is destroyed, and by the flow walk over every
 * tracked socket (walk_flows), which the agent runs on every scrape and
 * flow listing: counters are exact as of the scrape. Data that arrived before
 * the connection closed can still be read in TCP_CLOSE, so a connection's
 * close event is sent when its socket is destroyed.
 *
 * RTT is the kernel's smoothed estimate (tcp_sock.srtt_us), sampled into the
 * histogram at a flush that found the connection sending, at most once per
 * jiffy per connection: no per-ACK callback.
 *
 * UDP payload is what each sendmsg/recvmsg returns (sock_send_length,
 * sock_recv_length): one datagram per call.
 */
#include "orb8.h"
#include "bpf/state.h"
#include "bpf/payload.h"
#include "bpf/retransmit.h"
#include "bpf/live.h"

/*
 * Each hook hands its arguments to the header of its concern: bpf/state.h
 * (state changes, destruction), bpf/payload.h (sendmsg, recvmsg),
 * bpf/retransmit.h, bpf/live.h (the flow walk).
 * bpf/counting.h holds the sequence-space counting they share, bpf/events.h
 * the records, bpf/types.h the state, records and maps.
 */

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, int oldstate, int newstate)
{
	return set_state(sk, oldstate, newstate);
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	return destroy(sk);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	return sent(sk, ret);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	return received(sk, ret, flags);
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	return retransmitted(sk, err);
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(on_retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	return synack_retransmitted(sk);
}

/* Every tracked socket: what it moved, and its flow (bpf/live.h). */
SEC("iter/bpf_map")
int walk_flows(struct bpf_iter__bpf_map *ctx)
{
	return walk_conns(ctx);
}
