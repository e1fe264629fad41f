#!/usr/bin/python3
"""PyTorch on the CPU at the shapes of bench_matmul: F.linear with f32 weights (f32 throughout) and
with bf16 weights (torch then computes in bf16, activations included). CSV on stdout, GFLOP/s,
median of repeated runs after a warm-up. Run with Debian's interpreter: /usr/bin/python3."""
import sys
import time

import torch
import torch.nn.functional as F

quick = "--quick" in sys.argv
threads = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2
torch.set_num_threads(threads)
budget = 0.15 if quick else 0.6


def gflops(fn, flop):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < 64):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return flop / times[len(times) // 2] / 1e9


print("M,N,K,torch_f32,torch_bf16")
with torch.no_grad():
    for s, (n, k) in enumerate(((4096, 4096), (11008, 4096), (4096, 11008))):
        w = torch.randn(n, k) * 0.02
        wb = w.bfloat16()
        for m in (1, 16, 576):
            if quick and m == 576 and s > 0:
                continue
            x = torch.randn(m, k)
            xb = x.bfloat16()
            flop = 2.0 * m * n * k
            print(f"{m},{n},{k},{gflops(lambda: F.linear(x, w), flop):.2f},{gflops(lambda: F.linear(xb, wb), flop):.2f}",
                  flush=True)
