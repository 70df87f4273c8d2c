package h1check

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type h1_head h1check h1check.bpf.c -- -I../../../../bpf/include
