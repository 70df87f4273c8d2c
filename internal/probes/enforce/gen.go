package enforce

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type verdict -type verdict_action -type audit_kind -type selection_key -type exec_key -type exec_rule -type needle_key -type needle -type connect_key -type audit_event enforce enforce.bpf.c -- -I../../bpf/include
