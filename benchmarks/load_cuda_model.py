"""Load on this (CPU-only) machine the spotter that ``gpu_smoke.py`` saved on a GPU.

``gpu_smoke.py`` fits a small spotter on CUDA, saves it in the safe format
(``cuda_spotter.safetensors``, what ``sk-spotting fit`` writes) and with
joblib as a scikit-learn user would (``cuda_spotter.joblib``), and writes the
arguments of the data it used, its predictions (``cuda_predictions.json``)
and its dense scores (``cuda_scores.npz``).  Run this after copying those
files from the GPU machine: it loads the model from each file present
without a GPU, predicts the same videos and compares.  The GPU autocast to
bfloat16 while the CPU predicts in float32, so the scores agree to bfloat16
precision, not bit for bit.

Usage::

    python benchmarks/load_cuda_model.py benchmarks/results/gpu
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

import joblib
import numpy as np
import torch

from sk_spotting import load_spotter
from sk_spotting.datasets import make_spotting_data

#: bfloat16 keeps 8 bits of mantissa: confidences in [0, 1] differ by up to a
#: few 1e-3 through a small network; anything near 0.1 means the wrong weights.
CONFIDENCE_TOLERANCE = 0.02


def _load_joblib(path):
    spotter = joblib.load(path)  # our own file: a pickle from elsewhere runs code
    return spotter.set_params(device="cpu")


#: file name -> how to load it on the CPU
LOADERS = {
    "cuda_spotter.safetensors": lambda path: load_spotter(path, device="cpu"),
    "cuda_spotter.joblib": _load_joblib,
}


def compare(spotter, saved, folder):
    """Largest CPU/GPU differences of the dense scores, and the event counts."""
    X, _ = make_spotting_data(**saved["data"])
    dense = spotter.predict_scores(X)
    scores = np.load(os.path.join(folder, "cuda_scores.npz"))
    worst = {"confidence": 0.0, "displacement": 0.0}
    for i, d in enumerate(dense):
        for name in worst:
            difference = np.abs(getattr(d, name) - scores[f"{name}_{i}"]).max()
            worst[name] = max(worst[name], float(difference))
    counts = [len(p) for p in spotter.predict(X)]
    return worst, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="where gpu_smoke.py wrote its files")
    args = parser.parse_args()
    if torch.cuda.is_available():
        print("note: this machine has a GPU; the check is meant for a CPU-only one")
    with open(os.path.join(args.folder, "cuda_predictions.json")) as f:
        saved = json.load(f)
    saved_counts = [len(p["time"]) for p in saved["predictions"]]
    results = []
    for name, load in LOADERS.items():
        path = os.path.join(args.folder, name)
        if not os.path.exists(path):
            print(f"{name}: not there (written by an older gpu_smoke.py?)")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spotter = load(path)
        device = next(spotter.confidence_net_.module_.parameters()).device
        worst, counts = compare(spotter, saved, args.folder)
        ok = worst["confidence"] < CONFIDENCE_TOLERANCE
        results.append(ok)
        print(
            f"{name}: a spotter fitted on {saved['device']} (torch "
            f"{saved['torch']}) loaded with torch {torch.__version__}, networks "
            f"on {device}, warnings "
            f"{sorted({type(w.message).__name__ for w in caught})}; largest "
            f"|CPU - GPU| difference: confidence {worst['confidence']:.2e}, "
            f"displacement {worst['displacement']:.2e} frames; events per video "
            f"CPU {counts} GPU {saved_counts}: {'PASS' if ok else 'FAIL'}"
        )
    ok = bool(results) and all(results)
    print("PASS" if ok else "FAIL", "the GPU-saved model predicts on the CPU")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
