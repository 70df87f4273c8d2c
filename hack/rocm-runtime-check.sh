#!/usr/bin/env bash
# ROCm check: on a Linux machine with an AMD GPU, its driver and PyTorch
# built for ROCm, runs hack/gpu-check.sh's workloads and runtime assertions
# against the HIP runtime (libamdhip64, runtime="hip"): the library hooked in
# the running work, kernel launches within 1% of those torch.profiler counts
# (every HIP launch is counted), memcpy bytes, the leak's outstanding bytes
# matching torch.cuda.memory_reserved(), the leak flagged and the work not,
# outstanding bytes cleared when the leak exits, the matmul step at most 2%
# slower. Downloads nothing; the same options and outputs as gpu-check.sh.
#
#   sudo hack/rocm-runtime-check.sh
RUNTIME=hip exec "$(dirname "$0")/gpu-check.sh" "$@"
