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
 * advance is taken at "flush points": after every sendmsg (sock_send_length),
 * after every recvmsg that returned data (sock_recv_length), whenever received
 * data is consumed outside recvmsg (tcp_rcv_space_adjust, which tcp_read_sock
 * (splice) and zero-copy receive call after moving copied_seq; see
 * recvmsg_flushes), at every state change, and when the socket is destroyed.
 * Data that arrived before the connection closed can still be read in
 * TCP_CLOSE, so a connection's close event is sent when its socket is
 * destroyed.
 *
 * RTT is the kernel's smoothed estimate (tcp_sock.srtt_us), sampled into the
 * histogram at most once per jiffy per connection, at a flush that found the
 * connection sending: no per-ACK callback.
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
 * (state changes, destruction), bpf/payload.h (sendmsg, recvmsg, data
 * consumed otherwise), bpf/retransmit.h, bpf/live.h (the flow iterators).
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

SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(on_consumed, struct sock *sk)
{
	return consumed(sk);
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

/* Every tracked socket, in any network namespace: one visit per socket. */
SEC("iter/bpf_sk_storage_map")
int dump_flows(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	if (ctx->sk && ctx->value)
		write_live(ctx->meta->seq, ctx->sk, bpf_skc_to_tcp_sock(ctx->sk), ctx->value);
	return 0;
}

/* The same without a map iterator, which some kernel builds refuse (docs/design.md). */
SEC("iter/task_file")
int dump_flows_by_file(struct bpf_iter__task_file *ctx)
{
	return dump_by_file(ctx);
}
