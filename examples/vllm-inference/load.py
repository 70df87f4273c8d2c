"""Sends generate requests to serve.py from several clients at once and
prints the request rate and latency percentiles.

  python3 load.py --url http://localhost:8000 --clients 16 --seconds 60
"""
import argparse
import json
import random
import statistics
import threading
import time
import urllib.request


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://localhost:8000")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=60)
    args = p.parse_args()
    latencies, lock = [], threading.Lock()
    deadline = time.time() + args.seconds

    def client():
        rng = random.Random()
        while time.time() < deadline:
            body = json.dumps({"prompt_tokens": rng.randint(16, 512), "max_tokens": rng.randint(16, 128)}).encode()
            start = time.perf_counter()
            with urllib.request.urlopen(args.url + "/generate", body, timeout=120) as r:
                r.read()
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q = statistics.quantiles(latencies, n=100)
    print(f"{len(latencies) / args.seconds:.1f} requests/s, p50 {q[49]:.3f} s, p99 {q[98]:.3f} s")


if __name__ == "__main__":
    main()
