"""Benchmark: training steps per second with and without the prefetch thread.

Trains a SpottingNet on chunks drawn by a host-storage ChunkSampler from
memory-mapped halves (``numpy.load(mmap_mode="r")``), once gathering each
batch when it is asked for (``prefetch=False``) and once gathering the next
batch in a background thread during the step (``prefetch=True``); the
configurations alternate ``--repeat`` times so that other jobs on the machine
weigh on both alike.  Mixup is off, so the prefetched batches are used (with
mixup the training step draws random numbers and the sampler gathers in turn
instead).  Both runs must end with the same weights, which the script checks.

Defaults: the demo's u-net (128 features, 64-frame chunks, 3 levels, batch
16, one torch thread) on 64 halves of 5,400 frames; ``--paper`` takes the
paper's u-net (512 features, 224 frames, batch 16).

Run ``python benchmarks/bench_prefetch.py`` (``--help`` for options);
results in benchmarks/RESULTS.md.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sk_spotting.nn import build_network
from sk_spotting.training import ChunkSampler, ConfidenceCriterion, SpottingNet

N_CLASSES = 17


def memory_maps(folder, n_halves, n_features):
    rng = np.random.default_rng(0)
    maps, masks = [], []
    for i in range(n_halves):
        path = Path(folder) / f"{i}.npy"
        np.save(path, rng.standard_normal((5400, n_features), dtype=np.float32))
        maps.append(np.load(path, mmap_mode="r"))
        masks.append(rng.random((5400, N_CLASSES)) < 0.05)
    return maps, masks


def steps_per_second(videos, masks, args, prefetch):
    torch.manual_seed(0)
    module = build_network(
        "unet",
        n_features=args.features,
        n_classes=N_CLASSES,
        n_frames=args.frames,
        n_levels=args.levels,
    )
    sampler = ChunkSampler(
        videos,
        masks,
        masks,
        class_weights=(np.full(N_CLASSES, 5.0), np.full(N_CLASSES, 0.5)),
        chunk_frames=args.frames,
        batch_size=args.batch,
        chunks_per_epoch=args.batch * args.steps,
        prefetch=prefetch,
    )
    net = SpottingNet(
        module,
        criterion=ConfidenceCriterion(),
        optimizer=torch.optim.AdamW,
        lr=1e-3,
        max_epochs=1,
    ).initialize()
    sampler.n_batches = 3  # warm-up
    net.partial_fit(sampler, epochs=1)
    sampler.n_batches = args.steps
    start = time.perf_counter()
    net.partial_fit(sampler, epochs=1)
    seconds = time.perf_counter() - start
    weights = torch.cat([p.detach().flatten() for p in module.parameters()])
    return args.steps / seconds, weights, sampler


def sampling_ms(sampler, n=100):
    """Milliseconds to draw and gather one batch in the training thread."""
    start = time.perf_counter()
    for _ in range(n):
        sampler.sample()
    return (time.perf_counter() - start) / n * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paper", action="store_true", help="the paper's u-net")
    parser.add_argument("--halves", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    if args.paper:
        args.features, args.frames, args.levels, args.batch = 512, 224, None, 16
    else:
        args.features, args.frames, args.levels, args.batch = 128, 64, 3, 16
    torch.set_num_threads(args.threads)
    print(
        f"# u-net {args.features} features, {args.frames} frames, batch "
        f"{args.batch}, {args.threads} torch thread(s), {args.halves} memory-mapped "
        f"halves, {args.steps} timed steps"
    )
    with tempfile.TemporaryDirectory() as folder:
        videos, masks = memory_maps(folder, args.halves, args.features)
        rates = {False: [], True: []}
        for _ in range(args.repeat):
            weights = {}
            for prefetch in (False, True):
                rate, weights[prefetch], sampler = steps_per_second(
                    videos, masks, args, prefetch
                )
                rates[prefetch].append(rate)
                print(f"prefetch={prefetch}: {rate:.2f} steps/s", flush=True)
            assert torch.equal(weights[False], weights[True]), "different weights"
            print(f"sampling one batch: {sampling_ms(sampler):.2f} ms", flush=True)
        for prefetch, values in rates.items():
            print(
                f"prefetch={prefetch}: median {statistics.median(values):.2f} steps/s "
                f"({', '.join(f'{v:.2f}' for v in values)})"
            )
        print("same weights with and without prefetch: True")


if __name__ == "__main__":
    main()
