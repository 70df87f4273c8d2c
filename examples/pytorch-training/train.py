"""A small transformer language model trained on random tokens: a stand-in
for a real training job that needs no data set and no downloaded weights.

It exercises what orb8's CUDA and NVML probes see in real training: cuBLAS
GEMMs in every layer, a host-to-device copy of each batch, the caching
allocator's few large allocations, and (with --leak-mb) device memory that
grows without bound, as a tensor list kept across steps does.

  python3 train.py --steps 2000 --batch 16 --seq 512
  python3 train.py --leak-mb 64      # also keeps 64 MiB more every 10 steps
"""
import argparse
import time

import torch
from torch import nn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--leak-mb", type=int, default=0, help="keep this many MiB more every 10 steps")
    p.add_argument("--log-every", type=int, default=50)
    args = p.parse_args()

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(args.dim, args.heads, 4 * args.dim, batch_first=True, norm_first=True)
    model = nn.Sequential(
        nn.Embedding(args.vocab, args.dim),
        nn.TransformerEncoder(layer, args.layers, enable_nested_tensor=False),
        nn.Linear(args.dim, args.vocab),
    ).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
    loss_fn = nn.CrossEntropyLoss()
    mask = nn.Transformer.generate_square_subsequent_mask(args.seq, device=dev)
    kept = []  # what --leak-mb leaks

    print(f"device {dev}, parameters {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M", flush=True)
    last = time.perf_counter()
    for step in range(1, args.steps + 1):
        # A batch arrives from the host, as from a data loader.
        tokens = torch.randint(0, args.vocab, (args.batch, args.seq + 1)).pin_memory() if dev.type == "cuda" else \
            torch.randint(0, args.vocab, (args.batch, args.seq + 1))
        tokens = tokens.to(dev, non_blocking=True)
        x, y = tokens[:, :-1], tokens[:, 1:]
        logits = model[2](model[1](model[0](x), mask=mask, is_causal=True))
        loss = loss_fn(logits.reshape(-1, args.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if args.leak_mb and step % 10 == 0:
            kept.append(torch.empty(args.leak_mb << 20, dtype=torch.uint8, device=dev).fill_(1))
        if step % args.log_every == 0:
            if dev.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            print(f"step {step} loss {loss.item():.3f} {1000 * (now - last) / args.log_every:.1f} ms/step", flush=True)
            last = now


if __name__ == "__main__":
    main()
