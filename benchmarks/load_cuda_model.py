"""Load on this (CPU-only) machine the spotter that ``gpu_smoke.py`` saved on a GPU.

``gpu_smoke.py`` fits a small spotter on CUDA, saves it with joblib as a user
would (``cuda_spotter.joblib``), and writes the arguments of the data it used,
its predictions (``cuda_predictions.json``) and its dense scores
(``cuda_scores.npz``).  Run this after copying those three files from the GPU
machine: it loads the model without a GPU, predicts the same videos and
compares.  The GPU autocast to bfloat16 while the CPU predicts in float32, so
the scores agree to bfloat16 precision, not bit for bit.

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

from sk_spotting.datasets import make_spotting_data

#: bfloat16 keeps 8 bits of mantissa: confidences in [0, 1] differ by up to a
#: few 1e-3 through a small network; anything near 0.1 means the wrong weights.
CONFIDENCE_TOLERANCE = 0.02


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="where gpu_smoke.py wrote its files")
    args = parser.parse_args()
    if torch.cuda.is_available():
        print("note: this machine has a GPU; the check is meant for a CPU-only one")
    with open(os.path.join(args.folder, "cuda_predictions.json")) as f:
        saved = json.load(f)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spotter = joblib.load(os.path.join(args.folder, "cuda_spotter.joblib"))
    device = next(spotter.confidence_net_.module_.parameters()).device
    print(
        f"loaded a spotter fitted on {saved['device']} (torch {saved['torch']}) "
        f"with torch {torch.__version__}; its networks are on {device}; "
        f"warnings: {sorted({type(w.message).__name__ for w in caught})}"
    )
    spotter.set_params(device="cpu")
    X, _ = make_spotting_data(**saved["data"])
    dense = spotter.predict_scores(X)
    scores = np.load(os.path.join(args.folder, "cuda_scores.npz"))
    worst = {"confidence": 0.0, "displacement": 0.0}
    for i, d in enumerate(dense):
        for name in worst:
            difference = np.abs(getattr(d, name) - scores[f"{name}_{i}"]).max()
            worst[name] = max(worst[name], float(difference))
    predictions = spotter.predict(X)
    counts = [len(p) for p in predictions]
    saved_counts = [len(p["time"]) for p in saved["predictions"]]
    print(
        f"largest |CPU - GPU| difference: confidence {worst['confidence']:.2e}, "
        f"displacement {worst['displacement']:.2e} frames; events per video "
        f"CPU {counts} GPU {saved_counts}"
    )
    ok = worst["confidence"] < CONFIDENCE_TOLERANCE
    print("PASS" if ok else "FAIL", "the GPU-saved model predicts on the CPU")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
