//go:build ignore

/*
 * The HTTP probe's head parser alone (h1_parse.bpf.h), for tests: it
 * parses the test run's packet from its first byte and keeps what it found.
 */
#include "../../h1_parse.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct h1_head);
} found SEC(".maps");

SEC("cgroup_skb/egress")
int parse(struct __sk_buff *skb)
{
	__u64 prefix = 0;
	__u32 zero = 0;
	if (skb->len < 8 || bpf_skb_load_bytes(skb, 0, &prefix, sizeof(prefix)))
		return 1;
	struct h1_scratch *s = h1_parse(skb, 0, skb->len, prefix);
	if (s)
		bpf_map_update_elem(&found, &zero, &s->h, BPF_ANY);
	return 1;
}
