/*
 * HTTPS through OpenSSL-compatible libraries (OpenSSL, BoringSSL): uprobes
 * on SSL_write, SSL_read and their _ex variants in every libssl processes
 * map. Plaintext is known for a write at entry and for a read only at
 * return, so both save their arguments per thread at entry and act at
 * return, on the bytes the call actually moved (a write retried after
 * SSL_ERROR_WANT_WRITE is then seen once). A call whose bytes start like a
 * head goes to user space as a TCP packet would, keyed by the process and
 * the SSL pointer, with the offset of its first byte in that direction of
 * the connection in place of a sequence number, so user space skips bodies
 * that start like heads exactly as for TCP. Offsets are kept per SSL in an
 * LRU hash; they cost one lookup per call.
 */

/* What the attach cookie says about a hooked function. */
enum tls_cookie : __u8 {
	TLS_READ = 1, /* SSL_read*: else SSL_write* */
	TLS_EX = 2,   /* the _ex variant: (ssl, buf, num, size_t *done), 1 on success */
};
/* The cookie reaches the programs through no record or map: this anchors it in BTF for bpf2go. */
const enum tls_cookie *unused_tls_cookie __attribute__((unused));

/* A call between its entry and its return. */
struct tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 done; /* the _ex variants' size_t *: bytes moved */
	__u8 cookie;
};

/*
 * Thread (pid_tgid) -> its call in progress; SSL_read and SSL_write do not
 * call one another, so one per thread. A hash, not task storage: its map
 * type would raise the whole probe's kernel from 5.8 to 5.11, plaintext
 * included. LRU: a thread that dies inside a call (a server killed while
 * blocked in SSL_read) leaves its entry, the least recently used, for the
 * next insert to evict; a live call is evicted only past 65,536 threads
 * inside hooked calls at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct tls_call);
} tls_calls SEC(".maps");

struct tls_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};

/* One TLS connection's plaintext streams, by direction. */
struct tls_stream {
	__u32 next_off[2]; /* offset of the next byte */
	__u32 split_next[2]; /* where a head that did not end continues */
	__u8 left[2];        /* continuation calls still followed */
	__u8 short_head[2];  /* the last call was a head's first bytes only (may_start_head) */
	struct h2_direction h2[2]; /* HTTP/2 from offset 0 (h2.bpf.h) */
};

/*
 * 65,536 connections, four times what user space follows (Config
 * MaxConnections): an SSL pointer not seen for long is the least recently
 * used; one evicted while alive starts again at offset 0 and user space
 * takes it for a new connection.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_key);
	__type(value, struct tls_stream);
} tls_streams SEC(".maps");

struct tls_small {
	struct tls_header h;
	__u8 data[HEAD_CAPTURE_SMALL];
};

struct tls_large {
	struct tls_header h;
	__u8 data[HEAD_CAPTURE];
};

static __always_inline void tls_submit(struct tls_header *e, const struct tls_header *hdr, __u8 *data, const void *buf,
				       __u32 n)
{
	*e = *hdr;
	e->captured = bpf_probe_read_user(data, n, buf) ? 0 : n;
	orb8_submit_to(e, &tls_events_last_wakeup_ns);
}

static __always_inline void tls_send(struct tls_header *hdr, const void *buf)
{
	__u32 len = hdr->len;
	/* n is 1..capacity, written so that the verifier sees the bounds. */
	if (len <= HEAD_CAPTURE_SMALL) {
		struct tls_small *e = orb8_reserve(&tls_events, sizeof(*e));
		if (e)
			tls_submit(&e->h, hdr, e->data, buf, ((len - 1) & (HEAD_CAPTURE_SMALL - 1)) + 1);
	} else {
		struct tls_large *e = orb8_reserve(&tls_events, sizeof(*e));
		if (e)
			tls_submit(&e->h, hdr, e->data, buf,
				   len >= HEAD_CAPTURE ? HEAD_CAPTURE : ((len - 1) & (HEAD_CAPTURE - 1)) + 1);
	}
}

SEC("uprobe")
int BPF_KPROBE(tls_enter, void *ssl, void *buf, __u64 num, void *done)
{
	__u64 thread = bpf_get_current_pid_tgid();
	struct tls_call c = {
		.ssl = (__u64)ssl,
		.buf = (__u64)buf,
		.done = (__u64)done,
		.cookie = bpf_get_attach_cookie(ctx),
	};
	if (bpf_map_update_elem(&tls_calls, &thread, &c, BPF_ANY))
		orb8_count(ORB8_MAP_FULL);
	return 0;
}

/*
 * Whether the n (under 8) bytes of a short call may be a head's first: a
 * prefix of "HTTP/1." or of a method token and its space. Go's net/http
 * server reads one byte while a handler runs (to see the client go away),
 * which may take a request's first byte: the rest follows as a
 * continuation.
 */
static __always_inline bool may_start_head(__u64 p, __u32 n)
{
	if ((p & MASK(n & 7)) == (PREFIX('H', 'T', 'T', 'P', '/', '1', '.', 0) & MASK(n & 7)))
		return true;
	__u8 b[8];
	__builtin_memcpy(b, &p, 8);
	bool may = true;
#pragma unroll
	for (int i = 0; i < 7; i++)
		may &= i >= n || upper(b[i]) || (i >= 3 && b[i] == ' ' && i == n - 1);
	return may;
}

/* Whether the 16 bytes after a call's "PRI * HT" (n bytes at buf) end the client preface. */
static __always_inline bool tls_preface_rest(const __u8 *buf, __u32 n)
{
	__u64 rest[2];
	return n >= H2_PREFACE_LEN && !bpf_probe_read_user(rest, sizeof(rest), buf + 8) && h2_preface_ends(rest);
}

/*
 * The plaintext a call moved: n bytes at buf of direction dir of the
 * connection. A direction whose first bytes are HTTP/2's (h2_opening) is
 * followed frame by frame (h2.bpf.h), not as HTTP/1.x heads, unless h2, a
 * constant, is false (no bpf_loop: the *_h1 programs).
 */
static __always_inline void tls_moved(__u64 ssl, const __u8 *buf, __u32 n, __u8 dir, const bool h2)
{
	struct tls_key k = {.ssl = ssl, .tgid = bpf_get_current_pid_tgid() >> 32};
	struct tls_stream *st = bpf_map_lookup_elem(&tls_streams, &k);
	if (!st) {
		struct tls_stream zero = {};
		bpf_map_update_elem(&tls_streams, &k, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&tls_streams, &k);
		if (!st) {
			orb8_count(ORB8_MAP_FULL);
			return;
		}
	}
	dir &= 1;
	__u32 off = st->next_off[dir];
	st->next_off[dir] = off + n;
	__u64 prefix = 0;
	if (bpf_probe_read_user(&prefix, n < 8 ? n & 7 : sizeof(prefix), buf))
		return;
	struct tls_header hdr = {
		.ssl = ssl,
		.tgid = k.tgid,
		.offset = off,
		.len = n,
		.direction = dir,
	};
	struct h2_direction *d = &st->h2[dir];
	bool preface;
	enum h2_begin begin = H2_GOES_ON;
	if (h2 && d->state == H2_NONE && off == 0 && n >= 8 && h2_opening(prefix, &preface) &&
	    (!preface || tls_preface_rest(buf, n))) {
		d->next_seq = preface ? H2_PREFACE_LEN : 0;
		d->untold = 0;
		d->responses = !preface;
		d->state = H2_FOLLOWING;
		begin = preface ? H2_PREFACE : H2_STARTS;
	}
	if (h2 && d->state != H2_NONE) {
		hdr.boot_ns = bpf_ktime_get_boot_ns();
		hdr.cgroup_id = orb8_current_cgroup_id();
		hdr.segment = SEG_H2;
		h2_follow_tls(buf, d, &hdr, n, off, begin);
		return;
	}
	enum segment seg = SEG_HEAD;
	bool follows = st->left[dir] && st->split_next[dir] == off;
	/* After a head's first bytes, "OST /x" of "POST /x" would start a head of its own. */
	if ((follows && st->short_head[dir]) || (n < 8 ? !may_start_head(prefix, n) : !starts_head(prefix))) {
		if (!follows)
			return;
		seg = SEG_CONTINUATION;
		st->left[dir]--;
	}
	st->short_head[dir] = seg == SEG_HEAD && n < 8;
	__u32 tail = 0;
	bool open = n <= HEAD_CAPTURE && (n < 4 || bpf_probe_read_user(&tail, sizeof(tail), buf + n - 4) ||
					  tail != PREFIX('\r', '\n', '\r', '\n', 0, 0, 0, 0));
	if (seg == SEG_HEAD)
		st->left[dir] = open ? MAX_CONTINUATIONS : 0;
	else if (!open)
		st->left[dir] = 0;
	st->split_next[dir] = off + n;

	hdr.boot_ns = bpf_ktime_get_boot_ns();
	hdr.cgroup_id = orb8_current_cgroup_id();
	hdr.segment = seg;
	tls_send(&hdr, buf);
}

static __always_inline int tls_returned(int ret, const bool h2)
{
	__u64 thread = bpf_get_current_pid_tgid();
	struct tls_call *found = bpf_map_lookup_elem(&tls_calls, &thread);
	if (!found)
		return 0;
	struct tls_call c = *found;
	bpf_map_delete_elem(&tls_calls, &thread);
	__u64 n = ret;
	if (ret <= 0)
		return 0; /* nothing moved: an error, or wants to be retried */
	if (c.cookie & TLS_EX) {
		if (ret != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)c.done))
			return 0;
	}
	if (n == 0 || n > 0x7fffffff)
		return 0;
	tls_moved(c.ssl, (const __u8 *)c.buf, n, c.cookie & TLS_READ ? DIR_INGRESS : DIR_EGRESS, h2);
	return 0;
}

/*
 * SSL_free: the connection's offsets and HTTP/2 state go with it. The next
 * SSL object is most often made at the same address, and would otherwise
 * carry them into its connection, whose HTTP/2 then never starts (its
 * first bytes would not be at offset 0).
 */
SEC("uprobe")
int BPF_KPROBE(tls_free, void *ssl)
{
	struct tls_key k = {.ssl = (__u64)ssl, .tgid = bpf_get_current_pid_tgid() >> 32};
	bpf_map_delete_elem(&tls_streams, &k);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_return, int ret) { return tls_returned(ret, true); }

/* tls_return where the kernel has no bpf_loop: HTTP/1.x only. */
SEC("uretprobe")
int BPF_KRETPROBE(tls_return_h1, int ret) { return tls_returned(ret, false); }

/* tgid -> last time its libssl mappings were reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} tls_mmap_reported SEC(".maps");

/* A process that maps libssl (its loader, at exec or dlopen), or execs: user space scans it for files to hook. */
struct tls_mmap_event {
	__u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
	__type(value, struct tls_mmap_event);
} tls_mmaps SEC(".maps");

static __u64 tls_mmaps_last_wakeup_ns; /* orb8_submit_to */

/* A process maps libssl.so*: report it. */
SEC("tp_btf/vm_unmapped_area")
int BPF_PROG(tls_watch_mmap, unsigned long addr, struct vm_unmapped_area_info *info)
{
	struct task_struct *task = bpf_get_current_task_btf();
	char name[8] = {};
	if (!orb8_mmap_file_name(task, name, sizeof(name)))
		return 0;
	/* libssl.so, libssl.so.3, libssl.so.1.1; not NSS's libssl3.so */
	if (name[0] != 'l' || name[1] != 'i' || name[2] != 'b' || name[3] != 's' || name[4] != 's' || name[5] != 'l' ||
	    name[6] != '.')
		return 0;
	__u32 tgid = task->tgid;
	if (!orb8_mmap_report_due(&tls_mmap_reported, tgid))
		return 0;
	struct tls_mmap_event *e = orb8_reserve(&tls_mmaps, sizeof(*e));
	if (!e)
		return 0;
	e->tgid = tgid;
	orb8_submit_to(e, &tls_mmaps_last_wakeup_ns);
	return 0;
}
