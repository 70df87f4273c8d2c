package http

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type http_header -type direction -type segment http http.bpf.c -- -I../../bpf/include
