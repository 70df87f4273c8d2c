"""Helpers of hack/gpu-check.sh: the PyTorch workloads it runs, and reading
orb8's /metrics. Standard library only, plus torch for the workloads.

  gpu_check.py work OUT     matmul/small-op step timing in phases the script triggers
  gpu_check.py leak OUT SECS allocates 32 MiB every 0.5 s and keeps it (a leak)
  gpu_check.py fetch URL [FILE]       GET URL (to FILE); exit 1 if it fails
  gpu_check.py query FILE NAME [k=v ...]  sum of the matching series, or NA
"""
import json
import os
import statistics
import sys
import time
import urllib.request


def mark(out, name, data):
    """Writes OUT/name.json atomically: the script polls for it."""
    tmp = os.path.join(out, name + ".json.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.rename(tmp, os.path.join(out, name + ".json"))


def wait_for(out, name, timeout=600):
    path = os.path.join(out, name)
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            sys.exit("gave up waiting for " + path)
        time.sleep(0.05)


def work(out):
    """Times two kinds of training-like steps in phases the script triggers:
    base1 (no agent), traced (agent running), base2 (agent stopped)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    a = torch.randn(4096, 4096, device=dev)
    b = torch.randn(4096, 4096, device=dev)
    small = torch.randn(256, 256, device=dev)
    host = torch.randn(256, 1024)  # 1 MiB of float32
    copy_bytes = host.numel() * host.element_size()

    def matmul_step():
        # GPU-bound: 8 large matmuls, elementwise work, a 1 MiB copy each way,
        # and a temporary allocation (served by the caching allocator).
        x = a
        for _ in range(8):
            x = torch.relu(x @ b) * 1e-3
        tmp = torch.empty(64 << 20, dtype=torch.uint8, device=dev)
        tmp.fill_(1)
        h2d = host.to(dev)
        d2h = h2d.to("cpu")
        return x, d2h

    def small_step():
        # Launch-bound: 50 tiny kernels, the worst case for a per-launch probe.
        y = small
        for _ in range(25):
            y = torch.sigmoid(y) + 0.5
        return y

    def timed(step, n):
        times = []
        for _ in range(n):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        return times

    for _ in range(20):  # warm up: cuBLAS handles, allocator segments, clocks
        matmul_step()
        small_step()
    torch.cuda.synchronize()
    mark(out, "warm", {"pid": os.getpid(), "torch": torch.__version__, "cuda": torch.version.cuda,
                       "device": torch.cuda.get_device_name(0)})
    matmul_n, small_n = int(os.environ.get("MATMUL_STEPS", "150")), int(os.environ.get("SMALL_STEPS", "400"))
    for phase in ("base1", "traced", "base2"):
        wait_for(out, "go-" + phase)
        # Two rounds, interleaved, so drift hits both kinds alike.
        mm = timed(matmul_step, matmul_n // 2)
        sm = timed(small_step, small_n // 2)
        mm += timed(matmul_step, matmul_n - matmul_n // 2)
        sm += timed(small_step, small_n - small_n // 2)
        mark(out, phase, {
            "matmul_step_ms": statistics.median(mm) * 1e3,
            "small_step_ms": statistics.median(sm) * 1e3,
            "matmul_steps": len(mm), "small_steps": len(sm),
            # Launches this phase made at the least: 8 matmuls + 16 elementwise
            # + 1 fill per matmul step; 50 per small step.
            "min_launches": len(mm) * 25 + len(sm) * 50,
            "h2d_bytes": len(mm) * copy_bytes, "d2h_bytes": len(mm) * copy_bytes,
            # 8 GEMMs of 4096^3 per matmul step, 2mnk FLOPs each.
            "matmuls": len(mm) * 8, "matmul_flops": len(mm) * 8 * 2 * 4096 ** 3,
            "memory_reserved": torch.cuda.memory_reserved(),
            "memory_allocated": torch.cuda.memory_allocated(),
        })
    wait_for(out, "go-exit")


def leak(out, seconds):
    """Keeps every 32 MiB block it allocates: device memory grows without end."""
    import torch

    dev = torch.device("cuda")
    kept = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        kept.append(torch.ones(32 << 20, dtype=torch.uint8, device=dev))
        torch.cuda.synchronize()
        time.sleep(0.5)
    mark(out, "leak", {"pid": os.getpid(), "blocks": len(kept), "bytes_kept": len(kept) * (32 << 20),
                       "memory_reserved": torch.cuda.memory_reserved(),
                       "memory_allocated": torch.cuda.memory_allocated()})
    wait_for(out, "go-leak-exit")


def fetch(url, path=None):
    try:
        body = urllib.request.urlopen(url, timeout=10).read()
    except Exception as e:  # noqa: BLE001 - any failure means "not there yet"
        print(e, file=sys.stderr)
        sys.exit(1)
    if path:
        with open(path, "wb") as f:
            f.write(body)
    else:
        sys.stdout.write(body.decode())


def parse_labels(s):
    labels, i = {}, 0
    while i < len(s):
        eq = s.index("=", i)
        key = s[i:eq].strip().lstrip(",").strip()
        j, val = eq + 2, []
        while s[j] != '"':
            if s[j] == "\\":
                j += 1
            val.append(s[j])
            j += 1
        labels[key] = "".join(val)
        i = j + 1
    return labels


def query(path, name, *matchers):
    want = dict(m.split("=", 1) for m in matchers)
    total, found = 0.0, False
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            head, _, value = line.rstrip("\n").rpartition(" ")
            metric, _, rest = head.partition("{")
            if metric != name:
                continue
            labels = parse_labels(rest.rstrip("}")) if rest else {}
            if all(labels.get(k) == v for k, v in want.items()):
                total += float(value)
                found = True
    print(repr(total) if found else "NA")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"work": lambda: work(*args), "leak": lambda: leak(args[0], float(args[1])),
     "fetch": lambda: fetch(*args), "query": lambda: query(*args)}[cmd]()
