package cuda

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type mmap_event -type cuda_stats -type op -type cookie -type level -type runtime -type stats_key -type window -type kernel_key -type function_key -type function_name -type launch_event -type name_op -type launch_cookie -type kernel_drop -type cuda_event_kind -type launch_flag -type kernel_limit -type mapper_record cuda cuda.bpf.c -- -I../../bpf/include
