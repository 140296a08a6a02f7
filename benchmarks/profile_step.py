"""Where one training step of the CPU demo network spends its time (torch.profiler).

Run ``python benchmarks/profile_step.py``; results in benchmarks/RESULTS.md.
"""

import time

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

from sk_spotting.nn import build_network
from sk_spotting.training import (
    ChunkSampler,
    ConfidenceCriterion,
    perturb_weights,
    restore_weights,
)

torch.set_num_threads(1)
rng = np.random.default_rng(0)
videos = [rng.standard_normal((5400, 128), dtype=np.float32) for _ in range(4)]
targets = [(rng.random((5400, 17)) > 0.99).astype(np.float32) for _ in videos]
sampler = ChunkSampler(
    videos,
    targets,
    [np.ones_like(t) for t in targets],
    chunk_frames=64,
    batch_size=16,
    chunks_per_epoch=16,
)
module = build_network("unet", n_features=128, n_classes=17, n_frames=64, n_levels=3)
opt = torch.optim.AdamW(module.parameters(), lr=1e-3, foreach=True)
crit = ConfidenceCriterion()


def step(sam):
    x, t, w = sampler.sample()
    opt.zero_grad(set_to_none=True)
    crit(module(x), t, w).backward()
    if sam:
        params = list(module.parameters())
        e = perturb_weights(params, 0.5)
        opt.zero_grad(set_to_none=True)
        crit(module(x), t, w).backward()
        restore_weights(params, e)
    opt.step()


for _ in range(5):
    step(True)
for sam in (False, True):
    t0 = time.perf_counter()
    [step(sam) for _ in range(50)]
    print("sam", sam, "ms/step", round((time.perf_counter() - t0) / 50 * 1000, 2))
t0 = time.perf_counter()
[sampler.sample() for _ in range(200)]
print("sampling ms/batch", round((time.perf_counter() - t0) / 200 * 1000, 3))
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(20):
        step(True)
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
