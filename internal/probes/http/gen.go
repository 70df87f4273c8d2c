package http

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type http_header -type direction -type segment -type tls_header -type tls_cookie -type tls_mmap_event -type h1_request -type h1_method -type h1_state -type h1_request_key -type h1_duration_key -type h1_slowest -type h1_event_kind -type h1_return -type h1_why http http.bpf.c -- -I../../bpf/include
