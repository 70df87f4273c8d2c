package fds

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type fd_record fds fds.bpf.c -- -I../../bpf/include
