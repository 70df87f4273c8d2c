"""A vLLM-style inference server with random weights: a stand-in for a real
LLM server that needs no downloaded model.

What it shares with vLLM, and what orb8 sees of it: the KV cache is one
large block pool allocated at start (device memory reserved once, as vLLM's
gpu_memory_utilization does), requests are batched continuously (new
requests join the running batch between decode steps), and each decode step
is a handful of GEMMs and many small kernels, a launch-heavy load.

  python3 serve.py --port 8000
  curl -s localhost:8000/generate -d '{"prompt_tokens": 128, "max_tokens": 64}'
"""
import argparse
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from torch import nn


class Model(nn.Module):
    """A decoder-only transformer with a paged KV cache."""

    def __init__(self, vocab, dim, layers, heads, blocks, block_size, dev):
        super().__init__()
        self.heads, self.head_dim, self.block_size = heads, dim // heads, block_size
        self.embed = nn.Embedding(vocab, dim)
        self.qkv = nn.ModuleList(nn.Linear(dim, 3 * dim) for _ in range(layers))
        self.out = nn.ModuleList(nn.Linear(dim, dim) for _ in range(layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)) for _ in range(layers))
        self.head = nn.Linear(dim, vocab)
        # The KV cache: [layer, k/v, block, position in block, heads, head_dim], reserved once.
        self.cache = torch.zeros(layers, 2, blocks, block_size, heads, self.head_dim, dtype=torch.float16, device=dev)
        self.to(dev).half()

    @torch.no_grad()
    def step(self, tokens, positions, block_tables):
        """One decode step for a batch: one token per sequence."""
        x = self.embed(tokens)
        b = tokens.shape[0]
        blk = block_tables[torch.arange(b), positions // self.block_size]
        off = positions % self.block_size
        for i in range(len(self.qkv)):
            q, k, v = self.qkv[i](x).view(b, 3, self.heads, self.head_dim).unbind(1)
            self.cache[i, 0, blk, off] = k
            self.cache[i, 1, blk, off] = v
            # Attention over each sequence's cached positions (gathered block by block).
            longest = int(positions.max()) + 1
            idx = torch.arange(longest, device=x.device)
            keys = self.cache[i, 0][block_tables[:, idx // self.block_size], idx % self.block_size]
            vals = self.cache[i, 1][block_tables[:, idx // self.block_size], idx % self.block_size]
            scores = torch.einsum("bhd,bthd->bht", q, keys) / self.head_dim ** 0.5
            scores = scores.masked_fill(idx[None, None, :] > positions[:, None, None], float("-inf"))
            att = torch.einsum("bht,bthd->bhd", scores.softmax(-1), vals).reshape(b, -1)
            x = x + self.out[i](att)
            x = x + self.mlp[i](x)
        return self.head(x).argmax(-1)


class Engine:
    """Continuous batching: requests join the running batch between steps."""

    def __init__(self, model, max_batch, blocks, max_len):
        self.model, self.max_batch = model, max_batch
        self.blocks_per_seq = max_len // model.block_size
        self.free = list(range(blocks))
        self.waiting = queue.Queue()
        self.running = []

    def submit(self, prompt_tokens, max_tokens):
        done = threading.Event()
        req = {"len": prompt_tokens, "left": max_tokens, "out": [], "done": done}
        self.waiting.put(req)
        done.wait()
        return req["out"]

    def loop(self):
        dev = self.model.cache.device
        while True:
            while len(self.running) < self.max_batch and len(self.free) >= self.blocks_per_seq:
                try:
                    req = self.waiting.get(timeout=0 if self.running else 0.1)
                except queue.Empty:
                    break
                req["blocks"] = [self.free.pop() for _ in range(self.blocks_per_seq)]
                self.running.append(req)
            if not self.running:
                continue
            tokens = torch.tensor([r["out"][-1] if r["out"] else 1 for r in self.running], device=dev)
            positions = torch.tensor([r["len"] + len(r["out"]) for r in self.running], device=dev)
            tables = torch.tensor([r["blocks"] for r in self.running], device=dev)
            nxt = self.model.step(tokens, positions, tables).tolist()
            for r, t in zip(self.running, nxt):
                r["out"].append(t)
                r["left"] -= 1
            for r in [r for r in self.running if r["left"] <= 0]:
                self.running.remove(r)
                self.free.extend(r["blocks"])
                r["done"].set()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--layers", type=int, default=16)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--max-batch", type=int, default=32)
    p.add_argument("--max-len", type=int, default=2048)
    p.add_argument("--kv-blocks", type=int, default=2048, help="KV cache blocks of 16 positions, reserved at start")
    args = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = Model(args.vocab, args.dim, args.layers, args.heads, args.kv_blocks, 16, dev)
    engine = Engine(model, args.max_batch, args.kv_blocks, args.max_len)
    threading.Thread(target=engine.loop, daemon=True).start()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != "/generate":
                self.send_error(404)
                return
            try:
                req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                prompt, max_tokens = int(req.get("prompt_tokens", 16)), int(req.get("max_tokens", 16))
                if not 0 < prompt + max_tokens <= args.max_len:
                    raise ValueError(f"prompt_tokens + max_tokens must be in 1..{args.max_len}")
            except (ValueError, TypeError) as e:
                self.send_error(400, str(e))
                return
            start = time.perf_counter()
            out = engine.submit(prompt, max_tokens)
            body = json.dumps({"tokens": out, "seconds": round(time.perf_counter() - start, 4)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self.send_response(200)
                self.end_headers()
            else:
                self.send_error(404)

    print(f"serving on :{args.port} ({dev}), KV cache {model.cache.numel() * 2 / 2**30:.1f} GiB", flush=True)
    ThreadingHTTPServer(("", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
