package cpu

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type cgroup_figures -type figure_flag cpu cpu.bpf.c -- -I../../bpf/include
