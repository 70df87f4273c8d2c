package memory

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type oom_event -type mem_stats -type proc_record -type cgroup_memory memory memory.bpf.c -- -I../../bpf/include
