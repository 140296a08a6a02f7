"""Where one training step spends its time (torch.profiler).

Times a SAM training step and a plain one on batches drawn by the
:class:`~sk_spotting.training.ChunkSampler` (gathered from the arrays on the
CPU, from its device copy on a GPU), then profiles 20
SAM steps and sums the self time of the operators (CPU) or kernels (CUDA) by
kind: convolutions, matrix products, normalisation and activations, the
optimizer, sampling, the rest.  On a GPU it also reports how much of a step's
wall time the kernels fill (the rest is launch and host overhead).

Usage::

    python benchmarks/profile_step.py                       # CPU demo u-net
    python benchmarks/profile_step.py --device cuda --paper # paper u-net, batch 256
    python benchmarks/profile_step.py --compile             # torch.compile's effect

Results in benchmarks/RESULTS.md.
"""

import argparse
import time

import torch
from bench_throughput import (  # this folder, on sys.path as a script
    bare_step,
    random_sampler,
)
from torch.profiler import ProfilerActivity, profile

from sk_spotting.nn import build_network
from sk_spotting.training import ConfidenceCriterion

KINDS = {
    # kind: substrings of operator / kernel names (lower case), first match wins;
    # on the CPU the foreach optimizer runs as per-tensor sqrt/lerp/addc* ops
    "optimizer and SAM perturbation": (
        "adam",
        "_foreach",
        "multi_tensor",
        "sqrt",
        "lerp",
        "addcdiv",
        "addcmul",
        "vector_norm",
        "normtwo",
    ),
    "sampling (gather, targets)": ("index", "gather", "randint", "multinomial"),
    "normalisation": ("batch_norm", "batchnorm", "bn_fw", "bn_bw", "layer_norm"),
    "convolution": ("conv", "cudnn", "implicit_gemm", "wgrad", "dgrad", "fprop"),
    "matrix products (MLP, attention)": ("gemm", "matmul", "addmm", "mm", "linear"),
    "activation": ("relu", "gelu", "threshold", "sigmoid"),
    "loss": ("binary_cross_entropy", "bce", "log_sigmoid", "softplus"),
}


def _kind(name):
    lowered = name.lower()
    for kind, keys in KINDS.items():
        if any(key in lowered for key in keys):
            return kind
    return "other (elementwise, copies, reductions)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--paper",
        action="store_true",
        help="the paper's u-net: 512 features, 224 frames, batch 256 (bf16 on GPU)",
    )
    parser.add_argument("--threads", type=int, default=1, help="CPU threads")
    parser.add_argument("--steps", type=int, default=20, help="profiled SAM steps")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the forward + loss"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    if not gpu:
        torch.set_num_threads(args.threads)
    if args.paper:
        n_features, n_frames, batch, levels = 512, 224, 256 if gpu else 16, None
    else:
        n_features, n_frames, batch, levels = 128, 64, 16, 3
    autocast = torch.bfloat16 if gpu else None
    sampler = random_sampler(
        n_features,
        n_frames,
        batch,
        1,
        device,
        positive_rate=0.01,
        feature_dtype=autocast or torch.float32,
    )
    module = build_network(
        "unet", n_features=n_features, n_classes=17, n_frames=n_frames, n_levels=levels
    ).to(device)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=1e-3, **({"fused": True} if gpu else {"foreach": True})
    )
    one_step = bare_step(
        module,
        optimizer,
        ConfidenceCriterion(),
        autocast,
        {} if args.compile else None,
    )

    def step(sam):
        one_step(*sampler.sample(), sam)

    def sync():
        if gpu:
            torch.cuda.synchronize(device)

    name = torch.cuda.get_device_name(device) if gpu else "CPU"
    print(
        f"# {name}, torch {torch.__version__}, batch {batch} x {n_frames} frames x "
        f"{n_features} features, autocast {autocast}, "
        f"threads {torch.get_num_threads()}, compile {args.compile}"
    )
    start = time.perf_counter()
    for _ in range(5):
        step(True)
    sync()
    warm_up = time.perf_counter() - start
    print(f"5 warm-up steps (compilation included): {warm_up:.1f} s")
    n_timed = 50 if not (args.paper and not gpu) else 5
    step_ms = {}
    for sam in (False, True):
        sync()
        t0 = time.perf_counter()
        for _ in range(n_timed):
            step(sam)
        sync()
        step_ms[sam] = (time.perf_counter() - t0) / n_timed * 1000
        print(f"step {'with' if sam else 'without'} SAM: {step_ms[sam]:.2f} ms")
    sync()
    t0 = time.perf_counter()
    for _ in range(200):
        sampler.sample()
    sync()
    print(f"sampling one batch: {(time.perf_counter() - t0) / 200 * 1000:.3f} ms")

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    sync()
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step(True)
        sync()
    events = prof.key_averages()
    attribute = "self_device_time_total" if gpu else "self_cpu_time_total"
    totals = {}
    for event in events:
        value = getattr(event, attribute, 0.0) or 0.0
        totals[_kind(event.key)] = totals.get(_kind(event.key), 0.0) + value
    busy = sum(totals.values())
    print(
        f"\n{'device kernel' if gpu else 'CPU operator'} self time by kind "
        f"({args.steps} SAM steps, {busy / 1000 / args.steps:.2f} ms per step):"
    )
    for kind, value in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {kind}: {100 * value / busy:.1f} %")
    if gpu:
        print(
            f"kernels fill {100 * busy / 1000 / args.steps / step_ms[True]:.0f} % of "
            f"the SAM step's wall time (the rest: launches, host work, idle)"
        )
    print()
    print(events.table(sort_by=attribute, row_limit=15))


if __name__ == "__main__":
    main()
