package dns

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type dns_header -type direction -type emit -type drop_reason -type pending_count -type count_kind dns dns.bpf.c -- -I../../bpf/include
