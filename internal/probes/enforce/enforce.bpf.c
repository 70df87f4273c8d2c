//go:build ignore

/*
 * Policy enforcement: exec and connect rules of the policies that select a
 * workload, checked in the kernel when the workload acts.
 *
 * User space compiles the policies into tables. Each workload (cgroup) that
 * some policy selects maps to a selection: the set of policies selecting it,
 * numbered afresh in each generation of the tables. Exec rules are keyed by
 * selection and the hash of a path, connect rules by selection, protocol,
 * port and address prefix. A new generation is written beside the current
 * one and becomes current with one write of active_gen, so a workload sees
 * the whole old rule set or the whole new one, never a mix.
 *
 * exec: at sched_process_exec the new image is installed and has not run;
 * a kill rule of an enforcing policy sends SIGKILL there, so the program
 * never runs an instruction. The path as given to execve and the
 * executable resolved against the process's root are both matched. A rule
 * with argsContain strings also needs one of them in argv[1..]: its strings
 * hang off the path's entry (exec_needles), and argv is read and searched
 * only for an exec whose path has such an entry.
 * connect: cgroup/connect4/6 (TCP and connected UDP) and sendmsg4/6 (UDP)
 * refuse with EPERM what a deny rule of an enforcing policy matches.
 * Every match, enforced or monitored, is one audit record.
 */
#include "orb8.h"
#include "orb8_path.h"
#include "orb8_exec.h"
#include <bpf/bpf_endian.h>

#define MAX_SELECTED_CGROUPS 16384
#define MAX_EXEC_RULES 16384
#define MAX_CONNECT_RULES 16384
#define MAX_EXEC_NEEDLES 4096
#define MAX_NEEDLES_PER_PATH 64
#define NEEDLE_LEN 64
#define MAX_EXEC_ARGS 16 /* arguments searched, argv[0] included: what an audit record shows */
#define FILENAME_LEN 256
#define SIGKILL 9
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define AF_INET_ 2
#define AF_INET6_ 10

enum verdict_action : __u8 {
	ACTION_AUDIT = 0,
	ACTION_BLOCK = 1, /* kill on exec, deny on connect */
};

enum audit_kind : __u8 {
	AUDIT_EXEC = 1,
	AUDIT_CONNECT = 2,
	/* Not a match: an exec whose path has argsContain rules, none found in
	 * what was read of argv, and argv went on past it. */
	AUDIT_ARGS_UNCHECKED = 3,
};

/* What a matching rule says. */
struct verdict {
	__u32 policy;    /* index in user space's table of the generation */
	__u16 rule;      /* index in the policy's rules */
	enum verdict_action action;
	__u8 enforce;    /* 0: monitor, report what enforce would do */
};

struct selection_key {
	__u32 gen;
	__u32 pad;
	__u64 cgroup_id;
};

struct exec_key {
	__u32 selection;
	__u32 pad;
	__u64 path_hash; /* FNV-1a 64 of the path's bytes */
};

/* What an exec of a path meets: rules without arguments, and strings. */
struct exec_rule {
	struct verdict verdict; /* of the rules without argsContain, if has_verdict */
	__u8 has_verdict;
	__u8 pad;
	__u16 needles; /* argsContain strings: exec_needles indexes 0 to needles - 1 */
};

struct needle_key {
	__u32 selection;
	__u32 index;
	__u64 path_hash;
};

/* One argsContain string and the verdict of its rule when it is found. */
struct needle {
	struct verdict verdict;
	__u32 len;
	__u8 str[NEEDLE_LEN];
};

/* Longest-prefix key: selection, protocol and port exactly, then the address (IPv4 mapped to ::ffff:0:0/96). */
struct connect_key {
	__u32 prefixlen;
	__u32 selection;
	__u8 protocol;
	__u8 pad;
	__u16 port; /* host order; 0: any port */
	__u8 addr[16];
};

struct audit_event {
	__u64 boot_ns;
	__u64 cgroup_id;
	struct verdict verdict;
	enum audit_kind kind;
	__u8 protocol;
	__u16 port;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 pad;
	__u8 addr[16];
	__u8 comm[16];
	__u8 filename[FILENAME_LEN];
	__u8 path[ORB8_PATH_LEN];
	__u32 args_len; /* exec: the new program's argv */
	__u8 args_truncated;
	__u8 pad2[3];
	__u8 args[ORB8_ARGS_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} active_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MAX_SELECTED_CGROUPS); /* the current generation and the next */
	__type(key, struct selection_key);
	__type(value, __u32);
} selections SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MAX_EXEC_RULES); /* the current generation and the next */
	__type(key, struct exec_key);
	__type(value, struct exec_rule);
} exec_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * MAX_EXEC_NEEDLES); /* the current generation and the next */
	__type(key, struct needle_key);
	__type(value, struct needle);
} exec_needles SEC(".maps");

/*
 * An exec being checked: what its rules said so far (the strongest verdict
 * that matched, and the strongest stronger one whose string was not
 * found), and while argv is searched, where (argv[1] to
 * argv[MAX_EXEC_ARGS - 1] of what was read) and for what. It lives in a
 * map, not on the stack: the verifier then sees no value of the loops'
 * state as a constant and checks each loop body once, not per value.
 */
struct exec_check {
	__u8 args[ORB8_ARGS_LEN];
	__u8 needle[NEEDLE_LEN];
	struct verdict best, missed;
	__u8 have_best, have_missed;
	__u8 found;
	__u8 args_cut;
	__u32 len;   /* bytes of argv read */
	__u32 start; /* argv[1] */
	__u32 end;
	__u32 nargs; /* arguments ended so far */
	__u32 needle_len;
	__u32 selection;
	__u32 pad;
	__u64 path_hash;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_check);
} exec_checks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2 * MAX_CONNECT_RULES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct connect_key);
	__type(value, struct verdict);
} connect_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
	__type(value, struct audit_event);
} audits SEC(".maps");

/* bpf_loop's context: it must be on the stack. */
struct exec_check_ref {
	struct exec_check *c;
};

/* The selection of the current workload in the current generation, or 0. */
static __always_inline __u32 selection_of(__u64 cgroup_id)
{
	__u32 zero = 0;
	__u32 *gen = bpf_map_lookup_elem(&active_gen, &zero);
	if (!gen)
		return 0;
	struct selection_key k = {.gen = *gen, .cgroup_id = cgroup_id};
	__u32 *sel = bpf_map_lookup_elem(&selections, &k);
	return sel ? *sel : 0;
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* FNV-1a of the string in buf (at most FILENAME_LEN bytes). */
static __always_inline __u64 hash_path(const __u8 *buf)
{
	__u64 h = FNV_OFFSET;
	for (int i = 0; i < FILENAME_LEN; i++) {
		__u8 c = buf[i];
		if (!c)
			break;
		h ^= c;
		h *= FNV_PRIME;
	}
	return h;
}

static __always_inline struct exec_rule *exec_rule_of(__u32 sel, __u64 hash)
{
	struct exec_key k = {.selection = sel, .path_hash = hash};
	return bpf_map_lookup_elem(&exec_rules, &k);
}

/* Enforced block 3, monitored block 2, audit 0: the stronger verdict wins. */
static __always_inline int rank(const struct verdict *v)
{
	return v->action == ACTION_BLOCK ? 2 + !!v->enforce : 0;
}

static __always_inline void take(struct exec_rule *r, struct exec_check *c)
{
	if (r && r->has_verdict && (!c->have_best || rank(&r->verdict) > rank(&c->best))) {
		c->best = r->verdict;
		c->have_best = 1;
	}
}

static long find_window(__u64 i, struct exec_check_ref *ref)
{
	struct exec_check *c = ref->c;
	if (i >= c->len)
		return 1;
	if (c->args[i & (ORB8_ARGS_LEN - 1)])
		return 0;
	c->nargs++;
	if (c->nargs == 1)
		c->start = i + 1;
	if (c->nargs == MAX_EXEC_ARGS) {
		c->end = i;
		return 1;
	}
	return 0;
}

/* Whether the needle starts at offset i of the window. A NUL ends every
 * argument and no needle holds one, so no match spans two arguments. */
static long needle_at(__u64 i, struct exec_check_ref *ref)
{
	struct exec_check *c = ref->c;
	__u32 pos = c->start + i, n = c->needle_len;
	if (pos + n > c->end)
		return 1;
	for (int j = 0; j < NEEDLE_LEN; j++) {
		if (j >= n)
			break;
		if (c->args[(pos + j) & (ORB8_ARGS_LEN - 1)] != c->needle[j])
			return 0;
	}
	c->found = 1;
	return 1;
}

/* Searches the window for string i of the entry (c->selection,
 * c->path_hash), unless it cannot outrank what matched; the strongest come
 * first, so the search ends at the first enforced kill found. */
static long search_needle(__u64 i, struct exec_check_ref *ref)
{
	struct exec_check *c = ref->c;
	if (c->have_best && rank(&c->best) == 3)
		return 1;
	struct needle_key k = {.selection = c->selection, .index = i, .path_hash = c->path_hash};
	struct needle *n = bpf_map_lookup_elem(&exec_needles, &k);
	if (!n || (c->have_best && rank(&n->verdict) <= rank(&c->best)))
		return 0;
	c->needle_len = n->len;
	if (c->needle_len > NEEDLE_LEN)
		return 0;
	__builtin_memcpy(c->needle, n->str, NEEDLE_LEN);
	c->found = 0;
	if (c->end > c->start)
		bpf_loop(c->end - c->start, needle_at, ref, 0);
	if (c->found) {
		c->best = n->verdict;
		c->have_best = 1;
	} else if (!c->have_missed || rank(&n->verdict) > rank(&c->missed)) {
		c->missed = n->verdict;
		c->have_missed = 1;
	}
	return 0;
}

/* Searches argv for the strings of the entries (sel, hash) with needles. */
static __always_inline void search_args(struct task_struct *p, struct exec_check_ref *ref, __u32 sel, __u64 given_hash, __u16 given_needles,
					__u64 resolved_hash, __u16 resolved_needles)
{
	struct exec_check *c = ref->c;
	orb8_exec_args(p, c->args, &c->len, &c->args_cut);
	c->start = c->end = c->len;
	c->nargs = 0;
	bpf_loop(ORB8_ARGS_LEN, find_window, ref, 0);
	if (c->end + 1 < c->len) /* arguments after argv[MAX_EXEC_ARGS - 1] */
		c->args_cut = 1;
	c->selection = sel;
	c->path_hash = given_hash;
	bpf_loop(given_needles < MAX_NEEDLES_PER_PATH ? given_needles : MAX_NEEDLES_PER_PATH, search_needle, ref, 0);
	c->path_hash = resolved_hash;
	bpf_loop(resolved_needles < MAX_NEEDLES_PER_PATH ? resolved_needles : MAX_NEEDLES_PER_PATH, search_needle, ref, 0);
}

static __always_inline struct audit_event *audit_start(enum audit_kind kind, __u64 cgroup_id, struct verdict *v)
{
	struct audit_event *e = orb8_reserve(&audits, sizeof(*e));
	if (!e)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->cgroup_id = cgroup_id;
	e->verdict = *v;
	e->kind = kind;
	e->protocol = 0;
	e->port = 0;
	e->pid = t->tgid;
	e->ppid = BPF_CORE_READ(t, real_parent, tgid);
	e->uid = BPF_CORE_READ(t, cred, uid.val);
	e->pad = 0;
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
	e->path[0] = 0;
	e->args_len = 0;
	e->args_truncated = 0;
	return e;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(check_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 cg = orb8_current_cgroup_id();
	__u32 sel = selection_of(cg);
	if (!sel)
		return 0;
	__u32 zero = 0;
	struct orb8_path_scratch *s = bpf_map_lookup_elem(&orb8_path_scratch, &zero);
	if (!s)
		return 0;
	/* The scratch's second half holds the name as given; orb8_path builds in its first. */
	__u8 *given = (__u8 *)&s->buf[ORB8_PATH_LEN];
	bpf_probe_read_kernel_str(given, FILENAME_LEN, BPF_CORE_READ(bprm, filename));
	__u64 given_hash = hash_path(given);
	struct exec_rule *by_given = given[0] ? exec_rule_of(sel, given_hash) : 0;
	__u8 resolved[ORB8_PATH_LEN];
	struct fs_struct *fs = BPF_CORE_READ(p, fs);
	if (orb8_path(BPF_CORE_READ(bprm, file), &fs->root, (char *)resolved) < 0)
		resolved[0] = 0;
	__u64 resolved_hash = hash_path(resolved);
	struct exec_rule *by_resolved = resolved[0] && resolved_hash != given_hash ? exec_rule_of(sel, resolved_hash) : 0;
	/* Tested one at a time: or-ing the pointers is not allowed. */
	__u8 listed = by_given != 0;
	barrier_var(listed);
	if (!listed && !by_resolved)
		return 0;
	struct exec_check_ref ref = {.c = bpf_map_lookup_elem(&exec_checks, &zero)};
	struct exec_check *c = ref.c;
	if (!c)
		return 0;
	c->have_best = c->have_missed = c->args_cut = 0;
	take(by_given, c);
	take(by_resolved, c);
	__u16 given_needles = by_given ? by_given->needles : 0, resolved_needles = by_resolved ? by_resolved->needles : 0;
	if ((given_needles || resolved_needles) && !(c->have_best && rank(&c->best) == 3))
		search_args(p, &ref, sel, given_hash, given_needles, resolved_hash, resolved_needles);
	enum audit_kind kind = AUDIT_EXEC;
	struct verdict *v = &c->best;
	if (!c->have_best) {
		if (!c->have_missed || !c->args_cut)
			return 0;
		kind = AUDIT_ARGS_UNCHECKED;
		v = &c->missed;
	} else if (v->action == ACTION_BLOCK && v->enforce) {
		bpf_send_signal(SIGKILL);
	}
	struct audit_event *e = audit_start(kind, cg, v);
	if (!e)
		return 0;
	bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
	__builtin_memcpy(e->path, resolved, sizeof(e->path));
	orb8_exec_args(p, e->args, &e->args_len, &e->args_truncated);
	orb8_submit(e);
	return 0;
}

/* 1: let the call through, 0: refuse it (EPERM). */
static __always_inline int check_connect(struct bpf_sock_addr *ctx, __u8 protocol, const __u8 *addr, __u16 port)
{
	__u64 cg = bpf_get_current_cgroup_id();
	__u32 sel = selection_of(cg);
	if (!sel)
		return 1;
	struct connect_key k = {.prefixlen = 64 + 128, .selection = sel, .protocol = protocol, .port = port};
	__builtin_memcpy(k.addr, addr, sizeof(k.addr));
	struct verdict *v = bpf_map_lookup_elem(&connect_rules, &k);
	if (!v) {
		k.port = 0;
		v = bpf_map_lookup_elem(&connect_rules, &k);
	}
	if (!v)
		return 1;
	struct audit_event *e = audit_start(AUDIT_CONNECT, cg, v);
	if (e) {
		e->protocol = protocol;
		e->port = port;
		__builtin_memcpy(e->addr, addr, sizeof(e->addr));
		orb8_submit(e);
	}
	return !(v->action == ACTION_BLOCK && v->enforce);
}

static __always_inline int check_connect4(struct bpf_sock_addr *ctx, __u8 protocol)
{
	__u8 addr[16] = {};
	addr[10] = 0xff;
	addr[11] = 0xff;
	__u32 ip = ctx->user_ip4;
	__builtin_memcpy(&addr[12], &ip, 4);
	return check_connect(ctx, protocol, addr, bpf_ntohs((__u16)ctx->user_port));
}

static __always_inline int check_connect6(struct bpf_sock_addr *ctx, __u8 protocol)
{
	__u8 addr[16];
	__u32 w0 = ctx->user_ip6[0], w1 = ctx->user_ip6[1], w2 = ctx->user_ip6[2], w3 = ctx->user_ip6[3];
	__builtin_memcpy(&addr[0], &w0, 4);
	__builtin_memcpy(&addr[4], &w1, 4);
	__builtin_memcpy(&addr[8], &w2, 4);
	__builtin_memcpy(&addr[12], &w3, 4);
	return check_connect(ctx, protocol, addr, bpf_ntohs((__u16)ctx->user_port));
}

static __always_inline __u8 sock_protocol(struct bpf_sock_addr *ctx)
{
	return ctx->protocol == IPPROTO_UDP_ ? IPPROTO_UDP_ : IPPROTO_TCP_;
}

SEC("cgroup/connect4")
int check_connect_v4(struct bpf_sock_addr *ctx)
{
	return check_connect4(ctx, sock_protocol(ctx));
}

SEC("cgroup/connect6")
int check_connect_v6(struct bpf_sock_addr *ctx)
{
	return check_connect6(ctx, sock_protocol(ctx));
}

SEC("cgroup/sendmsg4")
int check_sendmsg_v4(struct bpf_sock_addr *ctx)
{
	return check_connect4(ctx, IPPROTO_UDP_);
}

SEC("cgroup/sendmsg6")
int check_sendmsg_v6(struct bpf_sock_addr *ctx)
{
	return check_connect6(ctx, IPPROTO_UDP_);
}
