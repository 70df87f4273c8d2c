package network

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target amd64,arm64 -type conn_event -type event_kind -type direction -type net_stats network network.bpf.c -- -I../../bpf/include
