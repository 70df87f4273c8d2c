package cuda

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type mmap_event -type cuda_stats -type op -type cookie -type level -type runtime -type stats_key -type window cuda cuda.bpf.c -- -I../../bpf/include
