/* Payload flush points: sendmsg, recvmsg, and data consumed outside recvmsg; UDP datagrams. */
#pragma once

#include "counting.h"

#define MSG_PEEK 2 /* include/linux/socket.h */

/* Every sendmsg, TCP or UDP, including sendfile and splice into a socket. */
static __always_inline int sent(struct sock *sk, int ret)
{
	if (!is_inet(sk))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		if (ret > 0)
			flush_sock(sk);
		return 0;
	}
	if (sk->sk_protocol != IPPROTO_UDP || ret < 0)
		return 0;
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s) {
		s->udp_bytes[TX] += ret;
		s->udp_packets[TX]++;
	}
	return 0;
}

/* Every recvmsg, any socket: a TCP flush point (see consumed), and UDP's datagrams. */
static __always_inline int received(struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !is_inet(sk))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		flush_sock(sk);
		return 0;
	}
	if ((flags & MSG_PEEK) || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s) {
		s->udp_bytes[RX] += ret;
		s->udp_packets[RX]++;
	}
	return 0;
}

/*
 * Whether sock_recv_length will flush sk when the current call returns:
 * recvmsg calls tcp_rcv_space_adjust once per skb it copies (three or four
 * times per read of a bulk stream), and flushing once per recvmsg instead
 * saves the rest. True when a user task (no kernel or io_uring worker,
 * whose registers hold no syscall) is in a 64-bit syscall that reads a
 * socket only through sock_recvmsg, and holds sk's lock: then sk is the
 * socket it reads (softirq work on a socket, such as strparser's read_sock,
 * happens only while no task owns it). Anything else (splice, zero-copy
 * receive, io_uring) flushes here. A wrong guess would only delay counts to
 * the socket's next flush point, never lose them.
 */
static __always_inline int recvmsg_flushes(const struct sock *sk)
{
	if (!sk->sk_lock.owned)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if ((t->flags & (PF_KTHREAD | PF_IO_WORKER)) || orb8_compat_task(t))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	switch (orb8_syscall_nr(regs)) {
	case ORB8_NR_READ:
	case ORB8_NR_READV:
	case ORB8_NR_RECVFROM:
	case ORB8_NR_RECVMSG:
	case ORB8_NR_RECVMMSG:
		return 1;
	}
	return 0;
}

/* Called by recvmsg, tcp_read_sock (splice) and zero-copy receive after copied_seq moved. */
static __always_inline int consumed(struct sock *sk)
{
	if (!recvmsg_flushes(sk))
		flush_sock(sk);
	return 0;
}
