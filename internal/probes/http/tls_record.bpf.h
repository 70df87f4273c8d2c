/*
 * The records of tls.bpf.h's ring, declared before h2.bpf.h, which sends
 * HTTP/2 items of TLS plaintext there too.
 */
/* What user space learns about a call; the plaintext's first bytes follow it. */
struct tls_header {
	__u64 boot_ns;
	__u64 cgroup_id;
	__u64 ssl;
	__u32 tgid;
	__u32 offset; /* of the first byte in this direction of the connection */
	__u32 len;    /* bytes the call moved */
	__u16 captured;
	enum direction direction; /* egress: SSL_write, ingress: SSL_read */
	enum segment segment;
};

/* 1 MiB: half the TCP ring's, for two records per request and side. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__type(value, struct tls_header);
} tls_events SEC(".maps");

/* Its own wakeup time: the TCP ring is another (orb8_submit_to). */
static __u64 tls_events_last_wakeup_ns;

