"""Training and inference throughput of each trunk, ours against a bare PyTorch loop.

For each network of the paper (u-net on ResNet+PCA features, u-net on the
Combination features, Transformer small and base) this measures, in one run:

* training seconds per 8,192-chunk epoch, with and without SAM, for our
  :class:`~sk_spotting.training.SpottingNet` fed by the device-resident
  :class:`~sk_spotting.training.ChunkSampler` (sampling, targets and weights
  included), and for a bare loop (same module, optimizer and loss; one
  pre-built batch, no sampling, no skorch);
* inference chunks per second of our sliding-window ``predict_dense`` over
  45-minute halves against the bare forward pass of pre-built batches;
* the full pipeline (both networks, displacement, NMS) in seconds per half;
* peak host and device memory.

Epoch times are extrapolated from ``--steps`` timed steps after warm-up (on a
GPU the default is one whole 8,192-chunk epoch).  The ratio bare / ours is the
share of the physical speed that the library keeps.  ``--compile`` compiles
the training forward pass and loss of both loops with ``torch.compile`` (ours
through ``SpottingNet(train_compile=...)``; the compilation happens in the
warm-up and its time is printed); ``--cudnn-benchmark`` lets cuDNN time its
convolution algorithms.

Usage::

    python benchmarks/bench_throughput.py --quick          # CPU, minutes
    python benchmarks/bench_throughput.py --device cuda    # GPU, full batches
    python benchmarks/bench_throughput.py --device cuda --networks unet-resnet-pca \
        --training-only --compile                          # torch.compile's effect
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np
import torch

from sk_spotting import DenseAnchorSpotter
from sk_spotting._inference import predict_dense
from sk_spotting.nn import build_network, count_parameters
from sk_spotting.training import (
    ChunkSampler,
    ConfidenceCriterion,
    SpottingNet,
    perturb_weights,
    restore_weights,
)

CHUNKS_PER_EPOCH = 8192
N_CLASSES = 17
NETWORKS = {
    # name: (trunk, n_features, frame_rate, extra build kwargs)
    "unet-resnet-pca": ("unet", 512, 2.0, {}),
    "unet-combination": ("unet", 8576, 1.0, {}),
    "transformer-small": ("transformer", 512, 2.0, {"transformer_size": "small"}),
    "transformer-base": ("transformer", 512, 2.0, {"transformer_size": "base"}),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _module(name, device):
    trunk, n_features, frame_rate, kwargs = NETWORKS[name]
    n_frames = int(112 * frame_rate)
    module = build_network(
        trunk, n_features=n_features, n_classes=N_CLASSES, n_frames=n_frames, **kwargs
    )
    return module.to(device), n_features, n_frames, frame_rate


def _autocast(device, bf16):
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def _optimizer(module, device):
    fused = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.AdamW(module.parameters(), lr=1e-3, eps=1e-7, **fused)


def bare_step(module, optimizer, criterion, autocast_dtype=None, compile_kwargs=None):
    """A plain PyTorch training step ``step(x, target, weight, sam)``.

    Forward and loss (optionally under bf16 autocast and ``torch.compile``),
    backward, SAM's second pass at rho 0.5 when ``sam``, one optimizer step:
    the physical reference for our :class:`SpottingNet` (also used by
    ``profile_step.py``).
    """
    params = list(module.parameters())
    device_type = next(module.parameters()).device.type

    def loss_of(x, target, weight):
        with torch.autocast(
            device_type, dtype=autocast_dtype, enabled=autocast_dtype is not None
        ):
            out = module(x)
        return criterion(out.float(), target, weight)

    if compile_kwargs is not None:
        loss_of = torch.compile(loss_of, **compile_kwargs)

    def step(x, target, weight, sam):
        optimizer.zero_grad(set_to_none=True)
        loss_of(x, target, weight).backward()
        if sam:
            e = perturb_weights(params, 0.5)
            optimizer.zero_grad(set_to_none=True)
            loss_of(x, target, weight).backward()
            restore_weights(params, e)
        optimizer.step()

    return step


def bare_training(name, device, batch_size, steps, sam, bf16, compile_kwargs=None):
    """Seconds per 8,192-chunk epoch of a plain PyTorch loop (and warm-up seconds)."""
    torch.manual_seed(0)
    module, n_features, n_frames, _ = _module(name, device)
    x = torch.randn(batch_size, n_frames, n_features, device=device)
    target = (torch.rand(batch_size, n_frames, N_CLASSES, device=device) > 0.9).float()
    weight = torch.ones_like(target)
    one_step = bare_step(
        module,
        _optimizer(module, device),
        ConfidenceCriterion(),
        torch.bfloat16 if (bf16 and device.type == "cuda") else None,
        compile_kwargs,
    )

    def step():
        one_step(x, target, weight, sam)

    start = time.perf_counter()
    for _ in range(2):
        step()
    _sync(device)
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    per_step = (time.perf_counter() - start) / steps
    return per_step * CHUNKS_PER_EPOCH / batch_size, warm_up


def random_sampler(
    n_features,
    n_frames,
    batch_size,
    n_batches,
    device,
    positive_rate=0.1,
    feature_dtype=torch.float32,
):
    """A ChunkSampler over four random 45-minute halves (5,400 frames)."""
    rng = np.random.default_rng(0)
    videos = [
        rng.standard_normal((5400, n_features), dtype=np.float32) for _ in range(4)
    ]
    targets = [
        (rng.random((5400, N_CLASSES)) < positive_rate).astype(np.float32)
        for _ in videos
    ]
    return ChunkSampler(
        videos,
        targets,
        [np.ones_like(t) for t in targets],
        chunk_frames=n_frames,
        batch_size=batch_size,
        chunks_per_epoch=batch_size * n_batches,
        device=device,
        feature_dtype=feature_dtype,
    )


def our_training(name, device, batch_size, steps, sam, bf16, compile_kwargs=None):
    """Seconds per 8,192-chunk epoch of SpottingNet with the chunk sampler."""
    torch.manual_seed(0)
    module, n_features, n_frames, _ = _module(name, device)
    sampler = random_sampler(n_features, n_frames, batch_size, steps, device)
    fused = {"optimizer__fused": True} if device.type == "cuda" else {}
    net = SpottingNet(
        module,
        criterion=ConfidenceCriterion(),
        sam_rho=0.5 if sam else 0.0,
        autocast_dtype=torch.bfloat16 if (bf16 and device.type == "cuda") else None,
        train_compile=compile_kwargs,
        optimizer=torch.optim.AdamW,
        optimizer__eps=1e-7,
        lr=1e-3,
        max_epochs=1,
        device=str(device),
        **fused,
    ).initialize()
    sampler.n_batches = 2  # warm-up (and compilation)
    start = time.perf_counter()
    net.partial_fit(sampler, epochs=1)
    _sync(device)
    warm_up = time.perf_counter() - start
    sampler.n_batches = steps
    start = time.perf_counter()
    net.partial_fit(sampler, epochs=1)
    _sync(device)
    per_step = (time.perf_counter() - start) / steps
    return per_step * CHUNKS_PER_EPOCH / batch_size, warm_up


def inference(name, device, batch_size, n_halves, bf16):
    """Chunks per second: bare forward of pre-built batches, and ours."""
    torch.manual_seed(0)
    module, n_features, n_frames, frame_rate = _module(name, device)
    module.eval()
    border = int(np.ceil(50 * frame_rate))
    rng = np.random.default_rng(0)
    n_video_frames = int(45 * 60 * frame_rate)
    videos = [
        rng.standard_normal((n_video_frames, n_features), dtype=np.float32)
        for _ in range(n_halves)
    ]
    autocast = torch.bfloat16 if (bf16 and device.type == "cuda") else None
    predict_dense(  # warm-up with the same batch shapes as the timed run
        module,
        videos,
        chunk_frames=n_frames,
        border=border,
        batch_size=batch_size,
        autocast_dtype=autocast,
    )
    _sync(device)
    start = time.perf_counter()
    predict_dense(
        module,
        videos,
        chunk_frames=n_frames,
        border=border,
        batch_size=batch_size,
        autocast_dtype=autocast,
    )
    _sync(device)
    stride = n_frames - 2 * border
    n_chunks = n_halves * (int(np.ceil((n_video_frames - n_frames) / stride)) + 1)
    ours = n_chunks / (time.perf_counter() - start)

    x = torch.randn(batch_size, n_frames, n_features, device=device)
    with torch.no_grad(), _autocast(device, bf16):
        module(x)
        _sync(device)
        n_batches = max(1, n_chunks // batch_size)
        start = time.perf_counter()
        for _ in range(n_batches):
            module(x).float().sigmoid()
        _sync(device)
    bare = n_batches * batch_size / (time.perf_counter() - start)
    return bare, ours


def pipeline_seconds_per_half(device, bf16):
    """Full predict (both u-nets, displacement, NMS) on one 45-minute half."""
    from sk_spotting.datasets import make_spotting_data

    X, y = make_spotting_data(1, n_features=512, minutes=45.0, random_state=0)
    spotter = DenseAnchorSpotter(
        epochs=1,
        chunks_per_epoch=2,
        batch_size=2,
        device=str(device),
        precision="auto" if bf16 else "float32",
        random_state=0,
    ).fit(X, y)
    spotter.set_params(batch_size=256)
    spotter.predict(X)
    _sync(device)
    start = time.perf_counter()
    spotter.predict(X)
    _sync(device)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--halves", type=int, default=None)
    parser.add_argument(
        "--inference-batch-size",
        type=int,
        default=None,
        help="chunks per inference batch (default: 1,024 on GPU, else the batch size)",
    )
    parser.add_argument(
        "--networks",
        nargs="*",
        choices=list(NETWORKS),
        default=None,
        help="default: all four (--quick: the ResNet+PCA u-net and Transformer small)",
    )
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument(
        "--quick", action="store_true", help="small CPU run: two networks"
    )
    parser.add_argument(
        "--compile",
        nargs="?",
        const="default",
        default=None,
        metavar="MODE",
        help="torch.compile the training forward + loss of both loops "
        "(MODE: default, reduce-overhead, max-autotune, ...)",
    )
    parser.add_argument(
        "--cudnn-benchmark",
        action="store_true",
        help="set torch.backends.cudnn.benchmark (cuDNN times its algorithms)",
    )
    parser.add_argument(
        "--training-only",
        action="store_true",
        help="skip inference and the full pipeline",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    batch_size = args.batch_size or (256 if gpu else 16)
    # on a GPU, time whole epochs (32 steps of 256), so that the per-epoch
    # costs (callbacks, the one loss synchronisation) count as in a real fit
    steps = args.steps or (CHUNKS_PER_EPOCH // batch_size if gpu else 3)
    halves = args.halves or (8 if gpu else 1)
    inference_batch = args.inference_batch_size or (1024 if gpu else batch_size)
    bf16 = gpu and not args.no_bf16
    compile_kwargs = None
    if args.compile is not None:
        compile_kwargs = {} if args.compile == "default" else {"mode": args.compile}
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    if args.networks is None:
        quick = ["unet-resnet-pca", "transformer-small"]
        args.networks = quick if args.quick else list(NETWORKS)
    name = torch.cuda.get_device_name(device) if gpu else platform.processor()
    print(
        f"# device: {device} ({name}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, batch {batch_size}, "
        f"timed steps {steps}, bf16 {bf16}, inference batch {inference_batch}, "
        f"compile {args.compile}, cudnn.benchmark {torch.backends.cudnn.benchmark}"
    )
    print(
        "| network | params | epoch no SAM ours / bare (s) | epoch SAM ours / bare (s) "
        "| ratio bare/ours (SAM) | inference ours / bare (chunks/s) | ratio "
        "| 1,000 epochs with SAM (h) | peak device memory (MiB) "
        "| first warm-up (compiles) ours / bare (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for net_name in args.networks:
        module, *_ = _module(net_name, torch.device("cpu"))
        params = count_parameters(module)
        del module
        row, warm = {}, {}
        if gpu:
            torch.cuda.reset_peak_memory_stats(device)
        for sam in (False, True):
            ours, warm_ours = our_training(
                net_name, device, batch_size, steps, sam, bf16, compile_kwargs
            )
            bare, warm_bare = bare_training(
                net_name, device, batch_size, steps, sam, bf16, compile_kwargs
            )
            row[sam], warm[sam] = (ours, bare), (warm_ours, warm_bare)
        if args.training_only:
            inference_cells = "- | -"
        else:
            bare_inf, ours_inf = inference(
                net_name, device, inference_batch, halves, bf16
            )
            inference_cells = (
                f"{ours_inf:,.0f} / {bare_inf:,.0f} | {ours_inf / bare_inf:.2f}"
            )
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if gpu else float("nan")
        print(
            f"| {net_name} | {params:,} | {row[False][0]:.2f} / {row[False][1]:.2f} "
            f"| {row[True][0]:.2f} / {row[True][1]:.2f} "
            f"| {row[True][1] / row[True][0]:.2f} | {inference_cells} "
            f"| {row[True][0] * 1000 / 3600:.2f} "
            f"| {peak:,.0f} | {warm[False][0]:.1f} / {warm[False][1]:.1f} |",
            flush=True,
        )
    if not args.training_only:
        seconds = pipeline_seconds_per_half(device, bf16)
        print(
            f"full pipeline (2 u-nets RN+PCA, displacement, NMS): {seconds:.2f} s "
            f"per 45-minute half"
        )
    peak_host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak host memory: {peak_host:,.0f} MiB")
    if gpu:
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        print(f"peak device memory: {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
