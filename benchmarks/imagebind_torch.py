#!/usr/bin/python3
"""ImageBind-huge's audio encoder in PyTorch at its real shapes (random weights), for
benchmarks/audio.lua: torch's own modules wired as ImageBind wires them (as
tests/fixtures/make_imagebind.py does at a tiny size). Prints the best of three forward passes
over [3, 1, 128, 204] filter banks, in seconds.

    /usr/bin/python3 benchmarks/imagebind_torch.py THREADS
"""
import sys
import time

import torch
from torch import nn

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
C, HEADS, BLOCKS = 768, 12, 12


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(C, HEADS, bias=True, add_bias_kv=True)
        self.norm_1, self.norm_2 = nn.LayerNorm(C, eps=1e-6), nn.LayerNorm(C, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C))

    def forward(self, x):
        h = self.norm_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm_2(x))


stem, stem_ln = nn.Conv2d(1, C, 16, stride=10, bias=False), nn.LayerNorm(C)
cls, pos = torch.randn(1, 1, C) * 0.02, torch.randn(1, 229, C) * 0.02
blocks = nn.ModuleList([Block() for _ in range(BLOCKS)])
head_ln, head = nn.LayerNorm(C, eps=1e-6), nn.Linear(C, 1024, bias=False)


def encode(fbank):
    x = stem_ln(stem(fbank).flatten(2).transpose(1, 2))
    x = (torch.cat((cls.expand(x.shape[0], -1, -1), x), dim=1) + pos).transpose(0, 1)
    for b in blocks:
        x = b(x)
    return 20 * nn.functional.normalize(head(head_ln(x.transpose(0, 1))[:, 0]), dim=-1)


fbank = torch.randn(3, 1, 128, 204)
best = 1e9
with torch.no_grad():
    for _ in range(3):
        t0 = time.perf_counter()
        encode(fbank)
        best = min(best, time.perf_counter() - t0)
print(best)
