/*
 * HTTP/2 frames of plaintext (h2c, prior knowledge) connections. A
 * direction is followed from its first byte only, so that user space's HPACK
 * decoder starts with the connection's empty dynamic table: the client's
 * preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") or the server's first frame
 * (SETTINGS) at the sequence number where the socket's stream began. From
 * there the frame headers are walked packet by packet, and only what
 * matching requests to responses needs goes to user space: the headers of
 * HEADERS, CONTINUATION, PUSH_PROMISE and RST_STREAM frames and the header
 * block fragments of the first three, and in the server's direction the
 * headers of DATA frames that end a stream (a response that ends without
 * trailers), never a DATA payload. A gap (a packet
 * missed or out of order) loses the direction's HPACK state: it is told
 * once and no longer followed.
 *
 * Records carry items behind a struct http_header of segment SEG_H2:
 * [tag][n: 2 bytes, little-endian][n bytes].
 */

#define H2_PREFACE_LEN 24
#define H2_FRAME_HEADER 9
/* Item bytes per record; a longer header block goes in several records. */
#define H2_CAPTURE 1024
/*
 * Loop iterations per packet: one per frame header and one per piece of a
 * header block. 8192 walks a 64 KiB segment of empty frames; past it the
 * direction is lost (H2_LOST_FRAMES).
 */
#define H2_MAX_STEPS 8192

enum h2_item : __u8 {
	H2_ITEM_START = 0, /* the direction starts here: a new HPACK state; n = 1 after the client preface, else 0 */
	H2_ITEM_FRAME = 1, /* a frame header (9 bytes) */
	H2_ITEM_BLOCK = 2, /* the next bytes of the last frame's payload */
	H2_ITEM_LOST = 3,  /* the direction is no longer followed; n = the reason */
};

enum h2_lost : __u8 {
	H2_LOST_GAP = 1,       /* a packet after one not seen */
	H2_LOST_FRAMES = 2,    /* more frames in a packet than walked */
	H2_LOST_RING_FULL = 3, /* a record user space needed was dropped */
	H2_LOST_NESTED = 4,    /* a packet's walk interrupted another on its CPU */
};

enum h2_state : __u8 {
	H2_NONE = 0,
	H2_FOLLOWING = 1,
	H2_LOST = 2,
};

/* One direction of a followed connection. */
struct h2_direction {
	__u32 next_seq;   /* sequence number of the next byte to walk */
	__u32 frame_left; /* payload bytes of the current frame before next_seq's successor frame */
	/* A frame header split over packets; twice its size keeps the
	 * verifier's bounds on a write at hdr_have. */
	__u8 hdr[2 * H2_FRAME_HEADER];
	__u8 hdr_have;
	__u8 block; /* the current frame's payload is a header block: sent */
	enum h2_state state;
	__u8 untold; /* H2_LOST, and the ring had no room to say so: the reason */
	/* The server's direction, which began with SETTINGS, not the client
	 * preface: its DATA frames that end a stream end a response. */
	__u8 responses;
};

/* A record of items, behind the header of the TCP ring's records or the TLS ring's. */
struct h2_record {
	/*
	 * A walk is building this record: a program that interrupts it on the
	 * same CPU (a softirq's packet during a process's send or TLS call)
	 * must not write into it.
	 */
	__u8 busy;
	union {
		struct {
			struct http_header h;
			__u8 data[2 * H2_CAPTURE]; /* items fill at most H2_CAPTURE bytes; the rest keeps writes in bounds */
		} tcp;
		struct {
			struct tls_header h;
			__u8 data[2 * H2_CAPTURE];
		} tls;
	};
};

/* Where a record is built; copied to the ring in one bpf_ringbuf_output. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h2_record);
} h2_scratch SEC(".maps");

/*
 * A walk over one packet's payload (skb, at off) or one TLS call's
 * plaintext (buf, user memory). Every function below takes tls, a
 * constant, so that each program keeps only its own helpers.
 */
struct h2_walk {
	struct __sk_buff *skb;
	const __u8 *buf;
	struct h2_direction *d;
	struct h2_record *r;
	__u32 off; /* the payload's offset in the skb */
	__u32 len; /* payload bytes */
	__u32 pos; /* payload bytes walked */
	__u32 n;   /* item bytes in r */
	bool failed; /* a record could not be sent */
};

static __always_inline __u8 *h2_data(struct h2_walk *w, const bool tls)
{
	return tls ? w->r->tls.data : w->r->tcp.data;
}

static __always_inline long h2_load(struct h2_walk *w, void *dst, __u32 n, const bool tls)
{
	if (tls)
		return bpf_probe_read_user(dst, n, w->buf + w->pos);
	return bpf_skb_load_bytes(w->skb, w->off + w->pos, dst, n);
}

static __always_inline bool h2_flush(struct h2_walk *w, const bool tls)
{
	if (!w->n)
		return true;
	__u32 n = w->n & (2 * H2_CAPTURE - 1);
	__u64 flags = orb8_wakeup_flags(tls ? &tls_events_last_wakeup_ns : &orb8_last_wakeup_ns);
	w->n = 0;
	long err;
	if (tls) {
		w->r->tls.h.captured = n;
		err = bpf_ringbuf_output(&tls_events, &w->r->tls, sizeof(w->r->tls.h) + n, flags);
	} else {
		w->r->tcp.h.captured = n;
		err = bpf_ringbuf_output(&events, &w->r->tcp, sizeof(w->r->tcp.h) + n, flags);
	}
	if (err) {
		orb8_count(ORB8_RINGBUF_LOST);
		w->failed = true;
		return false;
	}
	return true;
}

/* Appends an item's tag and length; false when the record is full and could not be sent. */
static __always_inline bool h2_item(struct h2_walk *w, enum h2_item tag, __u16 n, const bool tls)
{
	if (w->n + 3 + n > H2_CAPTURE && !h2_flush(w, tls))
		return false;
	__u8 *data = h2_data(w, tls);
	__u32 at = w->n & (H2_CAPTURE - 1);
	data[at] = tag;
	data[(at + 1) & (2 * H2_CAPTURE - 1)] = n;
	data[(at + 2) & (2 * H2_CAPTURE - 1)] = n >> 8;
	w->n += 3;
	return true;
}

static __always_inline void h2_lose(struct h2_walk *w, enum h2_lost why, const bool tls)
{
	w->d->state = H2_LOST;
	if (!h2_item(w, H2_ITEM_LOST, why, tls) || !h2_flush(w, tls))
		w->d->untold = why; /* told with the direction's next packet */
}

/* Sends up to what fits of the current frame's header block in this packet. */
static __always_inline long h2_block(struct h2_walk *w, __u32 avail, const bool tls)
{
	if (w->n + 3 + 1 > H2_CAPTURE && !h2_flush(w, tls))
		return 1;
	__u32 n = avail;
	if (n > H2_CAPTURE - 3 - w->n)
		n = H2_CAPTURE - 3 - w->n;
	if (n > w->d->frame_left)
		n = w->d->frame_left;
	n &= H2_CAPTURE - 1;
	if (!n || !h2_item(w, H2_ITEM_BLOCK, n, tls))
		return 1;
	__u32 at = w->n & (H2_CAPTURE - 1);
	if (h2_load(w, &h2_data(w, tls)[at], n, tls)) {
		w->n -= 3; /* no item without its bytes: the walk stops short, a gap */
		return 1;
	}
	w->n += n;
	w->pos += n;
	w->d->frame_left -= n;
	return 0;
}

static __always_inline bool h2_block_frame(__u8 type) { return type == 1 || type == 5 || type == 9; }

/* One step: a piece of the current frame's payload or the next frame header. */
static __always_inline long h2_step(struct h2_walk *w, const bool tls)
{
	struct h2_direction *d = w->d;
	if (w->pos >= w->len || w->failed)
		return 1;
	__u32 avail = w->len - w->pos;
	if (d->frame_left) {
		if (d->block)
			return h2_block(w, avail, tls);
		__u32 skip = d->frame_left < avail ? d->frame_left : avail;
		w->pos += skip;
		d->frame_left -= skip;
		return 0;
	}
	__u32 have = d->hdr_have;
	if (have >= H2_FRAME_HEADER)
		return 1;
	__u32 need = H2_FRAME_HEADER - have;
	if (avail < need)
		need = avail; /* the header goes on in the next packet: keep its first bytes */
	asm volatile("" : "+r"(need)); /* kept: the verifier needs the mask */
	need &= 15;
	if (need < 1 || need > H2_FRAME_HEADER)
		return 1;
	if (h2_load(w, &d->hdr[have], need, tls))
		return 1;
	w->pos += need;
	d->hdr_have = have + need;
	if (d->hdr_have < H2_FRAME_HEADER)
		return 1;
	d->hdr_have = 0;
	__u8 type = d->hdr[3];
	d->frame_left = (__u32)d->hdr[0] << 16 | (__u32)d->hdr[1] << 8 | d->hdr[2];
	d->block = h2_block_frame(type);
	bool ends_response = type == 0 /* DATA */ && (d->hdr[4] & 1 /* END_STREAM */) && d->responses;
	if (d->block || type == 3 /* RST_STREAM */ || ends_response) {
		if (!h2_item(w, H2_ITEM_FRAME, H2_FRAME_HEADER, tls))
			return 1;
		__u32 at = w->n & (H2_CAPTURE - 1);
		__builtin_memcpy(&h2_data(w, tls)[at], d->hdr, H2_FRAME_HEADER);
		w->n += H2_FRAME_HEADER;
	}
	return 0;
}

static long h2_step_tcp(__u32 i, void *ctx) { return h2_step(ctx, false); }
static long h2_step_tls(__u32 i, void *ctx) { return h2_step(ctx, true); }

/* How a walk begins. */
enum h2_begin : __u8 {
	H2_GOES_ON = 0,     /* in a followed direction */
	H2_STARTS = 1,      /* the direction starts here, with a SETTINGS frame */
	H2_PREFACE = 2,     /* the direction starts here, after the client preface */
};

/*
 * Walks the frames of a followed direction in len bytes from sequence
 * number (TLS: offset) seq, whose record header r's is already.
 */
static __always_inline void h2_walk_frames(struct h2_walk *w, __u32 seq, enum h2_begin begin, const bool tls)
{
	struct h2_direction *d = w->d;
	__s32 behind = d->next_seq - seq;
	if (behind < 0) {
		h2_lose(w, H2_LOST_GAP, tls);
		return;
	}
	if ((__u32)behind >= w->len && begin == H2_GOES_ON)
		return; /* a retransmission: walked already */
	w->pos = behind;
	if (begin != H2_GOES_ON && !h2_item(w, H2_ITEM_START, begin == H2_PREFACE, tls))
		return;
	long steps = bpf_loop(H2_MAX_STEPS, tls ? h2_step_tls : h2_step_tcp, w, 0);
	d->next_seq = seq + w->pos;
	if (w->failed) {
		d->state = H2_LOST;
		d->untold = H2_LOST_RING_FULL;
		return;
	}
	if (w->pos < w->len) {
		h2_lose(w, steps >= H2_MAX_STEPS ? H2_LOST_FRAMES : H2_LOST_GAP, tls);
		return;
	}
	if (!h2_flush(w, tls))
		d->state = H2_LOST;
}

/* The scratch record, or NULL. */
static __always_inline struct h2_record *h2_record(void)
{
	__u32 key = 0;
	return bpf_map_lookup_elem(&h2_scratch, &key);
}

/*
 * Tells user space that a direction is lost, in a record of its own (the
 * scratch record may be another walk's): one LOST item behind the header.
 * False when the ring has no room; the direction then says so with its
 * next packet or call.
 */
#define H2_TELL_LOST(ring, hdr_type, hdr, why)                                      \
	({                                                                          \
		struct {                                                            \
			hdr_type h;                                                 \
			__u8 item[3];                                               \
		} *e = bpf_ringbuf_reserve(&ring, sizeof(*e), 0);                   \
		if (e) {                                                            \
			e->h = *(hdr);                                              \
			e->h.captured = 3;                                          \
			e->item[0] = H2_ITEM_LOST;                                  \
			e->item[1] = (why);                                         \
			e->item[2] = 0;                                             \
			bpf_ringbuf_submit(e, 0);                                   \
		}                                                                   \
		e != NULL;                                                          \
	})

/*
 * Whether a direction is to be walked, with the scratch record ready for
 * its walk: not when it is not followed (a loss not yet told is told now),
 * nor when this program interrupted another walk on its CPU (the
 * direction is then lost, and told).
 */
#define H2_BEGIN(r, d, ring, hdr_type, hdr)                                          \
	({                                                                           \
		bool go = false;                                                     \
		if ((d)->state == H2_LOST && (d)->untold) {                          \
			if (H2_TELL_LOST(ring, hdr_type, hdr, (d)->untold))          \
				(d)->untold = 0;                                     \
		} else if ((d)->state == H2_FOLLOWING && (r)->busy) {                \
			(d)->state = H2_LOST;                                        \
			(d)->untold = H2_LOST_NESTED;                                \
			if (H2_TELL_LOST(ring, hdr_type, hdr, H2_LOST_NESTED))       \
				(d)->untold = 0;                                     \
		} else if ((d)->state == H2_FOLLOWING) {                             \
			go = true;                                                   \
		}                                                                    \
		go;                                                                  \
	})

/* h2_walk_frames over a packet's payload: len bytes at off in skb. */
static __always_inline void h2_follow(struct __sk_buff *skb, struct h2_direction *d, const struct http_header *hdr,
				      __u32 off, __u32 len, __u32 seq, enum h2_begin begin)
{
	struct h2_record *r = h2_record();
	if (!r || !H2_BEGIN(r, d, events, struct http_header, hdr))
		return;
	r->busy = 1;
	r->tcp.h = *hdr;
	struct h2_walk w = {.skb = skb, .d = d, .r = r, .off = off, .len = len};
	h2_walk_frames(&w, seq, begin, false);
	r->busy = 0;
}

/* h2_walk_frames over a TLS call's plaintext: len bytes at buf in user memory. */
static __always_inline void h2_follow_tls(const __u8 *buf, struct h2_direction *d, const struct tls_header *hdr,
					  __u32 len, __u32 offset, enum h2_begin begin)
{
	struct h2_record *r = h2_record();
	if (!r || !H2_BEGIN(r, d, tls_events, struct tls_header, hdr))
		return;
	r->busy = 1;
	r->tls.h = *hdr;
	struct h2_walk w = {.buf = buf, .d = d, .r = r, .len = len};
	h2_walk_frames(&w, offset, begin, true);
	r->busy = 0;
}

/*
 * Whether a payload's first 8 bytes (little-endian) start a direction of
 * HTTP/2: the client's preface, or a SETTINGS frame header (type 4, no ACK,
 * stream 0 in the bytes seen, a length of whole settings checked by user
 * space). *preface is set for the first.
 */
static __always_inline bool h2_opening(__u64 p, bool *preface)
{
	*preface = p == PREFIX('P', 'R', 'I', ' ', '*', ' ', 'H', 'T');
	return *preface || (p & 0xffffffffff0000ffULL) == 0x0000000004000000ULL;
}

/* Whether the 16 bytes after "PRI * HT" end the client preface. */
static __always_inline bool h2_preface_ends(const __u64 rest[2])
{
	return rest[0] == PREFIX('T', 'P', '/', '2', '.', '0', '\r', '\n') &&
	       rest[1] == PREFIX('\r', '\n', 'S', 'M', '\r', '\n', '\r', '\n');
}

/*
 * Whether a packet at seq carries the first bytes its socket sends (egress)
 * or receives: its stream's start, where the connection's HPACK state is
 * empty. Nothing acknowledged yet (the SYN may count as one byte), or
 * nothing received yet.
 */
static __always_inline bool h2_stream_start(struct bpf_sock *sk, __u8 dir, __u32 seq)
{
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
	if (!tp)
		return false;
	if (dir == DIR_EGRESS)
		return seq == tp->snd_una && tp->bytes_acked <= 1;
	return seq == tp->rcv_nxt && tp->bytes_received == 0;
}

/*
 * Whether direction dir of a socket may still start a stream (its first
 * bytes not yet acknowledged or received), as h2_stream_start checks
 * without the packet's sequence number.
 */
static __always_inline bool h2_may_start(struct bpf_sock *sk, __u8 dir)
{
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
	if (!tp)
		return false;
	return dir == DIR_EGRESS ? tp->bytes_acked <= 1 : tp->bytes_received == 0;
}
