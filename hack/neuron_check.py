"""Workloads of hack/neuron-check.sh, on an AWS Trainium or Inferentia machine
with torch-neuronx (torch_xla): standard library, torch and torch_xla only.

  neuron_check.py work OUT       a compiled step timed in phases the script triggers
  neuron_check.py leak OUT SECS  moves a new 32 MiB tensor to the device every 0.5 s and keeps it

orb8's /metrics are read with gpu_check.py fetch and query.
"""
import os
import statistics
import sys
import time

from gpu_check import mark, wait_for


def device():
    import torch_xla.core.xla_model as xm

    return xm, xm.xla_device()


def work(out):
    """A two-layer MLP, batch 64, random weights: one graph, compiled at
    warm-up, then one execution (nrt_execute) per step. Phases: base1 (no
    agent), traced (the agent), base2 (agent stopped)."""
    import torch

    xm, dev = device()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 1024)).to(dev)
    x = torch.randn(64, 1024).to(dev)

    def step():
        y = model(x)
        xm.mark_step()
        xm.wait_device_ops()
        return y

    for _ in range(20):
        step()
    mark(out, "warm", {"pid": os.getpid(), "torch": torch.__version__, "device": str(dev)})
    steps = int(os.environ.get("NEURON_STEPS", "2000"))
    for phase in ("base1", "traced", "base2"):
        wait_for(out, "go-" + phase)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        mark(out, phase, {"steps": steps, "median_ms": statistics.median(times) * 1e3,
                          "mean_ms": statistics.fmean(times) * 1e3})
    wait_for(out, "go-exit")


def leak(out, seconds):
    """Keeps every 32 MiB device tensor it makes: device memory grows without end."""
    import torch

    xm, dev = device()
    kept = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        kept.append(torch.ones(32 << 20, dtype=torch.uint8).to(dev))
        xm.mark_step()
        xm.wait_device_ops()
        time.sleep(0.5)
    mark(out, "leak", {"pid": os.getpid(), "blocks": len(kept), "bytes_kept": len(kept) * (32 << 20)})
    wait_for(out, "go-leak-exit")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"work": lambda: work(args[0]), "leak": lambda: leak(args[0], float(args[1]))}[cmd]()
