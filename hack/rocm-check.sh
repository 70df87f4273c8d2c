#!/usr/bin/env bash
# ROCm check: on a Linux machine with an AMD GPU, ROCm (amd-smi,
# libamd_smi.so) and PyTorch for ROCm, runs a prebuilt orb8 agent (bin/orb8,
# or $ORB8) against a real PyTorch workload and checks what it reports.
# Downloads nothing; about one minute.
#
#   sudo hack/rocm-check.sh
#   RUNTIME=0 sudo -E hack/rocm-check.sh   # device checks only
#
# The workload, in a cgroup of its own, reserves a 1 GiB tensor on GPU 0,
# copies 16 MiB to it, reports torch.cuda.memory_reserved(), then keeps the
# GPU busy with matmuls. It asserts, from the amdsmi probe: probe up; a
# series for every GPU PyTorch sees, with vendor="amd", a uuid and a model;
# memory used within total, a temperature, a power draw and the throttle
# reasons; the workload's GPU memory attributed to its cgroup, at least 90%
# of what PyTorch reserved; its GPU busy (device and workload utilization
# above 0) while the matmuls run; with a kubelet on the node, the
# amd.com/gpu allocations listed. Then, in a section of its own, the HIP
# runtime uprobes (runtime="hip"): libamdhip64 hooked, kernel launches
# counted, malloc, outstanding and host-to-device bytes at least what the
# workload did; then hack/rocm-runtime-check.sh (the GPU check's runtime
# assertions: launches within 1% of the profiler's, leak flagged, the step
# at most 2% slower), its outputs under $OUT/runtime. Writes summary.md, agent.log, metrics-*.txt and torch.json
# under $OUT; exits 1 if an assertion failed, 2 if the machine lacks what
# the check needs. Env: ORB8, PYTHON, OUT, PORT, RUNTIME.
set -uo pipefail
NAME=rocm
PORT=${PORT:-19828}
# shellcheck source=hack/lib/accel-check.sh
. "$(dirname "$0")/lib/accel-check.sh"

need_root_and_agent
"$PY" -c 'import torch, sys; sys.exit(0 if torch.version.hip and torch.cuda.is_available() else 1)' 2>/dev/null ||
	{ say "$PY has no PyTorch for ROCm that sees a GPU"; exit 2; }
command -v amd-smi >/dev/null && say "$(amd-smi version 2>/dev/null | head -1)"

# The agent first: the HIP uprobes see the workload's calls from its start.
start_agent --amdsmi-interval 2s
cat >"$OUT/work.py" <<'PY'
import json, os, sys, torch
out, ready = sys.argv[1], sys.argv[2]
held = torch.empty(1 << 28, dtype=torch.float32, device="cuda:0")  # 1 GiB
host = torch.ones(1 << 22, dtype=torch.float32)                     # 16 MiB
on_gpu = host.to("cuda:0")
torch.cuda.synchronize()
json.dump({"devices": torch.cuda.device_count(), "name": torch.cuda.get_device_name(0),
           "reserved": torch.cuda.memory_reserved(0), "h2d": host.numel() * 4, "pid": os.getpid()}, open(out, "w"))
open(ready, "w").close()
a = torch.randn(8192, 8192, device="cuda:0")
while True:
    (a @ a).sum().item()
PY
start_workload "$OUT/ready" "$PY" "$OUT/work.py" "$OUT/torch.json" "$OUT/ready"
pass "PyTorch workload on $("$PY" -c "import json; d=json.load(open('$OUT/torch.json')); print(d['devices'], 'x', d['name'])") in ${CG#/sys/fs/cgroup}"
sleep 7 # three polls while the matmuls run
"$PY" -c "import accel_check as ac; ac.fetch('http://127.0.0.1:$PORT/metrics', '$OUT/metrics-1.txt')" || { fail "metrics scraped (see agent.log)"; summary; }
sleep 3
"$PY" -c "import accel_check as ac; ac.fetch('http://127.0.0.1:$PORT/metrics', '$OUT/metrics-2.txt')" || { fail "metrics scraped (see agent.log)"; summary; }

# --- Device metrics and attribution (amdsmi probe) ---
"$PY" - "$OUT" "${CG#/sys/fs/cgroup}" <<'PY' >"$OUT/checks-device.txt"
import json, os, sys
import accel_check as ac
out, cgroup = sys.argv[1], sys.argv[2]
t = json.load(open(out + "/torch.json"))
scrapes = [ac.Series(open("%s/metrics-%d.txt" % (out, i)).read()) for i in (1, 2)]
s = scrapes[-1]
ac.check("probe amdsmi up", s.value("orb8_probe_up", probe="amdsmi") == 1)
devices = sorted({l["device"] for l, _ in s.get("orb8_accelerator_memory_total_bytes", vendor="amd")}, key=int)
want = t["devices"] if "HIP_VISIBLE_DEVICES" not in os.environ and "ROCR_VISIBLE_DEVICES" not in os.environ else 1
ac.check("a device series for each of PyTorch's %d GPUs (%d)" % (t["devices"], len(devices)), len(devices) >= want)
for d in devices:
    total = s.value("orb8_accelerator_memory_total_bytes", vendor="amd", device=d) or 0
    used = s.value("orb8_accelerator_memory_used_bytes", vendor="amd", device=d)
    labels = s.get("orb8_accelerator_memory_total_bytes", vendor="amd", device=d)[0][0]
    ac.check("GPU %s uuid %r and model %r" % (d, labels.get("uuid"), labels.get("model")), bool(labels.get("uuid")) and bool(labels.get("model")))
    ac.check("GPU %s memory used %.1f GiB within total %.1f GiB" % (d, (used or 0) / 2**30, total / 2**30), used is not None and 0 <= used <= total and total > 0)
    temp = s.value("orb8_accelerator_temperature_celsius", vendor="amd", device=d)
    ac.check("GPU %s temperature %s C" % (d, temp), temp is not None and 0 < temp < 125)
    power = s.value("orb8_accelerator_power_watts", vendor="amd", device=d)
    ac.check("GPU %s power %s W" % (d, power), power is not None and power > 0)
    reasons = sorted(l["reason"] for l, _ in s.get("orb8_accelerator_throttled", vendor="amd", device=d))
    ac.check("GPU %s throttle reasons %s" % (d, reasons), reasons == ["current", "other", "power", "thermal"])
    pcie = s.get("orb8_accelerator_pcie_bytes_per_second", vendor="amd", device=d)
    ac.info("GPU %s PCIe %s" % (d, {l["direction"]: v for l, v in pcie} or "not supported by this GPU"))
mem = {l["device"]: v for l, v in s.get("orb8_workload_accelerator_memory_used_bytes", vendor="amd", cgroup=cgroup)}
ac.check("workload GPU memory %.2f GiB >= 90%% of PyTorch's reserved %.2f GiB" % (sum(mem.values()) / 2**30, t["reserved"] / 2**30),
         sum(mem.values()) >= 0.9 * t["reserved"] >= 2**30 * 0.9)
busy = max(mem, key=mem.get) if mem else None
ac.check("the workload's GPU %s found by its memory" % busy, busy is not None)
if busy is not None:
    util = max(x.value("orb8_accelerator_utilization_ratio", vendor="amd", device=busy) or 0 for x in scrapes)
    ac.check("GPU %s utilization %.2f > 0 while the matmuls run" % (busy, util), util > 0)
    wutil = max(x.value("orb8_workload_accelerator_utilization_ratio", vendor="amd", device=busy, cgroup=cgroup) or 0 for x in scrapes)
    ac.check("workload utilization of GPU %s %.2f > 0 (engine time)" % (busy, wutil), wutil > 0)
    used = s.value("orb8_accelerator_memory_used_bytes", vendor="amd", device=busy) or 0
    ac.check("GPU %s memory used >= the workload's" % busy, used >= mem[busy])
pods = s.get("orb8_pod_accelerator_allocated", vendor="amd")
ac.info("amd.com/gpu allocations from the kubelet: %d%s" % (len(pods), "" if os.path.exists("/var/lib/kubelet/pod-resources/kubelet.sock") else " (no kubelet on this node)"))
PY
collect "$OUT/checks-device.txt"

# --- HIP runtime uprobes (runtime="hip"; probe from the accel-runtime work) ---
if [ "${RUNTIME:-1}" = 1 ]; then
	"$PY" - "$OUT" "${CG#/sys/fs/cgroup}" <<'PY' >"$OUT/checks-runtime.txt"
import json, sys
import accel_check as ac
out, cgroup = sys.argv[1], sys.argv[2]
t = json.load(open(out + "/torch.json"))
s = ac.Series(open(out + "/metrics-2.txt").read())
hooked = s.value("orb8_accelerator_libraries_hooked", runtime="hip", library="amdhip64")
ac.check("libamdhip64 hooked (%s)" % hooked, (hooked or 0) >= 1)
w = dict(runtime="hip", cgroup=cgroup)
launches = s.value("orb8_accelerator_kernel_launches_total", **w)
ac.check("kernel launches counted (%s)" % launches, (launches or 0) > 0)
malloc = s.value("orb8_accelerator_malloc_bytes_total", **w) or 0
ac.check("malloc %.2f GiB >= reserved %.2f GiB" % (malloc / 2**30, t["reserved"] / 2**30), malloc >= t["reserved"])
outstanding = s.value("orb8_accelerator_memory_outstanding_bytes", **w) or 0
ac.check("outstanding %.2f GiB >= 90%% of reserved" % (outstanding / 2**30), outstanding >= 0.9 * t["reserved"])
h2d = s.value("orb8_accelerator_memcpy_bytes_total", kind="h2d", **w) or 0
ac.check("host-to-device copies %.0f MiB >= the workload's %.0f MiB" % (h2d / 2**20, t["h2d"] / 2**20), h2d >= t["h2d"])
PY
	collect "$OUT/checks-runtime.txt"
	runtime_check rocm-runtime-check.sh
fi
summary
