/* sendmsg and recvmsg: UDP datagrams, and the process that uses a TCP socket. */
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
			used(sk);
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

/* Every recvmsg, any socket: UDP's datagrams, and who reads a TCP socket. */
static __always_inline int received(struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !is_inet(sk))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		used(sk);
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
