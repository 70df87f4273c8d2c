"""Helpers of hack/gpu-check.sh: the PyTorch workloads it runs, and reading
orb8's /metrics. Standard library only, plus torch for the workloads.

  gpu_check.py count OUT     launches per step of each kind (torch.profiler), to OUT/launches.json
  gpu_check.py work OUT      matmul, small-op and decode step timing in phases the script triggers
  gpu_check.py leak OUT SECS allocates 32 MiB every 0.5 s and keeps it (a leak)
  gpu_check.py fetch URL [FILE]       GET URL (to FILE); exit 1 if it fails
  gpu_check.py query FILE NAME [k=v ...]  sum of the matching series, or NA
  gpu_check.py blocks OUT PHASE CGROUP    a phase's launches, counted and made, by block (markdown)

GPU_CHECK_DEVICE=cpu runs the workloads on the CPU: a dry run of this code,
nothing measured.
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


class Decoder:
    """A small decoder-only transformer with random weights, generating one
    token at a time in eager mode, batch 1: the launch-bound way LLMs run
    outside CUDA graphs. The KV cache is a pair of plain tensors."""

    def __init__(self, torch, dev, dtype, layers=6, d=512, heads=8, vocab=32000, ffn=2048, max_len=64):
        self.torch, self.F = torch, torch.nn.functional
        self.d, self.heads, self.hd, self.max_len = d, heads, d // heads, max_len
        gen = torch.Generator().manual_seed(0)

        def w(*shape):
            return (torch.randn(*shape, generator=gen) * shape[-1] ** -0.5).to(dev, dtype)

        def norm():
            return torch.ones(d, device=dev, dtype=dtype), torch.zeros(d, device=dev, dtype=dtype)

        self.emb, self.pos = w(vocab, d), w(max_len, d)
        self.layers = [{"ln1": norm(), "qkv": w(3 * d, d), "proj": w(d, d), "ln2": norm(),
                        "fc1": w(ffn, d), "fc2": w(d, ffn)} for _ in range(layers)]
        self.ln = norm()
        self.k = torch.zeros(layers, heads, max_len, self.hd, device=dev, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.start = torch.zeros(1, dtype=torch.long, device=dev)

    def step(self, tok, pos):
        """Feeds token tok (a 1-element tensor) at position pos; returns the
        next one (greedy)."""
        F, d, n = self.F, self.d, pos + 1
        x = self.emb[tok] + self.pos[pos]
        for i, L in enumerate(self.layers):
            h = F.layer_norm(x, (d,), *L["ln1"])
            q, k, v = F.linear(h, L["qkv"]).view(3, self.heads, 1, self.hd).unbind(0)
            self.k[i, :, pos:n].copy_(k)
            self.v[i, :, pos:n].copy_(v)
            scores = (q @ self.k[i, :, :n].transpose(1, 2)) * self.hd ** -0.5
            y = self.torch.softmax(scores, dim=-1) @ self.v[i, :, :n]
            x = x + F.linear(y.reshape(1, d), L["proj"])
            h = F.layer_norm(x, (d,), *L["ln2"])
            x = x + F.linear(F.gelu(F.linear(h, L["fc1"])), L["fc2"])
        return F.linear(F.layer_norm(x, (d,), *self.ln), self.emb).argmax(-1)

    def generate(self, sync=None, times=None):
        """One sequence of max_len tokens from position 0; with times, the
        time of each token (synchronized) is appended to it."""
        tok = self.start
        for pos in range(self.max_len):
            if times is not None:
                sync()
                t0 = time.perf_counter()
            tok = self.step(tok, pos)
            if times is not None:
                sync()
                times.append(time.perf_counter() - t0)
        return tok


class Workload:
    """The steps the check times, built alike in every process that runs
    them (fixed seeds and shapes: the same kernels)."""

    def __init__(self, torch):
        torch.manual_seed(0)
        self.torch = torch
        self.dev = dev = torch.device(os.environ.get("GPU_CHECK_DEVICE", "cuda"))
        self.cuda = dev.type == "cuda"
        self.sync = torch.cuda.synchronize if self.cuda else (lambda: None)
        torch.backends.cuda.matmul.allow_tf32 = False
        self.n = n = int(os.environ.get("MATMUL_SIZE", "4096"))
        self.a = torch.randn(n, n, device=dev)
        self.b = torch.randn(n, n, device=dev)
        self.small = torch.randn(256, 256, device=dev)
        self.host = torch.randn(256, 1024)  # 1 MiB of float32
        self.copy_bytes = self.host.numel() * self.host.element_size()
        self.decoder = Decoder(torch, dev, torch.float16 if self.cuda else torch.float32)
        self.steps = {"matmul": self.matmul_step, "small": self.small_step, "decode": self.decoder.generate}

    def matmul_step(self):
        # GPU-bound: 8 large matmuls, elementwise work, a 1 MiB copy each way,
        # and a temporary allocation (served by the caching allocator).
        torch, x = self.torch, self.a
        for _ in range(8):
            x = torch.relu(x @ self.b) * 1e-3
        tmp = torch.empty(64 << 20, dtype=torch.uint8, device=self.dev)
        tmp.fill_(1)
        h2d = self.host.to(self.dev)
        d2h = h2d.to("cpu")
        return x, d2h

    def small_step(self):
        # Launch-bound: 50 tiny kernels, the worst case for a per-launch probe.
        y = self.small
        for _ in range(25):
            y = self.torch.sigmoid(y) + 0.5
        return y

    def warm_up(self):
        for _ in range(20):  # cuBLAS handles, allocator segments, clocks
            for step in self.steps.values():
                step()
        self.sync()

    def run(self, kind, n, times):
        """Runs n steps of a kind (decode: n sequences), appending the time
        of each step (decode: of each token) to times."""
        if kind == "decode":
            for _ in range(n):
                self.decoder.generate(self.sync, times)
            return
        step = self.steps[kind]
        for _ in range(n):
            self.sync()
            t0 = time.perf_counter()
            step()
            self.sync()
            times.append(time.perf_counter() - t0)


def profile_step(torch, out, name, fn):
    """Runs fn once under torch.profiler. Returns the GPU kernels that ran
    (each is one launch, whichever API launched it), the CUDA API calls by
    name, and the GEMM ops (aten mm/addmm/bmm); kernels None if the profiler
    cannot say."""
    try:
        from torch.profiler import ProfilerActivity, profile

        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fn()
            torch.cuda.synchronize()
        path = os.path.join(out, "profile-" + name + ".json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)
        events = events["traceEvents"] if isinstance(events, dict) else events
        os.remove(path)  # megabytes; the counts are what matters
    except Exception as e:  # noqa: BLE001 - any failure: launches unknown
        print("profiling", name, "failed:", e, file=sys.stderr)
        return None, {}, None
    kernels, calls, gemms = 0, {}, 0
    for e in events:
        cat, name = str(e.get("cat", "")).lower(), e.get("name", "")
        if cat == "kernel":
            kernels += 1
        elif cat in ("cuda_runtime", "cuda_driver"):
            calls[name] = calls.get(name, 0) + 1
        elif cat == "cpu_op" and name in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"):
            gemms += 1
    return kernels, calls, gemms


# Launches per step (decode: per sequence) as the code reads, where the
# profiler cannot count them: the decode count is then unknown.
STATIC_LAUNCHES = {"per_step": {"matmul": 25, "small": 50, "decode": 0},  # 8 GEMM + 16 elementwise + 1 fill
                   "exact": {"matmul": True, "small": True, "decode": False}}


def count(out):
    """Counts the launches each kind of step makes, with torch.profiler, in a
    process of its own (CUPTI, once on, may stay in a process's launch path
    and would slow its timed steps). Writes OUT/launches.json. A decode
    sequence is profiled twice: its count is exact only if both agree."""
    import torch

    w = Workload(torch)
    w.warm_up()
    per_step, exact = dict(STATIC_LAUNCHES["per_step"]), dict(STATIC_LAUNCHES["exact"])
    calls, gemms = {}, {}
    for kind, step in w.steps.items():
        n, calls[kind], gemms[kind] = profile_step(torch, out, kind, step)
        if kind == "decode" and n is not None:
            again = profile_step(torch, out, kind + "-again", step)[0]
            exact[kind] = n == again
            n = min(n, again if again is not None else n)
        if n is not None:
            per_step[kind] = n
    mark(out, "launches", {"per_step": per_step, "exact": exact, "cuda_calls": calls, "gemm_ops": gemms,
                           "decode_tokens_per_sequence": w.decoder.max_len})


# The blocks of each phase, in order. Launch-bound blocks last seconds, so
# that each spans several sampling windows and the gaps between them; the
# order is mirrored, so that a linear drift hits every kind alike.
PHASE_BLOCKS = {
    "base1": ("matmul", "small", "decode", "decode", "small", "matmul"),
    "traced": ("matmul", "small", "decode", "decode", "small", "matmul"),
    "base2": ("matmul", "small", "decode", "decode", "small", "matmul"),
    "exact": ("small", "decode", "decode", "small"),
}


def scrape(url, path):
    try:
        with open(path, "wb") as f:
            f.write(get(url))
    except Exception as e:  # noqa: BLE001 - the script reports the count as NA
        print("scrape", url, "failed:", e, file=sys.stderr)


def work(out):
    """Times three kinds of steps in phases the script triggers: base1 (no
    agent), traced (the default agent), base2 (agent stopped), exact (an agent
    with --cuda-exact). In a phase whose go- file holds a metrics URL, it
    scrapes it before and after each block: the counts match the blocks."""
    import torch

    w = Workload(torch)
    w.warm_up()
    try:
        with open(os.path.join(out, "launches.json")) as f:
            made = json.load(f)
    except OSError:
        made = STATIC_LAUNCHES
    mark(out, "warm", {"pid": os.getpid(), "torch": torch.__version__, "cuda": torch.version.cuda,
                       "hip": getattr(torch.version, "hip", None),
                       "device": torch.cuda.get_device_name(0) if w.cuda else str(w.dev)})
    tokens = w.decoder.max_len
    steps = {"matmul": int(os.environ.get("MATMUL_STEPS", "150")),
             "small": int(os.environ.get("SMALL_STEPS", "20000")),
             "decode": int(os.environ.get("DECODE_TOKENS", "8192")) // tokens}  # sequences
    for phase, kinds in PHASE_BLOCKS.items():
        wait_for(out, "go-" + phase)
        with open(os.path.join(out, "go-" + phase)) as f:
            url = f.read().strip()
        times = {k: [] for k in steps}
        blocks = []
        if url:
            scrape(url, os.path.join(out, "metrics-%s-0.txt" % phase))
        for i, kind in enumerate(kinds, 1):
            n = steps[kind] // kinds.count(kind)
            t0 = time.perf_counter()
            w.run(kind, n, times[kind])
            blocks.append({"kind": kind, "seconds": time.perf_counter() - t0,
                           "steps": n * tokens if kind == "decode" else n,
                           "launches": n * made["per_step"][kind], "launches_exact": made["exact"][kind]})
            if url:
                scrape(url, os.path.join(out, "metrics-%s-%d.txt" % (phase, i)))
        mm = len(times["matmul"])
        result = {"blocks": blocks,
                  # The launches the phase made: exact, or a lower bound
                  # where a block's count is not known exactly.
                  "launches": sum(b["launches"] for b in blocks),
                  "launches_exact": all(b["launches_exact"] for b in blocks),
                  "h2d_bytes": mm * w.copy_bytes, "d2h_bytes": mm * w.copy_bytes,
                  # 8 GEMMs of n^3 per matmul step, 2mnk FLOPs each.
                  "matmuls": mm * 8, "matmul_flops": mm * 8 * 2 * w.n ** 3,
                  "memory_reserved": torch.cuda.memory_reserved() if w.cuda else 0,
                  "memory_allocated": torch.cuda.memory_allocated() if w.cuda else 0}
        for kind, ts in times.items():
            if ts:
                # The median hides what sampled windows cost (most steps run
                # between them); the mean, total time over steps, does not.
                result[kind + "_median_ms"] = statistics.median(ts) * 1e3
                result[kind + "_mean_ms"] = statistics.fmean(ts) * 1e3
                result[kind + "_steps"] = len(ts)
        mark(out, phase, result)
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


def get(url):
    return urllib.request.urlopen(url, timeout=10).read()


def fetch(url, path=None):
    try:
        body = get(url)
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


def series_sum(path, name, want):
    """The sum of the series of a metric whose labels match want, or None."""
    total, found = 0.0, False
    try:
        f = open(path)
    except OSError:
        return None
    with f:
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
    return total if found else None


def query(path, name, *matchers):
    total = series_sum(path, name, dict(m.split("=", 1) for m in matchers))
    print("NA" if total is None else repr(total))


def blocks(out, phase, cgroup):
    """Prints a phase's blocks as markdown rows: launches made and counted,
    and the sampler's state at the block's end."""
    with open(os.path.join(out, phase + ".json")) as f:
        result = json.load(f)
    metrics = [os.path.join(out, "metrics-%s-%d.txt" % (phase, i)) for i in range(len(result["blocks"]) + 1)]
    launched = [series_sum(m, "orb8_accelerator_kernel_launches_total", {"cgroup": cgroup}) for m in metrics]

    def fmt(v, spec):
        return "NA" if v is None else format(v, spec)

    for i, b in enumerate(result["blocks"]):
        before, after = launched[i], launched[i + 1]
        counted = None if after is None else after - (before or 0)
        made = b["launches"]
        ratio = None if counted is None or not made else counted / made
        at_end = metrics[i + 1]
        print("| %s | %d | %.1f s | %s%s | %s | %s | %s | %s |" % (
            b["kind"], b["steps"], b["seconds"], format(made, ","), "" if b["launches_exact"] else " (at least)",
            fmt(counted, ",.0f"), "NA" if ratio is None else format((ratio - 1) * 100, "+.1f") + "%",
            fmt(series_sum(at_end, "orb8_accelerator_sampling_ratio", {"runtime": "cuda", "call": "launch"}), ".3f"),
            fmt(series_sum(at_end, "orb8_accelerator_sampled_processes", {"runtime": "cuda"}), ".0f")))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"count": lambda: count(*args), "work": lambda: work(*args), "leak": lambda: leak(args[0], float(args[1])),
     "fetch": lambda: fetch(*args), "query": lambda: query(*args), "blocks": lambda: blocks(*args)}[cmd]()
