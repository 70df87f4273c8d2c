package cgroups

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64 -type event -type cgroup_name cgroups cgroups.bpf.c -- -I../../bpf/include
