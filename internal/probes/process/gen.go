package process

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type event -type exec_event -type event_kind -type proc_stats process process.bpf.c -- -I../../bpf/include
