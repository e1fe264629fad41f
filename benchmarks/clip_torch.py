#!/usr/bin/python3
"""PyTorch (CPU) side of benchmarks/ground.lua: CLIP's vision tower to hidden_states[-2] on the
same safetensors file, timed; prints one JSON line. The tower is tests/fixtures/reference.py's
transcription of transformers' CLIPVisionModel (Debian has no transformers).
    /usr/bin/python3 benchmarks/clip_torch.py CLIP_DIR THREADS [f32|bf16]
bf16 runs the tower as GroundingGPT does: weights and activations in bfloat16."""
import json
import os
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
from reference import clip_hidden_states  # noqa: E402

clip_dir, threads = sys.argv[1], int(sys.argv[2])
dtype = torch.bfloat16 if len(sys.argv) > 3 and sys.argv[3] == "bf16" else torch.float32
torch.set_num_threads(threads)
cfg = json.load(open(os.path.join(clip_dir, "config.json")))
path = os.path.join(clip_dir, "model.safetensors")
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
w = {k: torch.from_numpy(np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], np.float32).reshape(v["shape"]).copy())
     for k, v in header.items() if k != "__metadata__"}
w = {k: v.to(dtype) for k, v in w.items()}
pixels = torch.randn(3, 336, 336).to(dtype)
with torch.no_grad():
    clip_hidden_states(w, pixels, dict(cfg, num_hidden_layers=1))  # warm-up
    t0 = time.perf_counter()
    clip_hidden_states(w, pixels, dict(cfg, num_hidden_layers=cfg["num_hidden_layers"] - 1))  # up to hidden_states[-2]
    print(json.dumps({"encode_s": time.perf_counter() - t0}))
