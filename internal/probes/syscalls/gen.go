package syscalls

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type event -type call_key -type error_key -type stream_filter syscalls syscalls.bpf.c -- -I../../bpf/include
