"""Checks of the CUDA code paths, for the one GPU run (``benchmarks/gpu_check.sh``).

Each check prints ``PASS`` or ``FAIL`` with what it measured, and a failing
check does not stop the others.  It also writes, under ``--out``:

* ``cuda_spotter.safetensors`` and ``cuda_spotter.joblib``: a small
  DenseAnchorSpotter fitted on the GPU, saved in the safe format
  (``save_spotter``, what ``sk-spotting fit`` writes) and with joblib;
* ``cuda_predictions.json`` and ``cuda_scores.npz``: the data it was fitted
  on (generator arguments), its predictions and its dense scores on the GPU,
  so that ``benchmarks/load_cuda_model.py`` can load the model on a CPU-only
  machine and compare.

Usage::

    python benchmarks/gpu_smoke.py --out benchmarks/results/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import traceback

import joblib
import numpy as np
import torch

from sk_spotting import DenseAnchorSpotter, save_spotter
from sk_spotting.datasets import make_spotting_data
from sk_spotting.training import ChunkSampler

#: The pickled model's data and settings; load_cuda_model.py reads them
#: back from cuda_predictions.json.
DATA = {"n_videos": 3, "n_features": 16, "minutes": 4.0, "random_state": 7}
SPOTTER = {
    "chunk_duration": 16.0,
    "unet_levels": 2,
    "epochs": 10,
    "chunks_per_epoch": 256,
    "batch_size": 16,
    "random_state": 0,
}

RESULTS = []


def check(name):
    def wrap(fn):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                message = fn(*args, **kwargs)
                status = "PASS"
            except Exception:  # report every failure, go on with the next check
                message = traceback.format_exc()
                status = "FAIL"
            seconds = time.perf_counter() - start
            print(f"{status} {name} ({seconds:.1f} s): {message}", flush=True)
            RESULTS.append((name, status))

        return run

    return wrap


def _events(predictions):
    return [
        {
            "time": p["time"].tolist(),
            "label": p["label"].tolist(),
            "confidence": p["confidence"].tolist(),
        }
        for p in predictions
    ]


@check("fit/predict on CUDA (bf16 autocast), safe save and joblib dump")
def fit_predict_pickle(out):
    X, y = make_spotting_data(**DATA)
    spotter = DenseAnchorSpotter(**SPOTTER).fit(X[:2], y[:2])
    device = next(spotter.confidence_net_.module_.parameters()).device
    assert device.type == "cuda", device
    predictions = spotter.predict(X)
    dense = spotter.predict_scores(X)
    np.savez_compressed(
        os.path.join(out, "cuda_scores.npz"),
        **{f"confidence_{i}": d.confidence for i, d in enumerate(dense)},
        **{f"displacement_{i}": d.displacement for i, d in enumerate(dense)},
    )
    loose = spotter.score(X[2:], y[2:])
    save_spotter(spotter, os.path.join(out, "cuda_spotter.safetensors"))
    path = os.path.join(out, "cuda_spotter.joblib")
    joblib.dump(spotter, path)
    with open(os.path.join(out, "cuda_predictions.json"), "w") as f:
        json.dump(
            {
                "data": DATA,
                "spotter": SPOTTER,
                "torch": torch.__version__,
                "device": torch.cuda.get_device_name(),
                "predictions": _events(predictions),
            },
            f,
        )
    return (
        f"module on {device}, {sum(len(p) for p in predictions)} events, "
        f"test loose average-mAP {loose:.4f}, saved {os.path.getsize(path):,} bytes"
    )


@check("same random_state twice on CUDA")
def determinism():
    X, y = make_spotting_data(**DATA)
    a = DenseAnchorSpotter(**SPOTTER).fit(X[:2], y[:2]).predict_scores(X[2:])
    b = DenseAnchorSpotter(**SPOTTER).fit(X[:2], y[:2]).predict_scores(X[2:])
    diff = max(float(np.max(np.abs(p.confidence - q.confidence))) for p, q in zip(a, b))
    return f"max |confidence difference| {diff:.3g} (bit-identical: {diff == 0.0})"


@check("CUDA float32 against CPU float32, same random_state")
def cuda_vs_cpu():
    X, y = make_spotting_data(**DATA)
    scores = {}
    for device in ("cuda", "cpu"):
        spotter = DenseAnchorSpotter(**SPOTTER, device=device, precision="float32")
        spotter.fit(X[:2], y[:2])
        scores[device] = (
            spotter.score(X[2:], y[2:]),
            spotter.predict_scores(X[2:])[0].confidence,
        )
    diff = float(np.max(np.abs(scores["cuda"][1] - scores["cpu"][1])))
    return (
        f"loose average-mAP cuda {scores['cuda'][0]:.4f} cpu {scores['cpu'][0]:.4f}; "
        f"max |confidence difference| {diff:.3g} (different random streams on the "
        f"two devices, so not expected to match)"
    )


@check("Transformer trunk with SAM and mixup on CUDA (bf16)")
def transformer():
    X, y = make_spotting_data(**DATA)
    spotter = DenseAnchorSpotter(
        **{**SPOTTER, "unet_levels": None},
        trunk="transformer",
        transformer_size="small",
        sam_rho=0.5,
        mixup_alpha=2.0,
    ).fit(X[:2], y[:2])
    return f"loose average-mAP {spotter.score(X[2:], y[2:]):.4f}"


@check("validation, best weights and checkpoints on CUDA, then resume")
def validation_and_resume():
    X, y = make_spotting_data(**DATA)
    with tempfile.TemporaryDirectory() as directory:
        params = {**SPOTTER, "validation_interval": 1, "checkpoint_dir": directory}
        first = DenseAnchorSpotter(**params).fit(
            X[:2], y[:2], X_valid=X[2:], y_valid=y[2:]
        )
        again = DenseAnchorSpotter(**params).fit(
            X[:2], y[:2], X_valid=X[2:], y_valid=y[2:], resume=True
        )
        a = first.predict_scores(X[2:])[0].confidence
        b = again.predict_scores(X[2:])[0].confidence
        files = sorted(os.listdir(directory))
        return f"checkpoints {files}; resumed equal: {np.array_equal(a, b)}"


@check(
    "ChunkSampler: pinned host storage (prefetched) gathers what device storage does"
)
def host_storage():
    rng = np.random.default_rng(0)
    # a 30-frame video is shorter than a chunk: padded batches
    videos = [rng.standard_normal((n, 8), dtype=np.float32) for n in (500, 400, 30)]
    masks = [rng.random((v.shape[0], 4)) < 0.3 for v in videos]
    class_weights = (np.float32([4, 3, 2, 1]), np.float32([0.5, 0.5, 0.25, 0]))
    results = []
    for dtype in (torch.float32, torch.bfloat16):
        for mixup_like in (False, True):  # random draws between batches or not
            batches = {}
            for storage in ("device", "host"):
                torch.manual_seed(0)
                sampler = ChunkSampler(
                    videos,
                    masks,
                    masks,
                    class_weights=class_weights,
                    chunk_frames=40,
                    batch_size=8,
                    chunks_per_epoch=32,
                    device="cuda",
                    feature_dtype=dtype,
                    storage=storage,
                )
                assert sampler.store.location == storage
                batches[storage] = []
                for batch in sampler:
                    batches[storage].append(tuple(t.cpu() for t in batch))
                    if mixup_like:
                        torch.rand(4, device="cuda")
            same = all(
                torch.equal(p, q)
                for a, b in zip(batches["device"], batches["host"])
                for p, q in zip(a, b)
            )
            assert same, f"host and device storage differ ({dtype}, {mixup_like})"
            results.append(f"{dtype} draws between: {mixup_like}")
    return "identical batches: " + "; ".join(results)


@check("compile=True (inductor) on CUDA against the eager fit")
def compiled():
    X, y = make_spotting_data(**DATA)
    eager = DenseAnchorSpotter(**SPOTTER).fit(X[:2], y[:2])
    start = time.perf_counter()
    spotter = DenseAnchorSpotter(**SPOTTER, compile=True).fit(X[:2], y[:2])
    seconds = time.perf_counter() - start
    module = spotter.confidence_net_.module_
    assert not isinstance(module, torch._dynamo.eval_frame.OptimizedModule)
    a, b = eager.predict_scores(X[2:])[0], spotter.predict_scores(X[2:])[0]
    difference = np.abs(a.confidence - b.confidence).max()
    return (
        f"compiled fit {seconds:.1f} s; loose average-mAP eager "
        f"{eager.score(X[2:], y[2:]):.4f} compiled {spotter.score(X[2:], y[2:]):.4f}; "
        f"max |confidence difference| {difference:.3g} (bf16 kernels fused in "
        f"another order: not expected to be 0)"
    )


@check("soft-NMS prediction on CUDA")
def soft_nms():
    X, y = make_spotting_data(**DATA)
    spotter = DenseAnchorSpotter(**SPOTTER, nms="soft").fit(X[:2], y[:2])
    return f"loose average-mAP {spotter.score(X[2:], y[2:]):.4f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/gpu")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    assert torch.cuda.is_available(), "no CUDA device"
    print(
        f"# {torch.cuda.get_device_name()}, torch {torch.__version__}, "
        f"CUDA {torch.version.cuda}, bf16 supported {torch.cuda.is_bf16_supported()}",
        flush=True,
    )
    fit_predict_pickle(args.out)
    determinism()
    cuda_vs_cpu()
    transformer()
    validation_and_resume()
    host_storage()
    soft_nms()
    compiled()
    failed = [name for name, status in RESULTS if status == "FAIL"]
    print(f"# {len(RESULTS) - len(failed)} passed, {len(failed)} failed", flush=True)


if __name__ == "__main__":
    main()
