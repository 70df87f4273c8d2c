package http

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type http_header -type direction -type segment -type tls_header -type tls_cookie -type tls_mmap_event http http.bpf.c -- -I../../bpf/include
