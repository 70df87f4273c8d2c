/*
 * HTTP/1.x requests matched and counted in the kernel. A plaintext
 * connection's requests and responses whose heads each fit one packet are
 * parsed here (the rules of parse.go, which the tests hold the two to),
 * matched per socket and counted per workload in h1_requests and
 * h1_durations, so that they cost no ring record and no user-space work.
 * Only a notable request (answered 500 or more, or slower than its
 * workload's slowest kept, h1_notable) sends a record, for its detail.
 *
 * A connection goes to user space at the first head this file does not
 * follow: a head over several packets or longer than H1_SCAN, pipelining,
 * an interim or 101 response, bytes behind a message in its packet, a
 * chunked request, or someone listening for http events. The hand-over
 * record carries the waiting request and the framing state, so user space
 * goes on where the kernel stopped; once user space has nothing waiting
 * and nobody listens, it gives the connection back (h1_returns). Heads
 * that are no HTTP/1.x, and responses without a waiting request, go to
 * user space one by one, which counts them as it always does (malformed,
 * unmatched).
 */

/* Notable requests' slow lists rotate per minute (notable.go's notableWindow). */
#define H1_NOTABLE_WINDOW_NS 60000000000ULL
/* The probe's gated event kinds (orb8_emit): someone listens for http events. */
enum h1_event_kind : __u32 {
	H1_EVENT_HTTP = 0,
};
/* Keeps the enum in BTF for bpf2go: no record carries it. */
const enum h1_event_kind *unused_h1_event_kind __attribute__((unused));

/* Why a connection is handed over: user space gives it back but after heads the kernel does not parse. */
enum h1_why : __u8 {
	H1_WHY_LISTENER = 1, /* someone listens for http events */
	H1_WHY_HEAD = 2,     /* a head the kernel does not parse: the next may be the same */
	H1_WHY_MESSAGE = 3,  /* a message the kernel does not follow: pipelining, interim responses, ... */
};

enum h1_state : __u64 {
	H1_IDLE = 0,    /* no request waits */
	H1_WAITING = 1, /* one request waits for its response */
	H1_USER = 2,    /* user space follows the connection */
};

/*
 * A socket's HTTP/1.x state, also the record of a notable request
 * (SEG_H1_DONE) and of a hand-over (SEG_H1_HANDOVER).
 */
struct h1_request {
	__u64 req_ns; /* the waiting request's first byte */
	/*
	 * Changed atomically (64 bits: the atomics of -mcpu=v1): a socket's
	 * egress and ingress may run on two CPUs at once (pipelined requests),
	 * and the waiting request must be counted here or handed over, never
	 * both.
	 */
	enum h1_state state;
	__u32 body_end[2]; /* by direction: where a body ends (body) */
	__u32 next_seq[2]; /* by direction: after the last head packet (seen) */
	__u16 status;      /* SEG_H1_DONE: the response's */
	__u16 line_end;    /* the whole request line's bytes */
	enum h1_method method;
	__u8 server;  /* the waiting request was received */
	__u8 version; /* its minor version, a digit */
	__u8 body[2];
	__u8 seen[2];
	__u8 line_len;   /* bytes of line kept */
	enum h1_why why; /* SEG_H1_HANDOVER: why */
	__u8 pad[3];
	__u8 line[H1_LINE];
};

struct h1_request_key {
	__u64 cgroup_id;
	__u16 status;
	__u8 server;
	enum h1_method method;
	__u32 pad;
};

/* Bounded like the tracker's MaxWorkloads; past it a count is lost (ORB8_MAP_FULL). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct h1_request_key);
	__type(value, __u64);
} h1_requests SEC(".maps");

static const struct orb8_log2_hist h1_zero_hist;

struct h1_duration_key {
	__u64 cgroup_id;
	__u64 server;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct h1_duration_key);
	__type(value, struct orb8_log2_hist);
} h1_durations SEC(".maps");

/*
 * Per workload, the latency a request must pass to make its slow list in
 * the window given (user space writes it once the list is full): a request
 * no slower, in that window, sends no record.
 */
struct h1_slowest {
	__u64 window;
	__u64 latency_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct h1_slowest);
} h1_notable SEC(".maps");

struct h1_record {
	struct http_header h;
	struct h1_request r;
};

/* Whether a response of status to a request of method has a body (parse.go's responseBody). */
static __always_inline bool h1_response_body(enum h1_method method, __u16 status)
{
	if (method == H1_HEAD || status < 200 || status == 204 || status == 304)
		return false;
	return !(method == H1_CONNECT && status < 300);
}

/* The request a response answers, read before the socket's state moves on. */
struct h1_waiting {
	__u64 req_ns;
	enum h1_method method;
	__u8 server;
};

/* Counts a matched request, and sends it when it is notable. */
static __always_inline void h1_count(struct __sk_buff *skb, struct h1_request *r, const struct h1_waiting *w,
				     __u16 status, __u64 now, struct http_header *hdr, struct headers *hs,
				     const struct tcphdr *tcp)
{
	__u64 cgroup = bpf_skb_cgroup_id(skb);
	struct h1_request_key k = {.cgroup_id = cgroup, .status = status, .server = w->server, .method = w->method};
	__u64 *n = orb8_lookup_or_init(&h1_requests, &k, &(__u64){0});
	if (n)
		(*n)++;
	struct h1_duration_key dk = {.cgroup_id = cgroup, .server = w->server};
	struct orb8_log2_hist *d = orb8_lookup_or_init(&h1_durations, &dk, &h1_zero_hist);
	__u64 latency = now > w->req_ns ? now - w->req_ns : 0; /* clocks of two CPUs: never negative */
	if (d)
		orb8_hist_add(d, latency);
	struct h1_slowest *slow = bpf_map_lookup_elem(&h1_notable, &cgroup);
	if (status < 500 && slow && slow->window == now / H1_NOTABLE_WINDOW_NS && latency <= slow->latency_ns)
		return;
	struct h1_record *e = orb8_reserve(&events, sizeof(*e));
	if (!e)
		return;
	describe(skb, hdr, hs, tcp, SEG_H1_DONE);
	hdr->boot_ns = now;
	hdr->captured = sizeof(e->r);
	e->h = *hdr;
	e->r = *r; /* its request line: a pipelined request racing this one may have replaced it */
	e->r.req_ns = w->req_ns;
	e->r.method = w->method;
	e->r.server = w->server;
	e->r.status = status;
	orb8_submit(e);
}

/*
 * Gives the socket to user space: a record with the waiting request and the
 * framing state, unless nothing is waiting or framed.
 */
static __always_inline void h1_hand_over(struct __sk_buff *skb, struct h1_request *r, enum h1_why why,
					 struct http_header *hdr, struct headers *hs, const struct tcphdr *tcp)
{
	__u64 was = __sync_lock_test_and_set(&r->state, H1_USER);
	if (was == H1_USER)
		return;
	if (was == H1_WAITING || r->body[0] || r->body[1] || r->seen[0] || r->seen[1]) {
		/* A lost record (counted as ring buffer loss) loses the waiting request. */
		struct h1_record *e = orb8_reserve(&events, sizeof(*e));
		if (e) {
			describe(skb, hdr, hs, tcp, SEG_H1_HANDOVER);
			hdr->captured = sizeof(e->r);
			e->h = *hdr;
			e->r = *r;
			e->r.state = was;
			e->r.why = why;
			orb8_submit(e);
		}
	}
}

/*
 * Where user space, following a connection the kernel handed over, has
 * nothing waiting and no listener: the kernel takes the connection back at
 * a request that starts at seq in direction dir, the first user space has
 * not seen (any other means a head went to user space since).
 */
struct h1_return {
	__u32 seq;
	__u32 dir;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* socket cookie */
	__type(value, struct h1_return);
} h1_returns SEC(".maps");

/* Whether the kernel takes a socket that user space follows back, at this request. */
static __always_inline bool h1_taken_back(struct __sk_buff *skb, struct h1_request *r, __u64 prefix, __u32 seq,
					  __u8 d)
{
	if (h1_status_start(prefix))
		return false;
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct h1_return *ret = bpf_map_lookup_elem(&h1_returns, &cookie);
	if (!ret)
		return false;
	/* Not a retransmission of a head sent to user space (next_seq: h1_sent). */
	bool here = ret->seq == seq && ret->dir == d && (!r->seen[d] || (__s32)(seq - r->next_seq[d]) >= 0);
	bpf_map_delete_elem(&h1_returns, &cookie);
	if (!here || __sync_val_compare_and_swap(&r->state, H1_USER, H1_IDLE) != H1_USER)
		return false;
	/* The bodies user space framed ended before this request. */
	r->body[0] = r->body[1] = false;
	return true;
}

/*
 * Notes a head sent to user space while it follows the socket, so that a
 * retransmission of it is not taken for the request a connection is taken
 * back at, nor, once it is, for a head of the kernel's own.
 */
static __always_inline void h1_sent(struct h1_request *r, __u32 seq, __u32 len, __u8 d)
{
	if (!r->seen[d] || (__s32)(seq + len - r->next_seq[d]) > 0)
		r->next_seq[d] = seq + len;
	r->seen[d] = true;
}

/*
 * Follows a packet of direction dir whose payload starts like a head, on a
 * socket whose HTTP/1.x state is r: true when it goes to user space as a
 * head, false when it was accounted for here (or is a retransmission, or
 * within a body).
 */
static __always_inline bool h1_follow(struct __sk_buff *skb, struct h1_request *r, __u64 prefix, __u32 off,
						 __u32 len, __u8 dir, struct http_header *hdr, struct headers *hs,
						 const struct tcphdr *tcp)
{
	__u32 seq = hdr->tcp_seq;
	__u8 d = dir & 1;
	if (r->state == H1_USER && !h1_taken_back(skb, r, prefix, seq, d)) {
		h1_sent(r, seq, len, d);
		return true;
	}
	if (r->seen[d] && (__s32)(seq - r->next_seq[d]) < 0)
		return false; /* seen before: ingress runs before TCP's checks */
	if (r->body[d] && (__s32)(seq - r->body_end[d]) < 0) {
		r->seen[d] = true;
		r->next_seq[d] = seq + len;
		return false; /* a body that starts like a head */
	}
	if (orb8_emit_wanted(H1_EVENT_HTTP)) {
		h1_hand_over(skb, r, H1_WHY_LISTENER, hdr, hs, tcp);
		return true;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	struct h1_scratch *s = h1_parse(skb, off, len, prefix);
	if (!s) {
		h1_hand_over(skb, r, H1_WHY_HEAD, hdr, hs, tcp);
		return true;
	}
	struct h1_head h = s->h;
	if (h.request && h.method == H1_OTHER) { /* counted as OTHER by user space */
		h1_hand_over(skb, r, H1_WHY_HEAD, hdr, hs, tcp);
		return true;
	}
	if (h.bad)
		return true; /* malformed: user space counts it; the connection stays here */
	if (!h.size || h.punt) { /* over several packets, or beyond what is parsed here */
		h1_hand_over(skb, r, H1_WHY_HEAD, hdr, hs, tcp);
		return true;
	}
	__u32 rest = len - h.size;
	if (h.request) {
		if (r->state == H1_WAITING || h.chunked || (h.length < 0 ? rest > 0 : rest > h.length)) {
			h1_hand_over(skb, r, H1_WHY_MESSAGE, hdr, hs, tcp);
			return true;
		}
		r->body[d] = h.length > rest;
		r->body_end[d] = seq + h.size + h.length;
		r->req_ns = now;
		r->method = h.method;
		r->server = dir == DIR_INGRESS;
		r->version = h1_byte(s, h.line_end - 1);
		r->line_len = h.line_end < H1_LINE ? h.line_end : H1_LINE;
		r->line_end = h.line_end;
		__builtin_memcpy(r->line, s->b, H1_LINE);
		if (__sync_val_compare_and_swap(&r->state, H1_IDLE, H1_WAITING) != H1_IDLE)
			return true; /* handed over meanwhile */
	} else {
		if (r->state != H1_WAITING || r->server != (dir == DIR_EGRESS))
			return true; /* no request waits: user space counts it unmatched */
		if (h.status < 200) { /* interim, or 101: user space takes the rest */
			h1_hand_over(skb, r, H1_WHY_MESSAGE, hdr, hs, tcp);
			return true;
		}
		__s64 body = !h1_response_body(r->method, h.status) ? 0 : h.chunked ? -1 : h.length;
		if (body >= 0 && rest > body) { /* something behind the response */
			h1_hand_over(skb, r, H1_WHY_MESSAGE, hdr, hs, tcp);
			return true;
		}
		struct h1_waiting w = {.req_ns = r->req_ns, .method = r->method, .server = r->server};
		if (__sync_val_compare_and_swap(&r->state, H1_WAITING, H1_IDLE) != H1_WAITING)
			return true; /* handed over meanwhile: user space matches it */
		h1_count(skb, r, &w, h.status, now, hdr, hs, tcp);
		r->body[d] = body > rest;
		r->body_end[d] = seq + h.size + body;
	}
	r->seen[d] = true;
	r->next_seq[d] = seq + len;
	return false;
}
