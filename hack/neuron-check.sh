#!/usr/bin/env bash
# Neuron check: on an AWS Trainium or Inferentia2 instance with the Neuron
# driver and torch-neuronx (the Neuron SDK's PyTorch), runs a prebuilt orb8
# agent (bin/orb8, or $ORB8) against a real model on a NeuronCore and
# checks what it reports. Downloads nothing (neuronx-cc compiles locally);
# about two minutes, most of it the compile.
#
#   sudo hack/neuron-check.sh
#   RUNTIME=0 sudo -E hack/neuron-check.sh   # device checks only
#
# The workload, in a cgroup of its own and pinned to NeuronCore 0
# (NEURON_RT_VISIBLE_CORES=0), traces a two-layer MLP with torch_neuronx,
# then runs it in a loop. It asserts, from the neuron probe: probe up; the
# driver's version and the sysfs layout read (documented before 2.31, by
# name from 2.31); a series for every Neuron device and each of its cores;
# core 0's device memory equal to the driver's own device_mem counters and
# at least half the model's fp32 weights, device 0's at least core 0's;
# core 0 and device 0 busy (utilization above 0) while the model runs; with
# a kubelet on the node, the aws.amazon.com/neuron(core) allocations listed.
# Sysfs is per device, not per process: the workload's own figures are the
# Neuron runtime uprobes', checked in a section of their own
# (runtime="nrt"): libnrt hooked, executions counted as kernel launches,
# tensor bytes allocated and outstanding, the model loaded, in the
# workload's cgroup; then hack/neuron-runtime-check.sh (the GPU check's
# runtime assertions), its outputs under $OUT/runtime. Writes
# summary.md, agent.log, metrics-*.txt and model.json under $OUT; exits 1
# if an assertion failed, 2 if the machine lacks what the check needs.
# Env: ORB8, PYTHON, OUT, PORT, RUNTIME.
set -uo pipefail
NAME=neuron
PORT=${PORT:-19838}
# shellcheck source=hack/lib/accel-check.sh
. "$(dirname "$0")/lib/accel-check.sh"

need_root_and_agent
ls -d /sys/devices/virtual/neuron_device/neuron[0-9]* >/dev/null 2>&1 || { say "no Neuron device on this host"; exit 2; }
"$PY" -c 'import torch_neuronx' 2>/dev/null || { say "$PY has no torch_neuronx"; exit 2; }
say "Neuron driver $(cat /sys/module/neuron/version 2>/dev/null || echo unknown)"

start_agent --neuron-interval 1s
cat >"$OUT/work.py" <<'PY'
import json, os, sys, torch, torch_neuronx
out, ready = sys.argv[1], sys.argv[2]
model = torch.nn.Sequential(torch.nn.Linear(2048, 8192), torch.nn.ReLU(), torch.nn.Linear(8192, 2048)).eval()
x = torch.rand(64, 2048)
traced = torch_neuronx.trace(model, x)
traced(x)
json.dump({"weights": sum(p.numel() * 4 for p in model.parameters()), "pid": os.getpid()}, open(out, "w"))
open(ready, "w").close()
while True:
    traced(x)
PY
start_workload "$OUT/ready" env NEURON_RT_VISIBLE_CORES=0 "$PY" "$OUT/work.py" "$OUT/model.json" "$OUT/ready"
pass "torch-neuronx model on NeuronCore 0 in ${CG#/sys/fs/cgroup}"
sleep 4 # polls while the model runs
for i in 1 2; do
	"$PY" -c "import accel_check as ac; ac.fetch('http://127.0.0.1:$PORT/metrics', '$OUT/metrics-$i.txt')" || { fail "metrics scraped (see agent.log)"; summary; }
	sleep 2
done

# --- Device metrics (neuron probe) ---
"$PY" - "$OUT" <<'PY' >"$OUT/checks-device.txt"
import glob, json, os, re, sys
import accel_check as ac
out = sys.argv[1]
m = json.load(open(out + "/model.json"))
scrapes = [ac.Series(open("%s/metrics-%d.txt" % (out, i)).read()) for i in (1, 2)]
s = scrapes[-1]
root = "/sys/devices/virtual/neuron_device"
ac.check("probe neuron up", s.value("orb8_probe_up", probe="neuron") == 1)
try:
    version = open("/sys/module/neuron/version").read().strip()
except OSError:
    version = ""
mm = ".".join(version.split(".")[:2])
layout = "documented" if mm and tuple(map(int, mm.split("."))) < (2, 31) else "by_name"
ac.check("driver %s read with the %s layout" % (mm or "unknown", layout), s.value("orb8_neuron_driver_info", version=mm, layout=layout) == 1)
devices = sorted(int(re.sub(r"\D", "", os.path.basename(d))) for d in glob.glob(root + "/neuron[0-9]*"))
for d in devices:
    labels = s.get("orb8_accelerator_memory_used_bytes", vendor="aws", device=str(d))
    ac.check("device %d exported with a model (%s)" % (d, labels[0][0].get("model") if labels else None), bool(labels) and bool(labels[0][0].get("model")))
    try:
        cores = int(open("%s/neuron%d/core_count" % (root, d)).read())
    except OSError:
        cores = None
    got = len(s.get("orb8_accelerator_core_memory_used_bytes", vendor="aws", device=str(d)))
    ac.check("device %d: %d cores exported, core_count %s" % (d, got, cores), cores is None or got == cores)
# core 0 of device 0 against the driver's counters, read now.
files = glob.glob(root + "/neuron0/neuron_core0/stats/memory_usage/device_mem/*/total") or \
    glob.glob(root + "/neuron0/**/neuron_core0/**/device_mem/*/total", recursive=True)
sysfs = sum(int(open(f).read()) for f in files)
core0 = s.value("orb8_accelerator_core_memory_used_bytes", vendor="aws", device="0", core="0") or 0
ac.check("core 0 memory %.1f MiB = the driver's device_mem %.1f MiB (within 1%%)" % (core0 / 2**20, sysfs / 2**20), sysfs > 0 and abs(core0 - sysfs) <= 0.01 * sysfs)
ac.check("core 0 memory >= half the model's fp32 weights (%.0f MiB)" % (m["weights"] / 2**20), core0 >= m["weights"] / 2)
dev0 = s.value("orb8_accelerator_memory_used_bytes", vendor="aws", device="0") or 0
ac.check("device 0 memory %.1f MiB >= core 0's" % (dev0 / 2**20), dev0 >= core0)
cutil = max(x.value("orb8_accelerator_core_utilization_ratio", vendor="aws", device="0", core="0") or 0 for x in scrapes)
ac.check("core 0 utilization %.2f > 0 while the model runs" % cutil, cutil > 0)
dutil = max(x.value("orb8_accelerator_utilization_ratio", vendor="aws", device="0") or 0 for x in scrapes)
ac.check("device 0 utilization %.2f > 0" % dutil, dutil > 0)
pods = s.get("orb8_pod_accelerator_allocated", vendor="aws")
ac.info("aws.amazon.com/neuron(core) allocations from the kubelet: %d%s" % (len(pods), "" if os.path.exists("/var/lib/kubelet/pod-resources/kubelet.sock") else " (no kubelet on this node)"))
PY
collect "$OUT/checks-device.txt"

# --- Neuron runtime uprobes (runtime="nrt"; probe from the accel-runtime work) ---
if [ "${RUNTIME:-1}" = 1 ]; then
	"$PY" - "$OUT" "${CG#/sys/fs/cgroup}" <<'PY' >"$OUT/checks-runtime.txt"
import sys
import accel_check as ac
out, cgroup = sys.argv[1], sys.argv[2]
scrapes = [ac.Series(open("%s/metrics-%d.txt" % (out, i)).read()) for i in (1, 2)]
s = scrapes[-1]
hooked = s.value("orb8_accelerator_libraries_hooked", runtime="nrt", library="nrt")
ac.check("libnrt hooked (%s)" % hooked, (hooked or 0) >= 1)
w = dict(runtime="nrt", cgroup=cgroup)
first, last = (x.value("orb8_accelerator_kernel_launches_total", **w) or 0 for x in scrapes)
ac.check("executions counted as kernel launches (%d), growing while the model runs (%d)" % (last, first), last > first > 0)
malloc = s.value("orb8_accelerator_malloc_bytes_total", **w) or 0
ac.check("tensor bytes allocated %.1f MiB > 0" % (malloc / 2**20), malloc > 0)
outstanding = s.value("orb8_accelerator_memory_outstanding_bytes", **w) or 0
ac.check("tensor bytes outstanding %.1f MiB, > 0 and <= allocated" % (outstanding / 2**20), 0 < outstanding <= malloc)
models = s.value("orb8_accelerator_models_loaded", **w) or 0
ac.check("models loaded (%d) >= 1 while the model runs" % models, models >= 1)
PY
	collect "$OUT/checks-runtime.txt"
	runtime_check neuron-runtime-check.sh
fi
summary
